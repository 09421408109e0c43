package check

import (
	"context"
	"net/url"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report"
)

// maxProbeTimeout bounds the TLS probe of each https target.
const maxProbeTimeout = 5 * time.Second

// probeTargets makes one TLS handshake with each https target before
// anything starts: a certificate that every request would fail on (not
// trusted, not for the name, no TLS at all) is bad input, a ConfigError
// naming the target and the flag to change, and the cluster is as it was.
// A target it cannot reach is left to the baseline.
func probeTargets(ctx context.Context, cfg *Config) error {
	timeout := cfg.Attack.Timeout
	if timeout <= 0 || timeout > maxProbeTimeout {
		timeout = maxProbeTimeout
	}
	if err := attack.ProbeTLS(ctx, cfg.Attack.Targets, cfg.Attack.TLS, timeout); err != nil {
		return ConfigError{err}
	}
	return nil
}

// targetTLS is how the load checked the https targets' certificates, for
// the report; nil when no target is https.
func targetTLS(a attack.Config) *report.TargetTLS {
	for _, t := range a.Targets {
		if u, err := url.Parse(t.URL); err == nil && u.Scheme == "https" {
			return &report.TargetTLS{Verified: !a.TLS.Insecure, CustomCA: len(a.TLS.CA) > 0, ServerName: a.TLS.ServerName}
		}
	}
	return nil
}
