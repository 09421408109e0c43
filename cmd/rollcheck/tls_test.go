package main

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/rollcheck/rollcheck/attackers"
	"github.com/rollcheck/rollcheck/exitcode"
)

// writeFile0 writes data to a new file in dir and returns its path.
func writeFile0(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTargetTLSFlagsCheckedBeforeTouchingTheCluster(t *testing.T) {
	dir := t.TempDir()
	garbage := writeFile0(t, dir, "garbage.pem", []byte("not a certificate at all\n"))
	key := writeFile0(t, dir, "key.pem", []byte("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"))
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	srv.Close()
	one := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	big := writeFile0(t, dir, "big.pem", []byte(strings.Repeat(string(one), attackers.MaxTargetCA/len(one)+1)))
	https := []string{"run", "deployment/web", "--restart", "--target", "https://127.0.0.1:1/"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a missing CA file is named", append(https, "--target-ca", filepath.Join(dir, "gone.pem")), "--target-ca: open " + filepath.Join(dir, "gone.pem")},
		{"a CA file of garbage is named", append(https, "--target-ca", garbage), "--target-ca " + garbage + ": not a PEM certificate bundle"},
		{"a private key for a CA is refused without its content", append(https, "--target-ca", key), "is a PRIVATE KEY, not a CERTIFICATE"},
		{"a CA and insecure are refused together", append(https, "--target-ca", garbage, "--target-insecure"), "--target-insecure and --target-ca are exclusive"},
		{"TLS settings without an https target are refused", []string{"run", "web", "--restart", "--target", "http://127.0.0.1:1/", "--target-insecure"}, "no target is https://"},
		{"a server name with a port is refused", append(https, "--target-server-name", "web.example.internal:443"), "want a host name"},
		{"a CA too big for attacker pods is refused", append(https, "--target-ca", big, "--attackers", "2"), "at most 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stderr, ran := execute(t, nil, tt.args...)
			if code != exitcode.Usage || ran {
				t.Errorf("exit %d (ran: %v), want %d before the run; stderr:\n%s", code, ran, exitcode.Usage, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not name %q:\n%s", tt.want, stderr)
			}
			if strings.Contains(stderr, "c2VjcmV0") {
				t.Errorf("stderr repeats the key file's content:\n%s", stderr)
			}
		})
	}
}

// A target whose certificate the given CA did not sign exits 2 naming the
// target and the flags, before the load and with nothing patched.
func TestWrongTargetCAExitsTwoBeforeAnyPatch(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	right := writeFile0(t, t.TempDir(), "right.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	base := []string{"run", "-n", "default", "web", "--restart", "--target", srv.URL + "/", "--baseline", "0s", "--settle", "0s"}
	for _, tc := range []struct {
		name  string
		extra []string
		want  string
	}{
		{"without a CA", nil, "certificate signed by unknown authority; pass --target-ca with the CA that signed it, or --target-server-name"},
		{"with a name the certificate lacks", []string{"--target-ca", right, "--target-server-name", "web.example.internal"}, "pass --target-server-name with a name the certificate is valid for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(deployment())
			allowAll(client, "")
			code, stderr, _ := execute(t, client, append(append([]string{}, base...), tc.extra...)...)
			if code != exitcode.Usage {
				t.Errorf("exit %d, want %d:\n%s", code, exitcode.Usage, stderr)
			}
			for _, want := range []string{"Error: target " + srv.URL + "/: ", tc.want} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if patched(client) {
				t.Error("something was patched")
			}
		})
	}
}

// An attacker pod gets --target-ca's bundle from its environment.
func TestAttackReadsTheTargetCAFromItsEnvironment(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	t.Setenv(attackers.TargetCAEnv, string(ca))
	code, _, stderr, opts := executeAttack(t, context.Background(), false, nil, "--duration", "1s", "--target-server-name", "example.com", srv.URL+"/")
	if code != exitcode.Pass || opts == nil {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if tls := opts.Config.Attack.TLS; string(tls.CA) != string(ca) || tls.ServerName != "example.com" {
		t.Errorf("TLS settings %+v, want the environment's CA and the server name", tls)
	}
}
