package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// instanceService is the Service the real lab's balancer in instance mode
// fronts (up --lb-instance): the tests that use it create it from
// scenarios/demo-nodes.yaml.
const instanceService = "default/demo-nodes"

// TestInstanceModeFront (issue 22): the EKS seed's comparison of the ALB's
// two target types, on the real node. Through the ALB-like balancer in
// instance mode (its targets are the nodes at the Service's NodePort;
// kube-proxy on the node picks the pod, and the balancer's kept
// connections to a node stay on the pod conntrack gave them) the to-be
// passes with no failed request, rollcheck inferring the front from the
// Service's target type as the AWS Load Balancer Controller reads it. The
// as-is (an app that exits at once, no preStop, no readiness probe) fails
// fewer requests in instance mode than in IP mode, as the seed reports:
// kube-proxy stops sending new connections to a terminating pod at its
// next sync (the lab's minSyncPeriod is 1 ms) where the balancer in IP
// mode keeps sending to the pod for its deregistration lag (2 s), and a
// request whose kept connection the pod closed before it was written is
// sent again on a new one. Whatever fails in instance mode gets a
// termination cause. The load names no pod on a failure (only the app's
// X-Pod-Name on its own answers, as through a real ALB), so failures are
// tied to pods by time.
func TestInstanceModeFront(t *testing.T) {
	needRealNode(t)
	resetDemo(t)
	kubectlApply(t, manifest(t, "demo-nodes.yaml"))
	t.Cleanup(func() {
		kubectl(t, "delete", "service", "demo-nodes", "--ignore-not-found", "--wait", "--timeout", "30s")
	})
	instance := []string{"--service", "demo-nodes", "--pod-header", "X-Pod-Name"}
	waitFrontServes(t, "the balancer in instance mode", lab.lbInstanceURL, "", 60*time.Second)

	r := toBePassesThrough(t, "instance mode", lab.lbInstanceURL, instance...)
	wantFront(t, "to-be, instance mode", r, "alb-instance", "target-type: instance")

	asIs := func(mode, url string, args ...string) result {
		diagFreshDemo(t, manifest(t, "as-is.yaml"))
		waitFrontServes(t, "the balancer in "+mode+" mode", url, "", 60*time.Second)
		r := rollcheck(t, append([]string{"-f", "../scenarios/as-is.scenario.yaml", "--target", url + "/", "--baseline", "3s", "--settle", "3s"}, args...)...)
		diagLog(t, "as-is through the balancer in "+mode+" mode", r)
		return r
	}
	inst := asIs("instance", lab.lbInstanceURL, instance...)
	wantFront(t, "as-is, instance mode", inst, "alb-instance", "target-type: instance")
	ip := asIs("IP", lab.lbURL, "--service", "demo", "--pod-header", "X-Pod-Name")
	wantFront(t, "as-is, IP mode", ip, "alb", "lb-deregister-lag")
	diagWantPrimary(t, ip, string(report.TerminatingPodStillRouted), string(report.InflightCut), string(report.LBDeregistrationLag))

	t.Logf("as-is: IP mode %v of %v requests failed, instance mode %v of %v", ip.report.Load.Failures, ip.report.Load.Requests, inst.report.Load.Failures, inst.report.Load.Requests)
	if inst.report.Load.Failures >= ip.report.Load.Failures {
		t.Errorf("instance mode failed %v requests, IP mode %v: want fewer in instance mode (the seed's comparison)", inst.report.Load.Failures, ip.report.Load.Failures)
	}
	if inst.report.Load.Failures > 0 {
		diagWantPrimary(t, inst, string(report.TerminatingPodStillRouted), string(report.InflightCut), string(report.LBDeregistrationLag))
	} else if inst.code != exitcode.Pass || inst.report.Verdict != report.Pass {
		t.Errorf("instance mode: no failed request, yet exit %d verdict %s", inst.code, inst.report.Verdict)
	}
}

// wantFront wants the front inferred as name, its why saying what it read.
func wantFront(t *testing.T, run string, r result, name, why string) {
	t.Helper()
	if f := r.report.Front; f == nil || f.Name != name || !f.Inferred || !strings.Contains(f.Why, why) {
		t.Errorf("%s: front %+v, want %s inferred (%s)", run, f, name, why)
	}
}
