package e2e

import (
	"testing"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// TestHTTP2ThroughTheALBFront (issue 23): the same HTTP/2 client through
// the lab's ALB-like front, whose client connections end at the balancer:
// the seed's as-is (an app that exits at once, the balancer routing 2 s
// longer) fails with the balancer's 502s for the pods still routed, as
// over HTTP/1.1, and the client's connection, which never reached a pod,
// is no cause: no HTTP2_CONNECTION_CLOSED_WITHOUT_GOAWAY.
func TestHTTP2ThroughTheALBFront(t *testing.T) {
	needLab(t)
	t.Cleanup(func() { resetDemo(t) })
	diagFreshDemo(t, manifest(t, "as-is.yaml"))
	r := rollcheck(t, "-f", "../scenarios/as-is.scenario.yaml", "--target", lab.lbURL+"/", "--http2", "--baseline", "3s", "--settle", "3s")
	diagLog(t, "HTTP/2 as-is through the ALB-like front", r)
	wantVerdict(t, r, exitcode.Fail, report.Fail)
	if !r.report.Load.HTTP2 {
		t.Errorf("the load was not HTTP/2: %+v", r.report.Load)
	}
	c := diagWantPrimary(t, r, "TERMINATING_POD_STILL_ROUTED")
	if _, ok := causeByCode(r, report.HTTP2ClosedWithoutGoaway); ok {
		t.Errorf("an HTTP/2 connection cause through a front that ends the client's connection: %v", diagCauseCodes(r))
	}
	if c.ByClass["502"] == 0 {
		t.Errorf("cause %s by class %v, want the balancer's 502s", c.Code, c.ByClass)
	}
	// The client's connection ends at the balancer, which routes each
	// request: several pods answered on one connection.
	if cc := r.report.Load.Conns; cc == nil || cc.Spread == 0 {
		t.Errorf("connections held %+v, want one answered by several pods", cc)
	} else {
		t.Logf("connections: %d, by pod %v, %d spread", cc.Opened, cc.ByPod, cc.Spread)
	}
	t.Logf("HTTP/2 through the ALB-like front: %d of %d failed, %d %s (%v)", r.report.Load.Failures, r.report.Load.Requests, c.Failures, c.Code, c.ByClass)
}
