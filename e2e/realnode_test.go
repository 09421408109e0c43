package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// needRealNode skips a test that needs the lab's real node (upstream
// kubelet, containerd and kube-proxy): `make e2e-real` runs it.
func needRealNode(t *testing.T) {
	t.Helper()
	needLab(t)
	if lab.node != "real" {
		t.Skip("needs the lab's real node (ROLLCHECK_E2E_NODE=real, make e2e-real)")
	}
}

// TestToBePassesThroughKubeProxy: the seed's to-be, loaded through the
// kube-proxy front (the Service's ClusterIP, kube-proxy's iptables rules
// inside the node's namespace; no load balancer of ours in the path), passes
// with no failed request. Kept-alive connections stay on the pod they were
// opened to until the pod closes them (conntrack), which the preStop and
// the app's graceful shutdown cover.
func TestToBePassesThroughKubeProxy(t *testing.T) {
	needRealNode(t)
	resetDemo(t)
	toBePassesThrough(t, "kube-proxy front", lab.kubeProxyURL)
}

// toBePassesThrough runs the seed's to-be scenario against the front at
// url (with rollcheck's flags args) and wants PASS: at least 2000
// requests, none failed, the rollout complete.
func toBePassesThrough(t *testing.T, front, url string, args ...string) result {
	t.Helper()
	r := rollcheck(t, append([]string{"-f", "../scenarios/to-be.scenario.yaml", "--target", url + "/"}, args...)...)
	if r.code != exitcode.Pass || r.report.Verdict != report.Pass {
		t.Fatalf("exit %d verdict %q reasons %v, want 0 PASS\n%s", r.code, r.report.Verdict, r.report.Reasons, r.stderr)
	}
	if n, f := r.report.Load.Requests, r.report.Load.Failures; n < 2000 || f != 0 {
		t.Errorf("%v requests, %v failed; want at least 2000 and none failed", n, f)
	}
	if !r.report.Rollout.Completed {
		t.Error("report says the rollout did not complete")
	}
	t.Logf("%s: %v requests, %v failed", front, r.report.Load.Requests, r.report.Load.Failures)
	return r
}

// TestRecreateThroughKubeProxyIsNoReadyEndpoints (issue 25): a Recreate
// through the kube-proxy front. Every old pod stops before a new one
// starts, so the Service has no ready endpoint for seconds and kube-proxy
// refuses (the host forwarder turns that into resets). It used to be
// called a terminating pod still routed (LB_DEREGISTRATION_LAG at high
// confidence, with a preStop number), though there is no load balancer in
// that path and a preStop only lengthens the gap: the empty window is the
// cause, and the strategy the fix.
func TestRecreateThroughKubeProxyIsNoReadyEndpoints(t *testing.T) {
	needRealNode(t)
	spec := diagDeployment{strategy: "{type: Recreate}", args: []string{"--shutdown=graceful"}, readiness: true, preStop: "3", grace: 10}
	diagFreshDemo(t, diagService("2s")+"---\n"+spec.manifest())
	r := rollcheck(t, "deployment/demo", "--restart", "--target", lab.kubeProxyURL+"/",
		"--rate", "100/s", "--timeout", "5s", "--baseline", "3s", "--settle", "3s",
		"--max-failures", "0", "--pod-header", diagPodHeaders, "--front", "kube-proxy")
	diagLog(t, "Recreate through kube-proxy", r)
	// The host reaches kube-proxy through the lab's forwarder, which no
	// cluster object shows: the front is given, and the report says so.
	if f := r.report.Front; f == nil || f.Name != "kube-proxy" || f.Inferred {
		t.Errorf("front %+v, want kube-proxy as given", f)
	}
	c := diagWantPrimary(t, r, "NO_READY_ENDPOINTS")
	if c.Confidence != report.ConfidenceHigh {
		t.Errorf("NO_READY_ENDPOINTS at %s confidence, want high: rollcheck measured the empty window", c.Confidence)
	}
	if v := orNone(r.report.Measurements.MinReadyEndpoints); v != 0 {
		t.Errorf("min ready endpoints %v, want 0", v)
	}
	for _, cc := range r.report.Causes {
		if (cc.Code == "LB_DEREGISTRATION_LAG" || cc.Code == "TERMINATING_POD_STILL_ROUTED") && cc.Confidence == report.ConfidenceHigh {
			t.Errorf("%s at high confidence with %d failures through a front with no load balancer", cc.Code, cc.Failures)
		}
	}
	if hasRecommendation(r, "lifecycle.preStop") {
		t.Errorf("a preStop is recommended for a Recreate through kube-proxy: %+v", r.report.Recommendations)
	}
	if !hasRecommendation(r, "spec.strategy") {
		t.Error("no strategy recommendation")
	}
}

