package e2e

import (
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
// url and wants PASS: at least 2000 requests, none failed, the rollout
// complete.
func toBePassesThrough(t *testing.T, front, url string) {
	t.Helper()
	r := rollcheck(t, "-f", "../scenarios/to-be.scenario.yaml", "--target", url+"/")
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
}
