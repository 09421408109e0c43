package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/diagnosis"
)

// The details show, for a pod of several containers, each container's
// exit after the deletion in the order they exited, with the bounds the
// kubelet's whole-second finishedAt leaves (issue 23: which container
// ended first).
func TestDetailsListEachContainersExitInOrder(t *testing.T) {
	code := int32(0)
	r := &report.Report{}
	r.Measurements.TerminatingPods = []diagnosis.TerminatingPod{{Pod: "web-old-a", Containers: []diagnosis.ContainerStop{
		{Name: "proxy", ExitMin: 0, ExitMax: 0.62, ExitCode: &code},
		{Name: "app", ExitMin: 4.38, ExitMax: 5.38, ExitCode: &code},
	}}}
	var b bytes.Buffer
	if err := (TextOptions{Details: true, Width: 120}).Write(r, &b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	proxy, app := strings.Index(out, "│ proxy "), strings.Index(out, "│ app ")
	if proxy < 0 || app < proxy || !strings.Contains(out, "0.00–0.62s") || !strings.Contains(out, "4.38–5.38s") {
		t.Errorf("details do not list the proxy's exit (0.00–0.62 s) before the app's (4.38–5.38 s):\n%s", out)
	}
}

// The details say how many connections the load held and which pods
// answered on them.
func TestConnsLineSaysPinnedOrSpread(t *testing.T) {
	for _, tc := range []struct {
		c    *attack.ConnCount
		want string
	}{
		{nil, ""},
		{&attack.ConnCount{Opened: 1, ByPod: map[string]int{"web-a": 1}}, "Conns     1 kept-alive connection; first answered on by web-a 1; each answered by one pod only (pinned: an L4 front or HTTP/2)"},
		{&attack.ConnCount{Opened: 3, ByPod: map[string]int{"web-b": 1, "web-a": 2}, Spread: 3}, "Conns     3 kept-alive connections; first answered on by web-a 2, web-b 1; 3 answered by more than one pod (the front routes each request anew)"},
		{&attack.ConnCount{Opened: 4}, "Conns     4 kept-alive connections"},
	} {
		if got := connsLine(tc.c); got != tc.want {
			t.Errorf("connsLine(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
}
