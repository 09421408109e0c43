package check

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
)

// A target whose certificate nobody given trusts is a ConfigError naming
// the target and --target-ca, before the load and the rollout: the
// cluster is as it was. With its CA the same target passes the probe.
func TestUntrustedTargetCertificateStopsBeforeAnyChange(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	c := cluster(t, "", deploy("web", 1, web))
	cfg := config(srv.URL + "/")
	cfg.Action = rollout.Action{Kind: rollout.ActionRestart}
	_, err := Execute(context.Background(), Clients{Kube: c}, cfg)
	var ce ConfigError
	var cert *attack.CertError
	if !errors.As(err, &ce) || !errors.As(err, &cert) {
		t.Fatalf("Execute = %v, want a ConfigError of an attack.CertError", err)
	}
	for _, want := range []string{srv.URL, "certificate signed by unknown authority", "--target-ca"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if ch := changes(c); len(ch) > 0 {
		t.Errorf("the cluster changed: %v", ch)
	}

	cfg.Attack.TLS = attack.TLS{CA: ca}
	if err := probeTargets(context.Background(), &cfg); err != nil {
		t.Errorf("with the target's CA: %v", err)
	}
	if got := targetTLS(cfg.Attack); got == nil || !got.Verified || !got.CustomCA {
		t.Errorf("the report's TLS = %+v, want verified with the given CA", got)
	}
	cfg.Attack.TLS = attack.TLS{Insecure: true}
	if got := targetTLS(cfg.Attack); got == nil || got.Verified {
		t.Errorf("the report's TLS with insecure = %+v, want not verified", got)
	}
	if got := targetTLS(config("http://127.0.0.1:1/").Attack); got != nil {
		t.Errorf("the report's TLS of an http target = %+v, want none", got)
	}
}
