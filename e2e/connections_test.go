package e2e

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// The --connections tests (issue 14): the load split into a stream that
// opens a new connection for every request and a keep-alive one, each at
// half the rate, and the report's split of the failures by connection kind.

// readConnsReport returns the run's report, failing the test when it has
// no connections section.
func readConnsReport(t *testing.T, r result) report.Report {
	t.Helper()
	if r.report.Connections == nil {
		t.Fatalf("the report has no connections section:\n%s", r.stdout)
	}
	return r.report
}

// checkShares wants both streams, each asked half the load's rate and
// achieving it within 10%.
func checkShares(t *testing.T, rep report.Report) {
	t.Helper()
	c := rep.Connections
	if c.Mode != "both" || len(c.Streams) != 2 {
		t.Fatalf("connections mode %q with %d streams, want both with 2", c.Mode, len(c.Streams))
	}
	total := 0
	for _, s := range c.Streams {
		total += s.Requests
		if s.Rate != rep.Load.Rate/2 {
			t.Errorf("%s stream asked %.2f/s, want half of %.2f/s", s.Stream, s.Rate, rep.Load.Rate)
		}
		if math.Abs(s.AchievedRate-s.Rate) > 0.1*s.Rate {
			t.Errorf("%s stream achieved %.2f/s, not within 10%% of its %.2f/s", s.Stream, s.AchievedRate, s.Rate)
		}
	}
	if total != rep.Load.Requests {
		t.Errorf("the streams sent %d requests, the load counts %d", total, rep.Load.Requests)
	}
}

// kind returns the row of the split for stream and connection (zero: none).
func kind(c *report.Connections, stream attack.Stream, conn string) report.ConnectionKind {
	for _, k := range c.Kinds {
		if k.Stream == stream && k.Connection == conn {
			return k
		}
	}
	return report.ConnectionKind{}
}

// onlyClasses reports the classes of k outside allowed.
func onlyClasses(k report.ConnectionKind, allowed ...attack.Class) []string {
	var out []string
	for c, n := range k.ByClass {
		ok := false
		for _, a := range allowed {
			ok = ok || string(a) == c
		}
		if !ok && n > 0 {
			out = append(out, fmt.Sprintf("%s=%d", c, n))
		}
	}
	return out
}

// connsDeployment is an app that dies at once on SIGTERM, with no preStop,
// listening on a fixed 127.0.0.1 port: the client connects straight to the
// pod's socket, as through kube-proxy's DNAT or an NLB, with no proxy of its
// own in between. One replica, replaced with Recreate (two pods cannot
// hold the port at once).
func connsDeployment(port int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: conns, namespace: default}
spec:
  selector: {app: conns}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: conns, namespace: default}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: conns}}
  template:
    metadata: {labels: {app: conns}}
    spec:
      containers:
      - name: app
        image: rollcheck/demo-app:v1
        args: ["--port", "%d", "--latency", "500ms"]
        ports: [{containerPort: 8080}]
