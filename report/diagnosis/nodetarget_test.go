package diagnosis

import (
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
)

// A balancer in instance mode before a Service with externalTrafficPolicy
// Local: node n2's only pod (web-old-a) stops serving at 14 s and no pod
// of n2 serves after; the balancer still sends to n2 until its health
// check takes it out. Its 504s from then are the node target's, naming n2,
// with the traffic policy and the health check as advice; the same
// failures through n1, which kept a serving pod, are not; without the
// node targets (another policy or front) the rule stays silent.
func TestNodeTargetDeregistration(t *testing.T) {
	tlAt := func(node string, class attack.Class, from, to float64) *timeline {
		tl := newTimeline()
		tl.Running("web-old-a")
		tl.Running("web-old-b")
		tl.Event(0, rollout.Event{Type: rollout.PodScheduled, Pod: "web-old-a", Node: "n2", Initial: true})
		tl.Event(0, rollout.Event{Type: rollout.PodScheduled, Pod: "web-old-b", Node: "n1", Initial: true})
		// Drained from n2: not ready (still serving, terminating) at 12 s,
		// gone at 14 s.
		tl.Deleted("web-old-a", 12, 12.02, 14, 0, 14.1)
		tl.Fails(from, to, 0.5, class, "")
		for i := range tl.A.FailureList {
			tl.A.FailureList[i].Node = node
			tl.A.FailureList[i].Latency = 10 * time.Second
		}
		return tl
	}
	tl := func(node string, class attack.Class) *timeline { return tlAt(node, class, 15, 24.5) }
	nt := &NodeTargets{Service: "web", HealthCheck: "HTTP traffic-port /, every 5 s, timeout 2 s, 2 failures", TakeOut: 12 * time.Second, HealthCheckNodePort: 31234}
	through := func(tl *timeline, nt *NodeTargets) *run {
		in := tl.input(deployment())
		in.Front, in.NodeTargets = "alb-instance", nt
		in.Attack.ByEntryNode = map[string]int{"n1": 1500, "n2": 1500}
		return build(in)
	}

	r := through(tl("n2", attack.Class504), nt)
	c, ok := causeOf(r, NodeTargetDeregistration)
	if !ok || c.Failures != r.Failures || c.Confidence != ConfidenceHigh {
		t.Fatalf("causes %+v, want all %d failures NODE_TARGET_DEREGISTRATION_LAG at high confidence", r.Causes, r.Failures)
	}
	for _, want := range []string{"20 through node n2, which had no ready pod from +12.02s and none serving from +14.10s", "no ready pod of Service web, whose externalTrafficPolicy is Local", "every 5 s, timeout 2 s, 2 failures", "up to 12.00 s"} {
		if !strings.Contains(c.Evidence, want) {
			t.Errorf("evidence %q lacks %q", c.Evidence, want)
		}
	}
	var policy, check *Recommendation
	for i, rec := range r.Recommendations {
		switch {
		case strings.HasSuffix(rec.Field, "spec.externalTrafficPolicy"):
			policy = &r.Recommendations[i]
		case strings.HasSuffix(rec.Field, "healthcheck-port"):
			check = &r.Recommendations[i]
		}
	}
	if policy == nil || !strings.HasPrefix(policy.Suggested, "Cluster") {
		t.Errorf("policy advice %+v, want Cluster", policy)
	}
	if check == nil || !strings.HasPrefix(check.Suggested, "31234 (spec.healthCheckNodePort)") {
		t.Errorf("health check advice %+v, want the healthCheckNodePort 31234", check)
	}

	// A health check that already asks kube-proxy: a preStop that covers
	// its take-out instead.
	asks := *nt
	asks.AsksKubeProxy = true
	r = through(tl("n2", attack.ClassTimeout), &asks)
	if c, ok := causeOf(r, NodeTargetDeregistration); !ok || c.Failures != r.Failures {
		t.Fatalf("client timeouts: causes %+v, want NODE_TARGET_DEREGISTRATION_LAG", r.Causes)
	}
	var pre *Recommendation
	for i, rec := range r.Recommendations {
		if strings.HasSuffix(rec.Field, "lifecycle.preStop") {
			pre = &r.Recommendations[i]
		}
		if strings.HasSuffix(rec.Field, "healthcheck-port") {
			t.Errorf("advice on the health check that already asks kube-proxy: %+v", rec)
		}
	}
	if pre == nil || !strings.HasPrefix(pre.Suggested, "sleep 14 ") {
		t.Errorf("preStop advice %+v, want sleep 14 (12 s take-out + 2 s margin)", pre)
	}

	// Before the pod was gone, while n2 had only its terminating pod:
	// kube-proxy sent to it, and it failed (a 502) when it stopped.
	r = through(tlAt("n2", attack.Class502, 12.5, 13.5), nt)
	if c, ok := causeOf(r, NodeTargetDeregistration); !ok || c.Failures != r.Failures || !strings.Contains(strings.Join(c.Basis, "; "), "only terminating ones") {
		t.Errorf("while terminating: causes %+v, want NODE_TARGET_DEREGISTRATION_LAG on the terminating pod", r.Causes)
	}

	// Through n1, which kept a serving pod; a 502 (no drop); no node
	// targets: not this cause.
	for name, r := range map[string]*run{
		"through n1":      through(tl("n1", attack.Class504), nt),
		"a 503":           through(tl("n2", attack.Class503), nt),
		"no node targets": through(tl("n2", attack.Class504), nil),
		"no entry node":   through(tl("", attack.Class504), nt),
	} {
		if hasCause(r.Causes, NodeTargetDeregistration) {
			t.Errorf("%s: causes %+v, want no NODE_TARGET_DEREGISTRATION_LAG", name, r.Causes)
		}
	}
}

// nodeGaps opens a node's gap when its last serving endpoint stops
// serving, and closes it when one serves there again.
func TestNodeGaps(t *testing.T) {
	tl := newTimeline()
	tl.Running("a")
	tl.Running("b")
	tl.Event(0, rollout.Event{Type: rollout.PodScheduled, Pod: "a", Node: "n1", Initial: true})
	tl.Event(0, rollout.Event{Type: rollout.PodScheduled, Pod: "b", Node: "n1", Initial: true})
	tl.Event(1, rollout.Event{Type: rollout.PodScheduled, Pod: "c", Node: "n1"})
	tl.Deleted("a", 2, 2.1, 4, 0, 4.1)
	tl.Deleted("b", 5, 5.1, 6, 0, 6.1) // the last of n1 gone at 6.1
	tl.Started("c", 1, 2, 9)           // serving again at 9.02
	g := nodeGaps(tl.Sorted(), "web", true)
	if len(g["n1"]) != 1 {
		t.Fatalf("gaps %+v, want one on n1", g)
	}
	s := g["n1"][0]
	if !s.from.Equal(at(6.1)) || !s.to.Equal(at(9.02)) {
		t.Errorf("gap %s to %s, want 6.1 s to 9.02 s", s.from.Sub(at(0)), s.to.Sub(at(0)))
	}
	for sec, want := range map[float64]bool{5: false, 6.1: true, 8: true, 9.02: false} {
		if _, ok := g.at("n1", at(sec)); ok != want {
			t.Errorf("at %.2f s: in a gap %t, want %t", sec, ok, want)
		}
	}
	// No ready pod from the last one's not-ready (5.1 s).
	if r := nodeGaps(tl.Sorted(), "web", false)["n1"]; len(r) != 1 || !r[0].from.Equal(at(5.1)) || !r[0].to.Equal(at(9.02)) {
		t.Errorf("gaps of ready pods %+v, want 5.1 s to 9.02 s", r)
	}
}
