package attack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// pemOf is a certificate as PEM.
func pemOf(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// otherCA is a CA that signed nothing the tests serve.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "some other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// seen is what a TLS server saw of the load's requests.
type seen struct {
	mu    sync.Mutex
	hosts map[string]int // request Host
	snis  map[string]int // TLS server name (SNI)
}

// tlsServer is an httptest TLS server (its certificate is valid for
// example.com and 127.0.0.1) recording each request's Host and SNI.
func tlsServer(t *testing.T) (*httptest.Server, *seen) {
	t.Helper()
	s := &seen{hosts: map[string]int{}, snis: map[string]int{}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hosts[r.Host]++
		s.snis[r.TLS.ServerName]++
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

// runUntil runs cfg's load until n requests have completed (or 10s).
func runUntil(t *testing.T, cfg Config, n int) *Result {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	a.Start(t.Context())
	deadline := time.Now().Add(10 * time.Second)
	for a.Snapshot().Requests < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return a.Stop()
}

func TestLoadVerifiesTheTargetWithItsTLSSettings(t *testing.T) {
	srv, _ := tlsServer(t)
	ca := pemOf(srv.Certificate())
	cases := []struct {
		name   string
		tls    TLS
		passes bool
	}{
		{"the system's roots do not trust the test CA", TLS{}, false},
		{"the target's CA makes every request pass", TLS{CA: ca}, true},
		{"another CA fails every request", TLS{CA: otherCA(t)}, false},
		{"a server name the certificate has passes", TLS{CA: ca, ServerName: "example.com"}, true},
		{"a server name the certificate lacks fails", TLS{CA: ca, ServerName: "web.example.internal"}, false},
		{"insecure passes without a CA", TLS{Insecure: true}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runUntil(t, Config{Targets: targets(srv.URL, "/"), Rate: Rate{50, time.Second}, KeepAlive: true, TLS: tc.tls}, 5)
			if res.Requests == 0 {
				t.Fatal("no request completed")
			}
			if tc.passes && res.Failures != 0 {
				t.Errorf("%d of %d requests failed, want none: %v", res.Failures, res.Requests, res.FailureList[0].Error)
			}
			if !tc.passes && res.Failures != res.Requests {
				t.Errorf("%d of %d requests failed, want all", res.Failures, res.Requests)
			}
		})
	}
}

// A Host header given with -H is the request's Host at the server, and the
// server name is the SNI: the two are separate, as an ingress needs.
func TestHostHeaderAndServerNameReachTheFront(t *testing.T) {
	srv, s := tlsServer(t)
	tg := targets(srv.URL, "/")
	tg[0].Header = http.Header{"Host": {"shop.example.com"}}
	res := runUntil(t, Config{Targets: tg, Rate: Rate{50, time.Second}, KeepAlive: true,
		TLS: TLS{CA: pemOf(srv.Certificate()), ServerName: "example.com"}}, 5)
	if res.Requests == 0 || res.Failures != 0 {
		t.Fatalf("%d of %d requests failed", res.Failures, res.Requests)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hosts) != 1 || s.hosts["shop.example.com"] == 0 {
		t.Errorf("the server saw Host %v, want only shop.example.com", s.hosts)
	}
	if len(s.snis) != 1 || s.snis["example.com"] == 0 {
		t.Errorf("the server saw SNI %v, want only example.com", s.snis)
	}
}

func TestProbeTLSNamesTheTargetAndTheFix(t *testing.T) {
	srv, _ := tlsServer(t)
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	ca := pemOf(srv.Certificate())
	https := targets(srv.URL, "/")
	cases := []struct {
		name    string
		targets []Target
		tls     TLS
		want    []string // in the error; none: no error
	}{
		{"the right CA passes", https, TLS{CA: ca}, nil},
		{"insecure passes", https, TLS{Insecure: true}, nil},
		{"a right server name passes", https, TLS{CA: ca, ServerName: "example.com"}, nil},
		{"no CA names --target-ca", https, TLS{}, []string{srv.URL, "unknown authority", "pass --target-ca", "--target-server-name"}},
		{"a wrong CA says it did not sign the certificate", https, TLS{CA: otherCA(t)}, []string{srv.URL, "unknown authority", "not signed by a CA in --target-ca"}},
		{"a wrong name names --target-server-name", https, TLS{CA: ca, ServerName: "web.example.internal"}, []string{"web.example.internal", "pass --target-server-name"}},
		{"an http port behind https:// says so", targets(strings.Replace(plain.URL, "http:", "https:", 1), "/"), TLS{}, []string{"does not speak TLS"}},
		{"an http target is not probed", targets(plain.URL, "/"), TLS{}, nil},
		{"an unreachable target is left to the baseline", targets("https://127.0.0.1:1", "/"), TLS{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ProbeTLS(t.Context(), tc.targets, tc.tls, 5*time.Second)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("ProbeTLS = %v, want nil", err)
				}
				return
			}
			var ce *CertError
			if !errors.As(err, &ce) {
				t.Fatalf("ProbeTLS = %v, want a *CertError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseCARefusesWhatIsNotACertificate(t *testing.T) {
	key := "-----BEGIN PRIVATE KEY-----\nTUlJQ2VjcmV0a2V5bWF0ZXJpYWw=\n-----END PRIVATE KEY-----\n"
	cases := []struct {
		name, data, want string
	}{
		{"an empty file", "", "no PEM certificate"},
		{"garbage", "hello, not a certificate\n", "not a PEM certificate bundle"},
		{"a private key, its content not repeated", key, "PRIVATE KEY, not a CERTIFICATE"},
		{"a broken certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCA([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseCA = %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "TUlJQ2Vj") {
				t.Errorf("the error repeats the file's content: %v", err)
			}
		})
	}
	bundle := append(otherCA(t), otherCA(t)...)
	if _, err := ParseCA(bundle); err != nil {
		t.Errorf("a bundle of two CAs: %v", err)
	}
	if _, err := New(Config{Targets: targets("https://127.0.0.1:1", "/"), Rate: Rate{1, time.Second},
		TLS: TLS{CA: bundle, Insecure: true}}); err == nil || !strings.Contains(err.Error(), "exclusive") {
		t.Errorf("New with a CA and insecure = %v, want them refused together", err)
	}
}