// TestKubeProxyFrontFromAttackers (issue 25): the configurations
// through kube-proxy, loaded as an in-cluster client loads them. An app that exits
// at once on SIGTERM: two attacker
// pods POST to the Service's ClusterIP, with no forwarder of ours in the
// path. Each kept connection stays on the pod it was opened to (kube-proxy's
// conntrack) until that pod dies under it, and a POST is not retried by
// Go's client, so the resets and EOFs of the requests open then (each
// takes 300 ms) reach the report. (With fast requests the pod dies between
// them: the client sees the connection close while idle and opens a new one,
// which kube-proxy's sync lag may still send to the gone pod: a refusal.) Their fix is the
// app's graceful close of its connections, not a preStop (which only
// delays the reset): the same app draining with Connection: close passes.
// The front is inferred from the ClusterIP target. A Recreate is the
// Service's empty window first (NO_READY_ENDPOINTS, the strategy its fix),
// and a new pod Ready before it listens (no readiness probe) is
// NEW_POD_NOT_SERVING.
func TestKubeProxyFrontFromAttackers(t *testing.T) {
	needRealNode(t)
	run := func(t *testing.T, spec diagDeployment, args ...string) result {
		diagFreshDemo(t, diagService("2s")+"---\n"+spec.manifest())
		return rollcheck(t, append([]string{"deployment/demo", "--restart", "--target", clusterIPURL(t, "demo"), "--attackers", "2",
			"--attacker-image", rollcheckImage(t), "--method", "POST", "--body", "x",
			"--rate", "100/s", "--timeout", "5s", "--baseline", "3s", "--settle", "3s",
			"--max-failures", "0", "--pod-header", diagPodHeaders}, args...)...)
	}
	t.Run("exiting at once fails on kept connections, and the fix is the app's shutdown", func(t *testing.T) {
		r := run(t, diagDeployment{replicas: 3, args: []string{"--shutdown=immediate", "--latency=300ms"}, readiness: true})
		diagLog(t, "exit at once through kube-proxy from attacker pods", r)
		wantVerdict(t, r, exitcode.Fail, report.Fail)
		if f := r.report.Front; f == nil || f.Name != "kube-proxy" || !f.Inferred {
			t.Errorf("front %+v, want kube-proxy inferred from the ClusterIP target", f)
		}
		conns := map[string]int{} // class and whether its connection was kept
		for _, f := range r.report.Failures {
			conns[fmt.Sprintf("%s/reused=%t", f.Class, f.Reused)]++
		}
		t.Logf("failures by class and connection: %v", conns)
		var kept *report.Cause
		for i, c := range r.report.Causes {
			if c.Code == report.KeptConnectionClosed {
				kept = &r.report.Causes[i]
			}
		}
		if kept == nil || kept.Failures == 0 {
			t.Fatalf("no KEPT_CONNECTION_CLOSED among %v\n%s", diagCauseCodes(r), r.stdout)
		}
		for class := range kept.ByClass {
			if class != "reset" && class != "eof" {
				t.Errorf("KEPT_CONNECTION_CLOSED counts %d %s: only resets and EOFs on kept connections belong to it", kept.ByClass[class], class)
			}
		}
		if !hasRecommendation(r, "shutdown on SIGTERM") {
			t.Errorf("no graceful-shutdown recommendation: %+v", r.report.Recommendations)
		}
		// A preStop may answer new connections that kube-proxy still sent
		// to the gone pod (refused), never the kept connections.
		for _, rec := range r.report.Recommendations {
			if strings.Contains(rec.Field, "preStop") && slices.Contains(rec.Causes, report.KeptConnectionClosed) {
				t.Errorf("a preStop is recommended for kept connections: %+v", rec)
			}
		}
		t.Logf("kept connections closed: %d of %d failures (%v); causes %v", kept.Failures, r.report.Load.Failures, kept.ByClass, diagCauseCodes(r))
	})
	t.Run("draining with Connection: close passes", func(t *testing.T) {
		r := run(t, diagDeployment{replicas: 3, args: []string{"--shutdown=graceful", "--drain=3s", "--drain-close", "--latency=300ms"}, readiness: true, grace: 10})
		diagLog(t, "drain with Connection: close through kube-proxy from attacker pods", r)
		wantVerdict(t, r, exitcode.Pass, report.Pass)
		t.Logf("%d of %d requests failed", r.report.Load.Failures, r.report.Load.Requests)
	})
	// The report: this Recreate from attacker pods (refusals and
	// timeouts, no forwarder) was LB_DEREGISTRATION_LAG at high
	// confidence with "preStop sleep 6".
	t.Run("Recreate is NO_READY_ENDPOINTS first, fixed by the strategy", func(t *testing.T) {
		r := run(t, diagDeployment{strategy: "{type: Recreate}", args: []string{"--shutdown=graceful"}, readiness: true, preStop: "3", grace: 10})
		diagLog(t, "Recreate through kube-proxy from attacker pods", r)
		c := diagWantPrimary(t, r, string(report.NoReadyEndpoints))
		if c.Confidence != report.ConfidenceHigh {
			t.Errorf("NO_READY_ENDPOINTS at %s confidence, want high", c.Confidence)
		}
		if hasRecommendation(r, "lifecycle.preStop") || !hasRecommendation(r, "spec.strategy") {
			t.Errorf("recommendations %+v: want the strategy and no preStop", r.report.Recommendations)
		}
		t.Logf("NO_READY_ENDPOINTS %d failures by class %v", c.Failures, c.ByClass)
	})
	// Each request on a new connection: kube-proxy sends some to a new pod
	// that is Ready (no readiness probe) but not listening yet, and the
	// pod's kernel refuses them.
	t.Run("a slow start without a readiness probe is NEW_POD_NOT_SERVING", func(t *testing.T) {
		r := run(t, diagDeployment{args: []string{"--shutdown=graceful", "--startup=3s"}, preStop: "3", grace: 10}, "--connections", "new")
		diagLog(t, "slow start without readiness through kube-proxy from attacker pods", r)
		c := diagWantPrimary(t, r, string(report.NewPodNotServing))
		if !hasRecommendation(r, "readinessProbe") {
			t.Errorf("no readinessProbe recommendation: %+v", r.report.Recommendations)
		}
		t.Logf("NEW_POD_NOT_SERVING %d failures by class %v", c.Failures, c.ByClass)
	})
}
