package diagnosis

import (
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/attack"
)

// Through an ALB in instance mode, new connections that entered through a
// node whose kube-proxy had not applied a pod's removal yet are that
// node's lag: KUBE_PROXY_LAG, naming the node, and a preStop that covers
// the slowest node. Without the entry node (or the lags), the same
// failures keep their termination cause.
func TestKubeProxyLagPerNode(t *testing.T) {
	base := func() *timeline {
		tl := exitReportedLate() // web-old-a: not ready at 12.02 s, exited at 14 s
		tl.Fails(14.05, 14.95, 0.1, attack.Class502, "")
		return tl
	}
	lags := []ProxyLag{
		{Pod: "web-old-a", Node: "n1", Changed: at(12.02), Applied: at(12.1), Precise: true},
		{Pod: "web-old-a", Node: "n2", Changed: at(12.02), Applied: at(15.02), Precise: true},
	}
	through := func(tl *timeline, node string, lags []ProxyLag) *run {
		for i := range tl.A.FailureList {
			tl.A.FailureList[i].Node = node
		}
		in := tl.input(deployment())
		in.Front, in.ProxyLags = "alb-instance", lags
		in.Attack.ByEntryNode = map[string]int{"n1": 500, "n2": 500}
		return build(in)
	}

	r := through(base(), "n2", lags)
	c, ok := causeOf(r, KubeProxyLag)
	if !ok || c.Failures != r.Failures {
		t.Fatalf("causes %+v, want all %d failures KUBE_PROXY_LAG", r.Causes, r.Failures)
	}
	if !strings.Contains(c.Evidence, "through node n2, whose kube-proxy applied the removal 3.00 s after it") || !strings.Contains(c.Evidence, "none entered through n1") {
		t.Errorf("evidence %q", c.Evidence)
	}
	if c.Confidence != ConfidenceHigh || !strings.Contains(strings.Join(c.Basis, "; "), "none through the nodes that had caught up") {
		t.Errorf("confidence %s, basis %q: want high on the node signature", c.Confidence, c.Basis)
	}
	// One failure in the window through n1, which had caught up: no node
	// signature (a pod that did not serve would fail there too).
	tl := base()
	tl.A.FailureList[0].Node = "n1"
	for i := range tl.A.FailureList[1:] {
		tl.A.FailureList[i+1].Node = "n2"
	}
	in := tl.input(deployment())
	in.Front, in.ProxyLags = "alb-instance", lags
	in.Attack.ByEntryNode = map[string]int{"n1": 500, "n2": 500}
	if c, _ := causeOf(build(in), KubeProxyLag); strings.Contains(strings.Join(c.Basis, "; "), "none through the nodes that had caught up") {
		t.Errorf("a failure through the node that had caught up, yet the node signature: %q", c.Basis)
	}
	// All the load through n2 alone (--entry-node): its failures are n2's
	// lag, but nothing tells them from a pod that did not serve.
	tl = base()
	for i := range tl.A.FailureList {
		tl.A.FailureList[i].Node = "n2"
	}
	in = tl.input(deployment())
	in.Front, in.ProxyLags = "kube-proxy", lags
	in.Attack.ByEntryNode = map[string]int{"n2": 1000}
	if c, ok := causeOf(build(in), KubeProxyLag); !ok || strings.Contains(strings.Join(c.Basis, "; "), "none through the nodes that had caught up") {
		t.Errorf("one entry node: cause %+v, want KUBE_PROXY_LAG without the node signature", c)
	}
	s := r.Measurements.SlowestKubeProxy
	if s == nil || s.Node != "n2" || s.Lag != 3 {
		t.Errorf("slowest kube-proxy %+v, want n2 at 3 s", s)
	}
	pre := preStopOf(r)
	if pre == nil || !strings.HasPrefix(pre.Suggested, "sleep 5 ") || !strings.Contains(pre.Why, "node n2's kube-proxy") {
		t.Errorf("preStop advice %+v, want sleep 5 (3 s + 1.5 s margin) for node n2", pre)
	}

	// Through n1, whose kube-proxy had applied it: not n1's lag.
	if r := through(base(), "n1", lags); hasCause(r.Causes, KubeProxyLag) {
		t.Errorf("through the node that had caught up: causes %+v", r.Causes)
	}
	// No entry node, or no lags read: the termination cause stays.
	for name, r := range map[string]*run{"no entry node": through(base(), "", lags), "no lags": through(base(), "n2", nil)} {
		if hasCause(r.Causes, KubeProxyLag) || !hasCause(r.Causes, TerminatingPodStillRouted, LBDeregistrationLag) {
			t.Errorf("%s: causes %+v, want the pod still routed and no KUBE_PROXY_LAG", name, r.Causes)
		}
	}
	// Through node targets, the preStop still covers the slowest node's
	// lag when no failure showed it: n2's 3 s, not the routing the
	// failures showed (CI run ci48 advised 2 s to a to-be whose slowest
	// node took 3.4 s). Without the lags it has only the failures.
	pre = preStopOf(through(base(), "", lags))
	if pre == nil || !strings.HasPrefix(pre.Suggested, "sleep 5 ") || !strings.Contains(pre.Why, "node n2's kube-proxy") || !strings.Contains(pre.Why, "could still reach") {
		t.Errorf("no entry node: preStop advice %+v, want sleep 5 for node n2, which could have been met", pre)
	}
	if pre := preStopOf(through(base(), "", nil)); pre == nil || strings.Contains(pre.Why, "kube-proxy") {
		t.Errorf("no lags: preStop advice %+v, want one from the failures alone", pre)
	}
	// Through the pods themselves (IP mode), nodes' kube-proxies route
	// nothing of the front's: their lags do not count.
	tl = base()
	in = tl.input(deployment())
	in.Front, in.ProxyLags = "alb", lags
	if pre := preStopOf(build(in)); pre == nil || strings.Contains(pre.Why, "kube-proxy") {
		t.Errorf("IP mode: preStop advice %+v, want none of the nodes' lags", pre)
	}
}

