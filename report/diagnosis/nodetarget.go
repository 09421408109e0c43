package diagnosis

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/format"
	"github.com/rollcheck/rollcheck/rollout"
)

// NodeTargetDeregistration: a balancer in instance mode (its targets are
// the nodes at the Service's NodePort) kept sending to a node that had no
// serving pod of a Service whose externalTrafficPolicy is Local. That
// node's kube-proxy forwards only to its own pods and drops the packets
// once none serves ("has no local endpoints"), so the balancer's
// connection times out (an ALB answers 504 after its 10 s connect
// timeout), until its health checks have taken the node out.
const NodeTargetDeregistration CauseCode = "NODE_TARGET_DEREGISTRATION_LAG"

// NodeTargets is what the diagnosis needs of a front whose targets are the
// nodes, in front of a Service with externalTrafficPolicy Local (nil for
// any other front or policy).
type NodeTargets struct {
	// Service is the Service's name.
	Service string
	// HealthCheck describes the target group's health check, for people
	// ("HTTP traffic-port /, every 15 s, timeout 5 s, 2 failures").
	HealthCheck string
	// TakeOut is the longest a node that fails the health check stays a
	// target: the unhealthy threshold's checks, each an interval apart,
	// the last waiting its timeout.
	TakeOut time.Duration
	// AsksKubeProxy: the health check asks kube-proxy's
	// healthCheckNodePort, which answers 503 as soon as the node has no
	// ready pod while its terminating pods still serve.
	AsksKubeProxy bool
	// HealthCheckNodePort is the Service's (0: none, as for a Service
	// that is not of type LoadBalancer).
	HealthCheckNodePort int32
}

// gapSpan is a time a node had no serving pod of the Service (to zero: to
// the end of the run).
type gapSpan struct{ from, to time.Time }

// localGaps are, by node, the times each node had no serving pod of the
// Service after it had had one.
type localGaps map[string][]gapSpan

// nodeGaps reads the endpoint events of service with the nodes of their
// pods: the times each node had no ready pod of its own (serving false),
// or none that still served (serving true: ready, or terminating and
// still serving, which kube-proxy falls back to for
// externalTrafficPolicy Local once a node has no ready one, FACTS.md §3).
func nodeGaps(evs []rollout.Event, service string, serving bool) localGaps {
	nodeOf := map[string]string{}
	for _, e := range evs {
		if e.Pod != "" && e.Node != "" {
			nodeOf[e.Pod] = e.Node
		}
	}
	up := map[string]bool{}
	count := map[string]int{}
	out := localGaps{}
	for _, e := range evs {
		if e.Type != rollout.EndpointAdded && e.Type != rollout.EndpointChanged && e.Type != rollout.EndpointRemoved {
			continue
		}
		node := nodeOf[e.Pod]
		if node == "" || e.Service != service && e.Service != "" {
			continue
		}
		now := false
		if e.Type != rollout.EndpointRemoved {
			switch {
			case serving && e.Serving != nil:
				now = *e.Serving
			case e.Ready != nil:
				now = *e.Ready
			}
		}
		if now == up[e.Pod] {
			continue
		}
		up[e.Pod] = now
		before := count[node]
		if now {
			count[node]++
		} else {
			count[node]--
		}
		switch {
		case before > 0 && count[node] == 0:
			out[node] = append(out[node], gapSpan{from: e.Time})
		case before == 0 && count[node] > 0:
			if s := out[node]; len(s) > 0 && s[len(s)-1].to.IsZero() {
				s[len(s)-1].to = e.Time
			}
		}
	}
	return out
}

// at returns the gap node was in at t.
func (g localGaps) at(node string, t time.Time) (gapSpan, bool) {
	for _, s := range g[node] {
		if !t.Before(s.from) && (s.to.IsZero() || t.Before(s.to)) {
			return s, true
		}
	}
	return gapSpan{}, false
}

// nodeGapsOf are a node-target front's gaps: when each node had no ready
// pod of its own, and when none that served.
type nodeGapsOf struct{ noReady, noServing localGaps }

func hasSpan(_ gapSpan, ok bool) bool { return ok }

// gap tells whether it failed through a node with no ready pod of the
// Service, and since when. A 503 is the balancer's own (no healthy
// target), not the node's.
func (nt *NodeTargets) gap(g nodeGapsOf, it item) (gapSpan, bool) {
	if nt == nil || it.node == "" || !windowable(it.class) || it.class == attack.Class503 {
		return gapSpan{}, false
	}
	return g.noReady.at(it.node, it.t)
}

