package lb

// Instance mode, an ALB target group of target type instance (the AWS
// Load Balancer Controller's default): the targets are the Nodes, each at
// the Service's NodePort, and kube-proxy on the node picks the pod. Pod
// readiness is invisible to the balancer; it sees only its health checks
// of each node and the Nodes that come and go. A node is a target while
// it is Ready, not labelled node.kubernetes.io/exclude-from-external-load-balancers
// and not tainted ToBeDeletedByClusterAutoscaler (the controller's own
// test, pkg/k8s IsNodeSuitableAsTrafficProxy: a cordoned node stays one).

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Health-check annotations the AWS Load Balancer Controller reads from the
// Service (or the Ingress); the lab's balancer reads them from the Service,
// live, with the same defaults (an ALB target group's).
const (
	HealthCheckPathAnnotation      = "alb.ingress.kubernetes.io/healthcheck-path"
	HealthCheckPortAnnotation      = "alb.ingress.kubernetes.io/healthcheck-port"
	HealthCheckIntervalAnnotation  = "alb.ingress.kubernetes.io/healthcheck-interval-seconds"
	HealthCheckTimeoutAnnotation   = "alb.ingress.kubernetes.io/healthcheck-timeout-seconds"
	HealthyThresholdAnnotation     = "alb.ingress.kubernetes.io/healthy-threshold-count"
	UnhealthyThresholdAnnotation   = "alb.ingress.kubernetes.io/unhealthy-threshold-count"
	excludeFromLoadBalancersLabel  = "node.kubernetes.io/exclude-from-external-load-balancers"
	toBeDeletedByClusterAutoscaler = "ToBeDeletedByClusterAutoscaler"
)

// healthCheck is a target group's health check.
type healthCheck struct {
	path               string
	port               string // "traffic-port" or a port number
	interval, timeout  time.Duration
	healthy, unhealthy int
}

// healthCheckOf reads the Service's health-check annotations; missing or
// malformed ones take the ALB's defaults (path /, the traffic port, every
// 15 s, 5 s timeout, 5 successes to turn healthy, 2 failures unhealthy).
func (b *Balancer) healthCheckOf() healthCheck {
	hc := healthCheck{path: "/", port: "traffic-port", interval: 15 * time.Second, timeout: 5 * time.Second, healthy: 5, unhealthy: 2}
	s, err := b.services.Services(b.svc.Namespace).Get(b.svc.Name)
	if err != nil {
		return hc
	}
	a := s.Annotations
	if v := strings.TrimSpace(a[HealthCheckPathAnnotation]); strings.HasPrefix(v, "/") {
		hc.path = v
	}
	if v := strings.TrimSpace(a[HealthCheckPortAnnotation]); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 65536 {
			hc.port = v
		}
	}
	count := func(ann string, def int) int {
		if n, err := strconv.Atoi(strings.TrimSpace(a[ann])); err == nil && n >= 1 {
			return n
		}
		return def
	}
	hc.interval = time.Duration(count(HealthCheckIntervalAnnotation, 15)) * time.Second
	hc.timeout = time.Duration(count(HealthCheckTimeoutAnnotation, 5)) * time.Second
	hc.healthy = count(HealthyThresholdAnnotation, 5)
	hc.unhealthy = count(UnhealthyThresholdAnnotation, 2)
	return hc
}

// nodeSuitable is the controller's test of a node as a target.
func nodeSuitable(n *corev1.Node) bool {
	if _, ok := n.Labels[excludeFromLoadBalancersLabel]; ok {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Key == toBeDeletedByClusterAutoscaler {
			return false
		}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeIP is the node's InternalIP ("" if it has none).
func nodeIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// nodeTargets are the instance targets: each suitable Node's InternalIP at
// the Service's NodePort (of its first TCP port).
func (b *Balancer) nodeTargets() map[string]desired {
	out := map[string]desired{}
	svc, err := b.services.Services(b.svc.Namespace).Get(b.svc.Name)
	if err != nil {
		return out
	}
	sp, err := servicePort(svc, "")
	if err != nil || sp.NodePort == 0 {
		b.warnOnce("nodeport/"+svc.ResourceVersion, "instance mode: Service %s has no NodePort (type %s): no targets", b.svc, svc.Spec.Type)
		return out
	}
	nodes, err := b.nodes.List(labels.Everything())
	if err != nil {
		return out
	}
	for _, n := range nodes {
		ip := nodeIP(n)
		if ip == "" || !nodeSuitable(n) {
			continue
		}
		address := net.JoinHostPort(ip, strconv.Itoa(int(sp.NodePort)))
		out[address+"/"+n.Name] = desired{pod: n.Name, address: address, backend: address}
	}
	return out
}

// healthLoop health-checks every registered target at the check's
// interval until ctx ends, and reconciles when a target's health changes.
func (b *Balancer) healthLoop(ctx context.Context, transport http.RoundTripper) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		hc := b.healthCheckOf()
		b.mu.Lock()
		var due []*target
		for key, t := range b.targets {
			if time.Since(last[key]) >= hc.interval {
				last[key] = time.Now()
				due = append(due, t)
			}
		}
		b.mu.Unlock()
		for _, t := range due {
			ok := b.check(ctx, transport, t, hc)
			b.mu.Lock()
			changed, state := t.observe(ok, hc), "healthy"
			if t.unhealthy {
				state = "unhealthy"
			}
			b.mu.Unlock()
			if changed {
				b.logf("health check target=%s node=%s: %s", t.address, t.pod, state)
				b.poke()
			}
		}
	}
}

// check sends one health check to t: GET the path on the traffic port (or
// the health-check port) of the node; a 200 is healthy.
func (b *Balancer) check(ctx context.Context, transport http.RoundTripper, t *target, hc healthCheck) bool {
	host, port, err := net.SplitHostPort(t.backend)
	if err != nil {
		return false
	}
	if hc.port != "traffic-port" {
		port = hc.port
	}
	cctx, cancel := context.WithTimeout(ctx, hc.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+hc.path, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "ELB-HealthChecker/2.0")
	req.Close = true
	resp, err := transport.RoundTrip(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// observe counts a health check's result and says whether the target
// turned healthy or unhealthy on it. b.mu is held.
func (t *target) observe(ok bool, hc healthCheck) bool {
	if ok {
		t.hcFails = 0
		t.hcOKs++
		if t.unhealthy && t.hcOKs >= hc.healthy {
			t.unhealthy = false
			return true
		}
		return false
	}
	t.hcOKs = 0
	t.hcFails++
	if !t.unhealthy && t.hcFails >= hc.unhealthy {
		t.unhealthy = true
		return true
	}
	return false
}
