package check

import (
	"context"
	"fmt"

	"github.com/rollcheck/rollcheck/front"
	"github.com/rollcheck/rollcheck/report"
)

// resolveFront is the front of the run: the one the user named, or the one
// inferred from read-only lists of the namespace before anything changes.
// An API error while inferring is a warning and an unknown front: the
// front informs the diagnosis, it does not gate the run.
func resolveFront(ctx context.Context, clients Clients, cfg *Config, services []string, warn func(string)) *report.Front {
	if cfg.Front != "" && cfg.Front != front.Auto {
		return &report.Front{Name: string(cfg.Front)}
	}
	req := front.Request{Namespace: cfg.Namespace, Services: services, Attackers: cfg.Attackers != nil}
	for _, t := range cfg.Attack.Targets {
		req.Targets = append(req.Targets, t.URL)
		if h := t.Header.Get("Host"); h != "" && req.HostHeader == "" {
			req.HostHeader = h
		}
	}
	name, why, err := front.Infer(ctx, clients.Kube, clients.Dynamic, req)
	if err != nil {
		warn(fmt.Sprintf("telling the front: %v", err))
		return &report.Front{Name: report.FrontUnknown, Inferred: true, Why: "could not read the namespace: give --front"}
	}
	if name == front.Unknown {
		return &report.Front{Name: report.FrontUnknown, Inferred: true, Why: why}
	}
	return &report.Front{Name: string(name), Inferred: true, Why: why}
}

// nodeTargets reads, for a front whose targets are the nodes (an ALB in
// instance mode), the watched Service whose externalTrafficPolicy is
// Local, with its health check: a node with no serving pod of its own
// drops what the balancer still sends it. Nil for other fronts or
// policies; an API error is a warning.
func nodeTargets(ctx context.Context, clients Clients, namespace string, fr *report.Front, services []string, warn func(string)) *report.NodeTargets {
	if fr == nil || front.Name(fr.Name) != front.ALBInstance {
		return nil
	}
	nt, err := front.ReadNodeTargets(ctx, clients.Kube, namespace, services)
	if err != nil {
		warn(fmt.Sprintf("reading the Service's traffic policy: %v", err))
		return nil
	}
	if nt == nil {
		return nil
	}
	return &report.NodeTargets{Service: nt.Service, HealthCheck: nt.Describe(), TakeOut: nt.TakeOut(),
		AsksKubeProxy: nt.AsksKubeProxy(), HealthCheckNodePort: nt.HealthCheckNodePort}
}
