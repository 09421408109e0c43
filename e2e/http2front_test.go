package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// TestHTTP2ThroughTheALBFront (issue 23): the same HTTP/2 client through
// the lab's ALB-like front, whose client connections end at the balancer:
// the seed's as-is (an app that exits at once, the balancer routing 2 s
// longer) fails with the balancer's 502s for the pods still routed, as
// over HTTP/1.1, and the client's connection, which never reached a pod,
// is no cause: no HTTP2_CONNECTION_CLOSED_WITHOUT_GOAWAY. With the target
// group's protocol version HTTP2 the balancer speaks HTTP/2 to the pods,
// as the run does here (the pod names the protocol it got). The to-be,
// whose pods drain with GOAWAY behind a preStop that covers the balancer's
// lag, PASSes over HTTP/2 from end to end.
func TestHTTP2ThroughTheALBFront(t *testing.T) {
	needLab(t)
	t.Cleanup(func() { resetDemo(t) })
	diagFreshDemo(t, manifest(t, "as-is.yaml"))
	// The target group's protocol version: HTTP1, the default, sends each
	// request on to the pod over HTTP/1.1; HTTP2 (the AWS Load Balancer
	// Controller's backend-protocol-version) over HTTP/2.
	for _, tc := range []struct{ version, want string }{{"", "HTTP/1.1"}, {"HTTP2", "HTTP/2.0"}} {
		if tc.version != "" {
			kubectl(t, "annotate", "--overwrite", "service", "demo", "alb.ingress.kubernetes.io/backend-protocol-version="+tc.version)
		}
		if got := protoAtThePod(t, lab.lbURL+"/", tc.want); got != tc.want {
			t.Errorf("backend-protocol-version %q: the pod got %q, want %s", tc.version, got, tc.want)
		}
	}
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
	t.Logf("HTTP/2 through the ALB-like front (HTTP/2 to the pods too): %d of %d failed, %d %s (%v)", r.report.Load.Failures, r.report.Load.Requests, c.Failures, c.Code, c.ByClass)

	// The to-be (scenarios/http2-to-be.yaml: a preStop that covers the
	// balancer's 2 s, then a drain that answers with Connection: close,
	// which Go's HTTP/2 server turns into GOAWAY, then Server.Shutdown),
	// with HTTP/2 from the balancer to the pods still: PASS.
	diagFreshDemo(t, manifest(t, "http2-to-be.yaml"))
	if got := protoAtThePod(t, lab.lbURL+"/", "HTTP/2.0"); got != "HTTP/2.0" {
		t.Fatalf("the to-be's pods got %q, want HTTP/2.0 from the balancer", got)
	}
	r = rollcheck(t, "-f", "../scenarios/as-is.scenario.yaml", "--target", lab.lbURL+"/", "--http2", "--baseline", "3s", "--settle", "3s")
	diagLog(t, "HTTP/2 to-be through the ALB-like front", r)
	wantVerdict(t, r, exitcode.Pass, report.Pass)
	if n, f := r.report.Load.Requests, r.report.Load.Failures; n < 1000 || f != 0 {
		t.Errorf("to-be: %d requests, %d failed; want at least 1000 and none failed", n, f)
	}
	t.Logf("HTTP/2 to-be through the ALB-like front: %d of %d failed", r.report.Load.Failures, r.report.Load.Requests)
}

// protoAtThePod sends h2c requests to url until the demo app says one
// reached it in protocol want (its X-Request-Proto), or 20 s have passed
// (the balancer reads the Service's annotation live, from its informer),
// and returns the last protocol named.
func protoAtThePod(t *testing.T, url, want string) string {
	t.Helper()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	got := ""
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && got != want; time.Sleep(200 * time.Millisecond) {
		resp, err := client.Get(url)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			got = resp.Header.Get("X-Request-Proto")
		}
	}
	return got
}
