package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Names of the files the lab keeps in its directory. They are generated once
// and reused by later runs, so a kubeconfig copied elsewhere keeps working
// across restarts of the lab (only the port may change).
const (
	caCertFile      = "ca.crt"
	caKeyFile       = "ca.key"
	servingCertFile = "apiserver.crt"
	servingKeyFile  = "apiserver.key"
	// The API server's client certificate for the kubelet API (logs,
	// exec, port-forward); the process kubelet, which listens on the
	// host's 127.0.0.1, accepts no other client.
	kubeletClientCertFile = "apiserver-kubelet-client.crt"
	kubeletClientKeyFile  = "apiserver-kubelet-client.key"
	// The TLS front's own CA (not the cluster's: what rollcheck's
	// --target-ca takes is the front's, never the API server's) and the
	// certificate of the load balancer's HTTPS listeners.
	FrontCAFile    = "front-ca.crt"
	frontCAKeyFile = "front-ca.key"
	frontCertFile  = "front.crt"
	frontKeyFile   = "front.key"
	saKeyFile      = "sa.key"
	saPubFile      = "sa.pub"
	tokenFile      = "tokens.csv"
	kubeconfigFile = "kubeconfig"

	adminUser  = "admin"
	adminGroup = "system:masters"
)

// servingIPs are the addresses the API server certificate is valid for.
// 10.96.0.1 is the ClusterIP of the kubernetes Service in the lab's
// --service-cluster-ip-range; it is a name only and never dialed.
var servingIPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 96, 0, 1)}

// FrontDNSNames are the names the TLS front's certificate is valid for,
// besides 127.0.0.1: a name of the reserved .test domain for each
// Service (NAME.rollcheck-lab.test), for --target-server-name, which no
// resolver answers.
var FrontDNSNames = []string{"localhost", "*.rollcheck-lab.test"}

var servingDNSNames = []string{
	"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
	"kubernetes.default.svc.cluster.local",
}

