package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// tlsFront is the lab's TLS front for default/demo, from lab.json: the
// load balancer's HTTPS listener and the lab's front CA that signed its
// certificate (for 127.0.0.1 and *.rollcheck-lab.test).
func tlsFront(t *testing.T) (url, ca string) {
	t.Helper()
	var info struct {
		LBTLS   map[string]string `json:"lb_tls"`
		FrontCA string            `json:"front_ca"`
	}
	data, err := os.ReadFile(filepath.Join(lab.dir, "lab.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &info); err != nil {
		t.Fatalf("lab.json: %v", err)
	}
	url = info.LBTLS["default/demo"]
	if !strings.HasPrefix(url, "https://127.0.0.1:") || info.FrontCA == "" {
		t.Fatalf("lab.json has no TLS front on 127.0.0.1 for default/demo (lb_tls %v, front_ca %q)", info.LBTLS, info.FrontCA)
	}
	return url, info.FrontCA
}

// otherCA writes a CA that signed nothing in the lab, as PEM, into a file.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "not the lab's front CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// demoPods are the names of deployment/demo's pods, sorted.
func demoPods(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, p := range demoPodList(t) {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

// TestTLSFrontWithTargetCA runs the to-be Deployment through the lab's TLS
// front (issue 26): a CA that did not sign the front's certificate exits 2
// with the clear error before anything in the cluster changed;
// --target-insecure loads it and the report says so; attacker pods get the
// same settings; --target-ca with the lab's front CA, and the SNI and Host
// of a name the certificate has, passes a restart with no failed request.
func TestTLSFrontWithTargetCA(t *testing.T) {
	needLab(t)
	url, ca := tlsFront(t)
	kubectlApply(t, manifest(t, "to-be.yaml"))
	waitSteady(t)
	short := []string{"--baseline", "3s", "--settle", "2s", "--rate", "100/s", "--pod-header", "X-Pod-Name,X-Lab-Target"}

	t.Run("a wrong CA exits 2 before anything in the cluster changed", func(t *testing.T) {
		gen, pods := demoGeneration(t), demoPods(t)
		r := rollcheck(t, append([]string{"deployment/demo", "--restart", "--target", url + "/", "--target-ca", otherCA(t)}, short...)...)
		if r.code != exitcode.Usage || r.wrote {
			t.Fatalf("exit %d (report written: %v), want %d and no report\n%s", r.code, r.wrote, exitcode.Usage, r.stderr)
		}
		t.Logf("stderr: %s", r.stderr)
		for _, want := range []string{"target " + url + "/", "certificate signed by unknown authority", "pass the CA that signed it, or --target-server-name"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		if got := demoGeneration(t); got != gen {
			t.Errorf("deployment generation %d → %d: the rollout was triggered", gen, got)
		}
		if got := demoPods(t); !slices.Equal(got, pods) {
			t.Errorf("pods %v → %v: something changed", pods, got)
		}
	})

	t.Run("--target-insecure loads the front and says so", func(t *testing.T) {
		// --watch-only with no rollout: the load runs its baseline and
		// the wait, nothing in the cluster changes, and the report is
		// INCONCLUSIVE (no rollout seen) with every request answered.
		r := rollcheck(t, append([]string{"deployment/demo", "--watch-only", "--watch-timeout", "1s", "--target", url + "/", "--target-insecure"}, short...)...)
		if r.code != exitcode.Inconclusive || !r.wrote {
			t.Fatalf("exit %d, want %d with a report\n%s", r.code, exitcode.Inconclusive, r.stderr)
		}
		if r.report.Load.Requests == 0 || r.report.Load.Failures != 0 {
			t.Errorf("%d of %d requests failed, want some requests and none failed", r.report.Load.Failures, r.report.Load.Requests)
		}
		if !slices.Contains(r.report.Reasons, report.InsecureReason) || !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), report.InsecureReason) {
			t.Errorf("the report's reasons %q (and its text, wrapped to its width) lack the insecure warning", r.report.Reasons)
		}
		if tls := r.report.Load.TLS; tls == nil || tls.Verified {
			t.Errorf("load.tls %+v, want verified false", tls)
		}
		if !strings.Contains(r.stderr, "Warning: --target-insecure") {
			t.Errorf("no warning on stderr:\n%s", r.stderr)
		}
	})

	const name = "demo.rollcheck-lab.test" // in the front's certificate; resolved by nobody

	t.Run("attacker pods verify with the same CA and name", func(t *testing.T) {
		// The CA reaches the pod through the run's Secret and its
		// environment: were it lost, every request would fail.
		r := rollcheck(t, append([]string{"deployment/demo", "--watch-only", "--watch-timeout", "1s", "--target", url + "/", "--target-ca", ca,
			"--target-server-name", name, "--attackers", "1"}, short...)...)
		if r.code != exitcode.Inconclusive || !r.wrote {
			t.Fatalf("exit %d, want %d with a report\n%s", r.code, exitcode.Inconclusive, r.stderr)
		}
		if len(r.report.Attackers) != 1 || r.report.Load.Requests == 0 || r.report.Load.Failures != 0 {
			t.Errorf("%d attackers, %d of %d requests failed; want one attacker and no failure", len(r.report.Attackers), r.report.Load.Failures, r.report.Load.Requests)
		}
		waitNoAttackers(t, 30*time.Second)
	})

	t.Run("--target-ca with the front's CA passes a restart", func(t *testing.T) {
		r := rollcheck(t, append([]string{"deployment/demo", "--restart", "--target", url + "/", "--target-ca", ca,
			"--target-server-name", name, "-H", "Host: " + name}, short...)...)
		if r.code != exitcode.Pass || r.report.Verdict != report.Pass {
			t.Fatalf("exit %d verdict %q (%v), want 0 PASS\n%s", r.code, r.report.Verdict, r.report.Reasons, r.stderr)
		}
		if r.report.Load.Requests < 500 || r.report.Load.Failures != 0 {
			t.Errorf("%d of %d requests failed, want none of at least 500", r.report.Load.Failures, r.report.Load.Requests)
		}
		if tls := r.report.Load.TLS; tls == nil || !tls.Verified || !tls.CustomCA || tls.ServerName != name {
			t.Errorf("load.tls %+v, want verified with the given CA for %s", tls, name)
		}
		if slices.Contains(r.report.Reasons, report.InsecureReason) {
			t.Errorf("reasons %q carry the insecure warning", r.report.Reasons)
		}
	})
}