// nodeTarget is the evidence of NODE_TARGET_DEREGISTRATION_LAG: through
// which nodes the failures entered, since when each had no ready and no
// serving pod, and how long the balancer kept sending to it.
func (e telling) nodeTarget(nt *NodeTargets, g nodeGapsOf) string {
	var parts []string
	for _, n := range sortedKeys(e.c.nodes) {
		first := func(gs localGaps) time.Time {
			var t time.Time
			for _, s := range gs[n] {
				if !s.from.After(e.c.nodeLast[n]) && s.from.After(t) {
					t = s.from
				}
			}
			return t
		}
		noReady, noServing := first(g.noReady), first(g.noServing)
		part := fmt.Sprintf("%d through node %s, which had no ready pod from %s", e.c.nodes[n], n, format.Offset(e.t0, noReady))
		if !noServing.IsZero() && !noServing.Before(noReady) {
			part += fmt.Sprintf(" and none serving from %s", format.Offset(e.t0, noServing))
		}
		if last := e.c.nodeLast[n]; !noReady.IsZero() && !last.IsZero() {
			part += fmt.Sprintf(" (the last of them sent %s after it had no ready pod)", format.Sec(last.Sub(noReady)))
		}
		parts = append(parts, part)
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d failures (%s) from %s entered through nodes that had no ready pod of Service %s, whose externalTrafficPolicy is Local: their kube-proxy sends only to their own pods (terminating ones while they serve) and drops the rest, and the balancer kept sending to them until its health check (%s) took them out, up to %s after it began to fail: %s",
		e.c.failures, e.classes, e.window, nt.Service, nt.HealthCheck, format.Sec(nt.TakeOut), strings.Join(parts, "; "))
}

// nodeTargetAdvice: take the node out before it drops traffic, or let
// every node forward to any pod. Where the health check asks kube-proxy,
// a preStop that keeps the node's terminating pods serving until the
// balancer has taken it out (pre, with the seconds it asks for).
func nodeTargetAdvice(s settings, causes []Cause, nt *NodeTargets) (recs, pre []Recommendation, target time.Duration) {
	if nt == nil || !hasCause(causes, NodeTargetDeregistration) {
		return nil, nil, 0
	}
	cs := codes(causes, NodeTargetDeregistration)
	svc := "service/" + nt.Service
	recs = []Recommendation{{
		Field:     svc + ": spec.externalTrafficPolicy",
		Current:   "Local",
		Suggested: "Cluster (every node forwards to any ready pod), or the balancer's target type ip",
		Why:       "with Local a node forwards only to its own pods and drops what the balancer sends once none serves there; with Cluster a node with no pod of its own still forwards, and in IP mode the targets are the pods themselves",
		Causes:    cs,
	}}
	if !nt.AsksKubeProxy {
		want := "the Service's spec.healthCheckNodePort over HTTP (a Service of type LoadBalancer has one)"
		if nt.HealthCheckNodePort != 0 {
			want = fmt.Sprintf("%d (spec.healthCheckNodePort) over HTTP", nt.HealthCheckNodePort)
		}
		recs = append(recs, Recommendation{
			Field:     svc + ": alb.ingress.kubernetes.io/healthcheck-port",
			Current:   nt.HealthCheck,
			Suggested: want,
			Why:       "kube-proxy answers 503 on the Service's healthCheckNodePort as soon as a node has no ready pod, while its terminating pods still serve, so the balancer takes the node out before it drops traffic; the traffic port's check fails only once the pods are gone (Kubernetes docs, \"Preserving the client source IP\"; AWS Load Balancer Controller docs, health check annotations)",
			Causes:    cs,
		})
		return recs, nil, 0
	}
	need := nt.TakeOut + minPreStopMargin
	sugg := ceilSeconds(need)
	for _, c := range s.serving {
		pre = append(pre, Recommendation{
			Field:     c.Path("lifecycle.preStop"),
			Current:   s.current(c.PreStop.Text),
			Suggested: fmt.Sprintf("sleep %d (exec [\"sleep\", \"%d\"] or sleep.seconds: %d)", sugg, sugg, sugg),
			Why:       fmt.Sprintf("the health check (%s) takes a node out up to %s after kube-proxy's health port turns 503; a preStop of that plus a margin (%s) keeps the node's terminating pods serving until then", nt.HealthCheck, format.Sec(nt.TakeOut), format.Sec(minPreStopMargin)),
			Satisfied: s.known && c.PreStop.Sleep >= need,
			Causes:    cs,
		})
	}
	return recs, pre, time.Duration(sugg) * time.Second
}