// pki is the lab's credentials: one CA that signs the API server's serving
// certificate, the service-account token signing key and the admin token.
type pki struct {
	dir        string
	adminToken string
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

// ensurePKI loads the credentials in dir, generating whatever is missing or
// unusable.
func ensurePKI(dir string, now time.Time) (*pki, error) {
	p := &pki{dir: dir}
	ca, caKey, err := p.ensureCA(caCertFile, caKeyFile, "rollcheck-lab-ca", now)
	if err != nil {
		return nil, err
	}
	if err := p.ensureFront(now); err != nil {
		return nil, err
	}
	if err := p.ensureServing(ca, caKey, now); err != nil {
		return nil, err
	}
	if err := p.ensureKubeletClient(ca, caKey, now); err != nil {
		return nil, err
	}
	if err := p.ensureSAKey(); err != nil {
		return nil, err
	}
	if p.adminToken, err = p.ensureTokens(); err != nil {
		return nil, err
	}
	return p, nil
}

// ensureCA keeps the CA in certFile and keyFile while it is valid for more
// than a day, else makes a new one named cn. The certificates it signed
// are made again by ensureLeaf, which checks their signature.
func (p *pki) ensureCA(certFile, keyFile, cn string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	if cert, key, err := loadCertKey(p.path(certFile), p.path(keyFile)); err == nil && now.Before(cert.NotAfter.Add(-24*time.Hour)) {
		return cert, key, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	if err := writeCertKey(p.path(certFile), p.path(keyFile), der, key); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// ensureFront makes the TLS front's CA and its certificate for 127.0.0.1
// and FrontDNSNames, which the load balancer's HTTPS listeners serve.
func (p *pki) ensureFront(now time.Time) error {
	ca, caKey, err := p.ensureCA(FrontCAFile, frontCAKeyFile, "rollcheck-lab-front-ca", now)
	if err != nil {
		return err
	}
	return p.ensureLeaf(frontCertFile, frontKeyFile, ca, caKey, now, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "rollcheck-lab-front"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    FrontDNSNames,
	})
}

func (p *pki) ensureServing(ca *x509.Certificate, caKey crypto.Signer, now time.Time) error {
	return p.ensureLeaf(servingCertFile, servingKeyFile, ca, caKey, now, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: servingIPs,
		DNSNames:    servingDNSNames,
	})
}

// ensureKubeletClient makes the API server's client certificate for the
// kubelet API, in group system:masters as kubeadm's is.
func (p *pki) ensureKubeletClient(ca *x509.Certificate, caKey crypto.Signer, now time.Time) error {
	return p.ensureLeaf(kubeletClientCertFile, kubeletClientKeyFile, ca, caKey, now, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// ensureLeaf keeps the certificate in certFile if the CA signed it and it is
// valid for more than a day, else makes a new key and certificate from tmpl
// (subject, usages, names), valid for five years.
func (p *pki) ensureLeaf(certFile, keyFile string, ca *x509.Certificate, caKey crypto.Signer, now time.Time, tmpl *x509.Certificate) error {
	if cert, _, err := loadCertKey(p.path(certFile), p.path(keyFile)); err == nil &&
		now.Before(cert.NotAfter.Add(-24*time.Hour)) && cert.CheckSignatureFrom(ca) == nil {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(5 * 365 * 24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return fmt.Errorf("create %s: %w", certFile, err)
	}
	return writeCertKey(p.path(certFile), p.path(keyFile), der, key)
}

// ensureSAKey makes the key pair that signs and verifies service-account
// tokens (--service-account-signing-key-file / --service-account-key-file).
func (p *pki) ensureSAKey() error {
	if _, err := loadKey(p.path(saKeyFile)); err == nil {
		if _, err := os.Stat(p.path(saPubFile)); err == nil {
			return nil
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return err
	}
	if err := writePEM(p.path(saKeyFile), "PRIVATE KEY", der, 0o600); err != nil {
		return err
	}
	return writePEM(p.path(saPubFile), "PUBLIC KEY", pub, 0o644)
}

// ensureTokens writes the static token file (--token-auth-file) with one admin
// token in system:masters. Every lab component uses it: the lab is a test
// bench, not a security boundary.
func (p *pki) ensureTokens() (string, error) {
	if tok, err := readAdminToken(p.path(tokenFile)); err == nil {
		return tok, nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b)
	// Format: token,user,uid,"group1,group2"
	line := fmt.Sprintf("%s,%s,%s,%q\n", tok, adminUser, adminUser, adminGroup)
	if err := os.WriteFile(p.path(tokenFile), []byte(line), 0o600); err != nil {
		return "", err
	}
	return tok, nil
}

func readAdminToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		return "", err
	}
	for _, rec := range recs {
		if len(rec) >= 2 && rec[1] == adminUser && rec[0] != "" {
			return rec[0], nil
		}
	}
	return "", errors.New("no admin token in " + path)
}

// writeKubeconfig writes a kubeconfig for the admin user against server.
func (p *pki) writeKubeconfig(server string) error {
	caPEM, err := os.ReadFile(p.path(caCertFile))
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["rollcheck-lab"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: p.adminToken}
	cfg.Contexts["rollcheck-lab"] = &clientcmdapi.Context{Cluster: "rollcheck-lab", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "rollcheck-lab"
	return clientcmd.WriteToFile(*cfg, p.path(kubeconfigFile))
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

func writeCertKey(certPath, keyPath string, der []byte, key crypto.Signer) error {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writePEM(keyPath, "PRIVATE KEY", kder, 0o600); err != nil {
		return err
	}
	return writePEM(certPath, "CERTIFICATE", der, 0o644)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func loadCertKey(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	data, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("%s: no certificate", certPath)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := loadKey(keyPath)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func loadKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", path)
	}
	return s, nil
}