func preStopOf(r *run) *Recommendation {
	for i, rec := range r.Recommendations {
		if strings.HasSuffix(rec.Field, "lifecycle.preStop") {
			return &r.Recommendations[i]
		}
	}
	return nil
}

// A failure that fits both a new pod that just turned Ready and a
// terminating pod still routed goes, by time alone, to the window that
// opened last, the new pod's. Entered through a node whose kube-proxy
// still held the terminating pod, it is that node's lag.
func TestKubeProxyLagWinsOverANewPodsWindow(t *testing.T) {
	in := func(lags []ProxyLag) Input {
		tl := newTimeline()
		tl.Running("web-old-a")
		tl.Running("web-old-b")
		tl.Started("web-new-a", 10, 10.5, 12.9)
		tl.Deleted("web-old-a", 12, 12.02, 12.05, 0, 12.1)
		tl.Fails(12.92, 13.02, 0.05, attack.Class502, "")
		for i := range tl.A.FailureList {
			tl.A.FailureList[i].Node = "n2"
		}
		in := tl.input(deployment())
		in.Front, in.ProxyLags = "alb-instance", lags
		in.Attack.ByEntryNode = map[string]int{"n1": 500, "n2": 500}
		return in
	}
	if c, ok := causeOf(build(in(nil)), NewPodNotServing); !ok || c.Failures != 3 {
		t.Fatalf("without the lags: NEW_POD_NOT_SERVING %+v (found %t), want the 3 failures by time alone", c, ok)
	}
	r := build(in([]ProxyLag{{Pod: "web-old-a", Node: "n2", Changed: at(12.02), Applied: at(14), Precise: true}}))
	c, ok := causeOf(r, KubeProxyLag)
	if !ok || c.Failures != 3 || !strings.Contains(strings.Join(c.Basis, "; "), "entered through node n2") {
		t.Fatalf("causes %+v, want the 3 failures KUBE_PROXY_LAG through n2", r.Causes)
	}
}

// A new connection through a node goes only where the node's rules send
// it: when the time window gives a pod the node had already dropped, the
// failure went to a pod the node still held after its removal, gone by
// then (CI-like runs through the slow node's kube-proxy: a pod whose
// removal the node applied at once took the failures that an earlier
// pod, still in its rules for 2.5 s, caused).
func TestKubeProxyLagGoesToThePodTheNodeStillHeld(t *testing.T) {
	tl := newTimeline()
	tl.Running("web-old-a")
	tl.Running("web-old-b")
	tl.Running("web-old-c")
	tl.Deleted("web-old-a", 12, 12.02, 12.05, 2, 12.1)
	tl.Deleted("web-old-b", 14, 14.02, 14.05, 2, 14.1)
	tl.Fails(14.5, 14.9, 0.1, attack.ClassTimeout, "")
	for i := range tl.A.FailureList {
		tl.A.FailureList[i].Node = "n2"
	}
	in := tl.input(deployment())
	in.Front = "kube-proxy"
	in.Attack.ByEntryNode = map[string]int{"n2": 1000}
	in.ProxyLags = []ProxyLag{
		{Pod: "web-old-a", Node: "n2", Changed: at(12.02), Applied: at(15), Precise: true},
		{Pod: "web-old-b", Node: "n2", Changed: at(14.02), Applied: at(14.3), Precise: true},
	}
	r := build(in)
	c, ok := causeOf(r, KubeProxyLag)
	if !ok || c.Failures != r.Failures || !strings.Contains(c.Evidence, "web-old-a") {
		t.Fatalf("causes %+v, want all %d failures KUBE_PROXY_LAG of web-old-a, which n2 still held", r.Causes, r.Failures)
	}
	if !strings.Contains(strings.Join(c.Basis, "; "), "node n2's rules had dropped web-old-b by then") {
		t.Errorf("basis %q", c.Basis)
	}
	// Over kept connections (a reset the pod's exit caused) the pod is
	// the one the connection was opened to, whatever the rules say now.
	in.Attack.FailureList[0].Reused = true
	in.Attack.FailureList[0].Class = attack.ClassReset
	if c, _ := causeOf(build(in), KubeProxyLag); c.Failures != r.Failures-1 {
		t.Errorf("a kept connection's reset went to KUBE_PROXY_LAG too: %d of %d", c.Failures, r.Failures)
	}
}
