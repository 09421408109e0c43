package cluster

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

func TestEnsurePKI(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	p, err := ensurePKI(dir, now)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the serving certificate is valid for 127.0.0.1 and the kubernetes Service names", func(t *testing.T) {
		roots := x509.NewCertPool()
		roots.AddCert(readCert(t, p.path(caCertFile)))
		cert := readCert(t, p.path(servingCertFile))
		for _, name := range []string{"127.0.0.1", "localhost", "kubernetes.default.svc"} {
			if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: now}); err != nil {
				t.Errorf("verify for %s: %v", name, err)
			}
		}
	})

	t.Run("the TLS front's certificate is its own CA's, for 127.0.0.1 and the .test names", func(t *testing.T) {
		front, cluster := x509.NewCertPool(), x509.NewCertPool()
		front.AddCert(readCert(t, p.path(FrontCAFile)))
		cluster.AddCert(readCert(t, p.path(caCertFile)))
		cert := readCert(t, p.path(frontCertFile))
		for _, name := range []string{"127.0.0.1", "localhost", "demo.rollcheck-lab.test"} {
			if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: front, CurrentTime: now}); err != nil {
				t.Errorf("verify for %s: %v", name, err)
			}
		}
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: cluster, CurrentTime: now}); err == nil {
			t.Error("the cluster's CA verifies the front's certificate; want them apart")
		}
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: "demo.example.com", Roots: front, CurrentTime: now}); err == nil {
			t.Error("the front's certificate is valid for demo.example.com")
		}
	})

	t.Run("the token file gives the admin token to system:masters", func(t *testing.T) {
		data, err := os.ReadFile(p.path(tokenFile))
		if err != nil {
			t.Fatal(err)
		}
		want := p.adminToken + `,admin,admin,"system:masters"`
		if got := strings.TrimSpace(string(data)); got != want {
			t.Errorf("token file = %q, want %q", got, want)
		}
		if len(p.adminToken) < 32 {
			t.Errorf("admin token %q is too short", p.adminToken)
		}
	})

	t.Run("the service-account key pair parses", func(t *testing.T) {
		if _, err := loadKey(p.path(saKeyFile)); err != nil {
			t.Error(err)
		}
		data, err := os.ReadFile(p.path(saPubFile))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(data)
		if blk == nil {
			t.Fatal("no PEM in sa.pub")
		}
		if _, err := x509.ParsePKIXPublicKey(blk.Bytes); err != nil {
			t.Error(err)
		}
	})

	t.Run("the kubeconfig points at the server with the CA and the admin token", func(t *testing.T) {
		if err := p.writeKubeconfig("https://127.0.0.1:6443"); err != nil {
			t.Fatal(err)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, kubeconfigFile))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Host != "https://127.0.0.1:6443" {
			t.Errorf("host = %q", cfg.Host)
		}
		if cfg.BearerToken != p.adminToken {
			t.Errorf("token = %q, want %q", cfg.BearerToken, p.adminToken)
		}
		ca, _ := os.ReadFile(p.path(caCertFile))
		if !bytes.Equal(cfg.CAData, ca) {
			t.Error("kubeconfig CA data differs from ca.crt")
		}
		raw, err := clientcmd.LoadFromFile(filepath.Join(dir, kubeconfigFile))
		if err != nil {
			t.Fatal(err)
		}
		if ns := raw.Contexts[raw.CurrentContext].Namespace; ns != "default" {
			t.Errorf("namespace = %q, want default", ns)
		}
	})

	t.Run("a second run reuses the credentials", func(t *testing.T) {
		ca1, _ := os.ReadFile(p.path(caCertFile))
		p2, err := ensurePKI(dir, now)
		if err != nil {
			t.Fatal(err)
		}
		ca2, _ := os.ReadFile(p.path(caCertFile))
		if p2.adminToken != p.adminToken || !bytes.Equal(ca1, ca2) {
			t.Error("credentials were regenerated")
		}
	})

	t.Run("a new CA brings a new serving certificate", func(t *testing.T) {
		if err := os.Remove(p.path(caKeyFile)); err != nil {
			t.Fatal(err)
		}
		if _, err := ensurePKI(dir, now); err != nil {
			t.Fatal(err)
		}
		if err := readCert(t, p.path(servingCertFile)).CheckSignatureFrom(readCert(t, p.path(caCertFile))); err != nil {
			t.Error(err)
		}
	})
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
