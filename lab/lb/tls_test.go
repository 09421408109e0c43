package lb

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir and returns their paths and the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "front"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"web.example.internal"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "front.crt"), filepath.Join(dir, "front.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// TestTLSFrontSharesTheTargetGroup: --service and --tls-service of one
// Service are two listeners, plain and HTTPS, of one target group; TLS
// ends at the balancer, and the request's Host (and the SNI's name)
// reach the target as the client sent them.
func TestTLSFrontSharesTheTargetGroup(t *testing.T) {
	certFile, keyFile, cert := selfSigned(t, t.TempDir())
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pod-Name", "web-a")
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-Proto", r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(backend.Close)
	_, port, _ := net.SplitHostPort(backend.Listener.Addr().String())
	client := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-a", Annotations: map[string]string{PortsAnnotation: `{"8080": ` + port + `}`}}},
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "web-x", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"198.51.100.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-a"}}},
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
		},
	)
	plain, secure, admin := freeAddr(t), freeAddr(t), freeAddr(t)
	serveCommand(t, client, "--service", "default/web="+plain, "--tls-service", "default/web="+secure,
		"--tls-cert", certFile, "--tls-key", keyFile, "--admin", admin)

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	https := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "web.example.internal"}}}
	var resp *http.Response
	waitFor(t, 5*time.Second, "200 from web-a through the HTTPS listener", func() bool {
		req, _ := http.NewRequest(http.MethodGet, "https://"+secure+"/", nil)
		req.Host = "shop.example.com"
		r, err := https.Do(req)
		if err != nil {
			return false
		}
		r.Body.Close()
		resp = r
		return r.StatusCode == http.StatusOK
	})
	if resp.TLS == nil || resp.Header.Get("X-Seen-Host") != "shop.example.com" || resp.Header.Get("X-Seen-Proto") != "https" {
		t.Errorf("through TLS the target saw Host %q, proto %q; want shop.example.com over https", resp.Header.Get("X-Seen-Host"), resp.Header.Get("X-Seen-Proto"))
	}
	if _, err := (&http.Client{Timeout: 2 * time.Second}).Get("https://" + secure + "/"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client without the CA: %v, want a certificate error", err)
	}
	r, err := http.Get("http://" + plain + "/")
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("the plain listener: %v %v", r, err)
	}
	r.Body.Close()
	r, err = http.Get("http://" + admin + "/targets")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	data, _ := io.ReadAll(r.Body)
	var targets []TargetStatus
	if err := json.Unmarshal(data, &targets); err != nil || len(targets) != 1 {
		t.Errorf("/targets %s (%v), want the one target once: one target group behind both listeners", data, err)
	}
}

func TestTLSFrontFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a TLS front without a certificate is refused", []string{"--tls-service", "default/web=127.0.0.1:8443"}, "--tls-service, --tls-cert and --tls-key go together"},
		{"a certificate without a key is refused", []string{"--service", "default/web=127.0.0.1:8080", "--tls-cert", "c.pem"}, "go together"},
		{"a TLS front on a plain front's address is refused", []string{"--service", "default/web=127.0.0.1:8080", "--tls-service", "default/web=127.0.0.1:8080", "--tls-cert", "c", "--tls-key", "k"}, "127.0.0.1:8080 is given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseCommand(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
		})
	}
	o, err := parseCommand(t, "--tls-service", "default/web="+freeAddr(t), "--tls-cert", "/nonexistent.crt", "--tls-key", "/nonexistent.key")
	if err != nil {
		t.Fatal(err)
	}
	if err := o.serve(context.Background(), fake.NewClientset()); err == nil || !strings.Contains(err.Error(), "--tls-cert") {
		t.Errorf("serve with a missing certificate: %v, want an error naming --tls-cert", err)
	}
}
