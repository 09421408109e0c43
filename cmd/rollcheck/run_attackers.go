package main

import (
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/attackers"
	"github.com/rollcheck/rollcheck/check"
)

// addAttackerFlags adds run's --attackers flags.
func addAttackerFlags(fl *pflag.FlagSet, o *RunOptions) {
	fl.IntVar(&o.Attackers, "attackers", 0, "send the load from this many attacker pods in the cluster (running 'rollcheck attack', the rate split among them) instead of from this machine; their results come back through the API server. Needed for in-cluster targets (a ClusterIP, a *.svc name)")
	fl.StringVar(&o.AttackerImage, "attacker-image", "", "image of the attacker pods (default "+attackers.DefaultImageRepo+":<rollcheck's version>)")
	fl.StringVar(&o.AttackerNamespace, "attacker-namespace", "", "namespace of the attacker pods (default: the run's)")
	// Test-only: the first attacker's clock is off by this much.
	fl.DurationVar(&o.AttackerSkew, "attacker-clock-skew", 0, "test only: skew the first attacker's clock")
	_ = fl.MarkHidden("attacker-clock-skew")
}

// validateAttackers fills cfg.Attackers from the flags.
func (o *RunOptions) validateAttackers(cfg *check.Config) error {
	if o.Attackers < 0 {
		return fmt.Errorf("--attackers must be 0 or more, got %d", o.Attackers)
	}
	if o.Attackers == 0 {
		if o.AttackerImage != "" || o.AttackerNamespace != "" || o.AttackerSkew != 0 {
			return fmt.Errorf("--attacker-image, --attacker-namespace and --attacker-clock-skew go with --attackers N")
		}
		return nil
	}
	for _, t := range cfg.Attack.Targets {
		if u, err := url.Parse(t.URL); err == nil && u.User != nil {
			return fmt.Errorf("with --attackers, target %s must not carry credentials in its URL (they would show in the pods' arguments): send them with -H, which attackers read from a Secret", attack.RedactURL(t.URL))
		}
	}
	if n := len(cfg.Attack.TLS.CA); n > attackers.MaxTargetCA {
		return fmt.Errorf("--target-ca %s with --attackers: the bundle is %d KiB, and attacker pods take at most %d KiB (one environment variable): pass only the CAs that sign the targets", o.TargetCA, n>>10, attackers.MaxTargetCA>>10)
	}
	image := o.AttackerImage
	if image == "" {
		image = attackers.DefaultImageRepo + ":" + version
	}
	cfg.Attackers = &check.Attackers{Count: o.Attackers, Image: image, Namespace: o.AttackerNamespace, Skew: o.AttackerSkew}
	if o.AttackerSkew != 0 {
		cfg.Attackers.ClockEvery = time.Second
	}
	return nil
}

// attackerTransport reaches the attacker pods with the kubeconfig's REST
// config (port-forward needs it, not only a clientset).
func (o *RunOptions) attackerTransport(client kubernetes.Interface) (attackers.Transport, error) {
	rc, err := o.f.flags.ToRESTConfig()
	if err != nil {
		return nil, configError{fmt.Errorf("loading kubeconfig: %w", err)}
	}
	return attackers.KubeTransport{Kube: client, Rest: rc}, nil
}
