package check

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/attackers"
)

// Attackers sends the load from pods in the cluster instead of from this
// process (--attackers).
type Attackers struct {
	Count int
	Image string
	// Namespace of the pods; "" is the run's.
	Namespace string
	// Skew is a test-only clock error given to the first attacker.
	Skew time.Duration
	// ClockEvery is how often clocks are sampled during the run (default
	// attackers.DefaultClockEvery).
	ClockEvery time.Duration
}

// attackerNamespace is where the attacker pods run.
func (c *Config) attackerNamespace() string {
	if c.Attackers != nil && c.Attackers.Namespace != "" {
		return c.Attackers.Namespace
	}
	return c.Namespace
}

// maxRun is the longest a run of p can last from the start of the load:
// the baseline, each step's rollout timeout and hold, the drain, the
// settle, and for watch-only the wait for the rollout.
func maxRun(cfg *Config, p *Plan) time.Duration {
	t := p.timeout()
	d := cfg.Baseline + time.Duration(len(p.Steps))*(t+cfg.StepHold) + t + cfg.Settle
	if cfg.WatchTimeout > 0 {
		d += cfg.WatchTimeout
	}
	return d
}

// fleet is the run's attackers, or nothing: every method is a no-op on a
// nil fleet.
type fleet struct {
	f *attackers.Fleet
}

// startFleet creates the attacker pods and waits until they can start.
func startFleet(ctx context.Context, clients Clients, cfg *Config, p *Plan, rep *reporter) (*fleet, error) {
	a := cfg.Attackers
	if a == nil {
		return &fleet{}, nil
	}
	if clients.Attackers == nil {
		return nil, fmt.Errorf("attackers: no way to reach pods (no REST config)")
	}
	rep.SetPhase("attackers")
	rep.Notice(fmt.Sprintf("starting %d attacker pods in namespace %s", a.Count, cfg.attackerNamespace()))
	f, err := attackers.Start(ctx, clients.Kube, clients.Attackers, attackers.Config{
		Count:      a.Count,
		Image:      a.Image,
		Namespace:  cfg.attackerNamespace(),
		Attack:     cfg.Attack,
		MaxRun:     maxRun(cfg, p),
		ClockEvery: a.ClockEvery,
		Skew:       a.Skew,
		Now:        cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	return &fleet{f: f}, nil
}

func (x *fleet) goLoad(ctx context.Context, atk *attack.Attack) error {
	if x == nil || x.f == nil {
		return nil
	}
	return x.f.Go(ctx, atk)
}

func (x *fleet) stop() {
	if x != nil && x.f != nil {
		x.f.Stop()
	}
}

func (x *fleet) remove() {
	if x != nil && x.f != nil {
		x.f.Delete()
	}
}

func (x *fleet) inputs() []attack.AttackerPod {
	if x == nil || x.f == nil {
		return nil
	}
	return x.f.Inputs()
}

// inClusterTargets refuses, without attackers, targets only reachable from
// inside the cluster: a Service DNS name (*.svc, *.svc.cluster.local) or
// the ClusterIP of a Service in the run's namespace. A run that is itself in
// a pod of the cluster (a nightly CronJob) reaches them.
func inClusterTargets(ctx context.Context, client kubernetes.Interface, cfg *Config) error {
	if cfg.Attackers != nil || cfg.InCluster {
		return nil
	}
	var ips []string
	for _, t := range cfg.Attack.Targets {
		u, err := url.Parse(t.URL)
		if err != nil {
			continue
		}
		host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
		if strings.HasSuffix(host, ".svc") || strings.HasSuffix(host, ".svc.cluster.local") {
			return ConfigError{fmt.Errorf("target %s is a Service name, reachable only from inside the cluster: add --attackers N to send the load from pods", attack.RedactURL(t.URL))}
		}
		if net.ParseIP(host) != nil {
			ips = append(ips, host)
		}
	}
	if len(ips) == 0 {
		return nil
	}
	svcs, err := client.CoreV1().Services(cfg.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil // the permission check names list services; this is a courtesy
	}
	for _, s := range svcs.Items {
		for _, cip := range s.Spec.ClusterIPs {
			for _, ip := range ips {
				if cip == ip {
					return ConfigError{fmt.Errorf("target %s is the ClusterIP of service/%s, reachable only from inside the cluster: add --attackers N to send the load from pods", ip, s.Name)}
				}
			}
		}
	}
	return nil
}
