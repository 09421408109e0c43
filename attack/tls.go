package attack

// How the load checks the certificates of https targets (--target-ca,
// --target-insecure, --target-server-name), and the probe that finds a
// target whose certificate would fail every request before the run starts.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// TLS is how the load verifies the certificates of https targets. These are
// the target's settings, never the API server's (kubectl's
// --certificate-authority, --insecure-skip-tls-verify and --tls-server-name
// are for that).
type TLS struct {
	// CA is a PEM bundle of the certificate authorities that may sign a
	// target's certificate, in place of the system's roots (as curl's
	// --cacert); nil: the system's roots.
	CA []byte
	// ServerName is sent as SNI and is the name the certificate must be
	// valid for; "": each target URL's host.
	ServerName string
	// Insecure accepts any certificate: nothing is verified.
	Insecure bool
}

// Set says any of the settings was given.
func (t TLS) Set() bool { return len(t.CA) > 0 || t.ServerName != "" || t.Insecure }

// ParseCA reads a PEM bundle of CA certificates into a pool. Anything that
// is not a certificate (a private key, garbage) is an error; the message
// names the block's type only, never its content.
func ParseCA(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			if strings.TrimSpace(string(rest)) != "" && n == 0 {
				return nil, errors.New("not a PEM certificate bundle (no -----BEGIN CERTIFICATE----- block)")
			}
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %s, not a CERTIFICATE", n+1, blk.Type)
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate in it")
	}
	return pool, nil
}

// ClientConfig is the TLS configuration of the load's transport.
func (t TLS) ClientConfig() (*tls.Config, error) {
	if t.Insecure && len(t.CA) > 0 {
		return nil, errors.New("a CA to verify with and no verification at all are exclusive")
	}
	c := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.Insecure}
	if len(t.CA) > 0 {
		pool, err := ParseCA(t.CA)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	return c, nil
}

// CertError is an https target that fails the TLS handshake for a reason
// every request would meet too: its certificate is not trusted or not
// valid for the name, or it does not speak TLS at all.
type CertError struct {
	// Target is the target's URL, redacted.
	Target string
	Err    error
	// Hint says which setting to change.
	Hint string
}

func (e *CertError) Error() string {
	return fmt.Sprintf("target %s: %v; %s", e.Target, e.Err, e.Hint)
}

func (e *CertError) Unwrap() error { return e.Err }

// ProbeTLS makes one TLS handshake with each https target, with the load's
// settings, and returns a *CertError for the first whose certificate every
// request would fail on. A target it cannot reach (refused, timed out, a
// name that does not resolve, a proxy in the way) is not its business: the
// load's baseline reports those. No HTTP request is sent.
func ProbeTLS(ctx context.Context, targets []Target, t TLS, timeout time.Duration) error {
	base, err := t.ClientConfig()
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, tg := range targets {
		u, err := url.Parse(tg.URL)
		if err != nil || u.Scheme != "https" {
			continue
		}
		addr := dialAddr(u)
		if seen[addr] {
			continue
		}
		seen[addr] = true
		req := &http.Request{URL: u}
		if p, err := http.ProxyFromEnvironment(req); err != nil || p != nil {
			continue // through a proxy: the handshake is not ours to make
		}
		c := base.Clone()
		if c.ServerName == "" {
			c.ServerName = u.Hostname()
		}
		if err := handshake(ctx, addr, c, timeout); err != nil {
			if hint := certHint(err, t); hint != "" {
				return &CertError{Target: RedactURL(tg.URL), Err: err, Hint: hint}
			}
		}
	}
	return nil
}

func handshake(ctx context.Context, addr string, c *tls.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := &tls.Dialer{Config: c}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// certHint says what to change for a handshake error that is the
// certificate's or the protocol's, and "" for any other error.
func certHint(err error, t TLS) string {
	var unknown x509.UnknownAuthorityError
	var name x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &unknown):
		if len(t.CA) > 0 {
			return "the certificate is not signed by a CA in --target-ca: pass the CA that signed it, or --target-server-name if the name differs (a front may answer an unknown name with a default certificate)"
		}
		return "pass --target-ca with the CA that signed it, or --target-server-name if the name differs (a front may answer an unknown name with a default certificate)"
	case errors.As(err, &name):
		return "pass --target-server-name with a name the certificate is valid for (the ingress host), or target that name"
	case errors.As(err, &invalid):
		return "the certificate itself is not valid (expired, not yet valid, or not for a server); fix it on the target, or pass --target-insecure to skip the check"
	case errors.As(err, &record):
		return "the target does not speak TLS: use an http:// URL for it"
	}
	return ""
}