`, port)
}

// waitConnsSteady waits until deployment/conns has rolled out, none of its
// pods is terminating, and its port answers 20 requests in a row from a
// current pod.
func waitConnsSteady(t *testing.T, url string) {
	t.Helper()
	kubectl(t, "rollout", "status", "deployment/conns", "--timeout", "120s")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	streak := 0
	for attempt := 0; attempt < 600 && streak < 20; attempt++ {
		if ctx.Err() != nil {
			t.Fatalf("deployment/conns did not settle: %d successes in a row", streak)
		}
		pods, err := lab.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=conns"})
		if err != nil {
			t.Fatal(err)
		}
		current, terminating := map[string]bool{}, false
		for _, p := range pods.Items {
			current[p.Name] = true
			terminating = terminating || p.DeletionTimestamp != nil
		}
		resp, err := client.Get(url)
		ok := err == nil && resp.StatusCode == 200 && current[resp.Header.Get("X-Pod-Name")] && !terminating
		if resp != nil {
			resp.Body.Close()
		}
		if ok {
			streak++
			continue
		}
		streak = 0
		time.Sleep(100 * time.Millisecond)
	}
	if streak < 20 {
		t.Fatalf("deployment/conns did not settle: %d successes in a row", streak)
	}
}

// TestConnectionsSplitRefusedFromReset restarts an app that exits at once on
// SIGTERM, reached straight on its socket, under --connections both, with
// POST requests that take 500ms. What the lab must show follows from how
// TCP and Go's client behave (FACTS.md §7): once the process is gone its
// port refuses connections, so requests that open a connection are refused
// until the new pod listens; the kernel closes the established connections
// of the dead process, so requests in flight on them end in EOF or a reset,
// and an established (kept) connection is never refused; a POST that failed
// after it was written is not retried by the transport, so those failures
// stay on the kept connection.
func TestConnectionsSplitRefusedFromReset(t *testing.T) {
	needLab(t)
	addr := closedAddr(t)
	_, portText, _ := net.SplitHostPort(addr)
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr + "/"
	t.Cleanup(func() {
		kubectl(t, "delete", "deployment", "conns", "--ignore-not-found", "--cascade=foreground", "--wait", "--timeout", "90s")
		kubectl(t, "delete", "service", "conns", "--ignore-not-found")
	})
	kubectl(t, "delete", "deployment", "conns", "--ignore-not-found", "--cascade=foreground", "--wait", "--timeout", "90s")
	kubectlApply(t, connsDeployment(port))
	waitConnsSteady(t, url)

	r := rollcheck(t, "deployment/conns", "--restart", "--target", url, "--method", "POST", "--body", "x",
		"--connections", "both", "--rate", "40/s", "--timeout", "5s", "--baseline", "3s", "--settle", "2s")
	// FAIL: requests in flight at the trigger that were cut at the exit
	// count with the rollout, not as an unhealthy baseline.
	if r.code != exitcode.Fail {
		t.Fatalf("exit %d, want %d (FAIL)\n%s", r.code, exitcode.Fail, r.stderr)
	}
	rep := readConnsReport(t, r)
	checkShares(t, rep)
	c := rep.Connections

	fresh := kind(c, attack.StreamNew, report.ConnNew)
	kept := kind(c, attack.StreamReused, report.ConnReused)
	opened := kind(c, attack.StreamReused, report.ConnNew)
	if k := kind(c, attack.StreamNew, report.ConnReused); k.Requests != 0 {
		t.Errorf("the new stream reused a connection for %d requests", k.Requests)
	}
	// The new stream: refused while no process held the port.
	if fresh.ByClass["refused"] == 0 {
		t.Errorf("new stream: no refused connection (%v)", fresh.ByClass)
	}
	if bad := onlyClasses(fresh, attack.ClassRefused, attack.ClassEOF, attack.ClassReset); len(bad) > 0 {
		t.Errorf("new stream: failures other than refused, EOF or reset: %v", bad)
	}
	// Kept connections: cut in flight, never refused.
	if kept.Failures == 0 {
		t.Errorf("reused stream: no failure on a kept connection (%+v)", kept)
	}
	if bad := onlyClasses(kept, attack.ClassEOF, attack.ClassReset); len(bad) > 0 {
		t.Errorf("reused stream: kept connections failed otherwise than EOF or reset: %v", bad)
	}
	// After the kept connections closed, the keep-alive client had to
	// open new ones, which were refused as the new stream's were.
	if opened.ByClass["refused"] == 0 {
		t.Errorf("reused stream: no refused connection it opened (%v)", opened.ByClass)
	}
	if bad := onlyClasses(opened, attack.ClassRefused, attack.ClassEOF, attack.ClassReset); len(bad) > 0 {
		t.Errorf("reused stream: connections it opened failed otherwise: %v", bad)
	}
	// The failure records agree with the split: a refused request never
	// went over a kept connection, and each names its stream.
	if rep.FailuresDropped == 0 {
		for _, f := range rep.Failures {
			if f.Class == attack.ClassRefused && f.Reused {
				t.Errorf("a refused request on a kept connection: %+v", f)
			}
			if f.Stream != attack.StreamNew && f.Stream != attack.StreamReused {
				t.Errorf("a failure with no stream: %+v", f)
			}
		}
	}
	// The text report shows the split.
	for _, want := range []string{"Streams   reused ", "Failures by connection kind", "STREAM", "CONNECTION", "REFUSED"} {
		if !strings.Contains(r.details, want) {
			t.Errorf("text report lacks %q", want)
		}
	}
	for _, k := range []report.ConnectionKind{fresh, kept, opened} {
		row := fmt.Sprintf("│ %-6s │ %-10s │ %-8d │ %-6d │", k.Stream, k.Connection, k.Requests, k.Failures)
		if !strings.Contains(r.details, row) {
			t.Errorf("text report lacks the row %q", row)
		}
	}
	t.Logf("new/new %+v; reused/reused %+v; reused/new %+v", fresh, kept, opened)
}

// TestConnectionsBothCleanToBe: the to-be Deployment through the lab's
// load balancer under --connections both: both streams at their share of
// the rate, no failure in either.
func TestConnectionsBothCleanToBe(t *testing.T) {
	needLab(t)
	resetDemo(t)
	r := rollcheck(t, "-f", "../scenarios/to-be.scenario.yaml", "--target", lab.lbURL+"/", "--connections", "both")
	if r.code != exitcode.Pass || r.report.Verdict != report.Pass {
		t.Fatalf("exit %d verdict %q, want 0 PASS\n%s", r.code, r.report.Verdict, r.stderr)
	}
	rep := readConnsReport(t, r)
	checkShares(t, rep)
	for _, s := range rep.Connections.Streams {
		if s.Failures != 0 || s.Requests == 0 {
			t.Errorf("%s stream: %d failures of %d requests, want 0 of some", s.Stream, s.Failures, s.Requests)
		}
	}
	if s := rep.Connections.Streams; len(s) == 2 && (s[0].Stream != attack.StreamReused || s[0].ReusedConnRequests == 0 || s[1].ReusedConnRequests != 0) {
		t.Errorf("streams %+v: want the reused one to reuse connections and the new one never", s)
	}
	if strings.Contains(r.details, "Failures by connection kind") {
		t.Error("a clean run prints the failure table")
	}
}
