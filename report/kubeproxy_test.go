package report_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/kubeproxy"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/render"
)

// The kube-proxy lags in the report: withheld (no node listed: CI run
// ci28's nightly job, whose ServiceAccount may not list nodes) or read,
// the JSON is valid against the schema and the summary has its line.
func TestKubeProxyLagsInTheReport(t *testing.T) {
	in := report.ExitsAtOnceInput()
	first := in.Events[0].Time
	for name, kp := range map[string]*report.KubeProxyInput{
		"withheld": {Withheld: "no permission to list nodes (needs list on nodes and get on nodes/proxy)"},
		"read": {Nodes: []kubeproxy.Node{{Name: "n1", Polls: 100, FirstPoll: first.Add(-time.Second), LastPoll: first.Add(time.Minute),
			Syncs: []kubeproxy.Sync{{Start: first.Add(30 * time.Second), End: first.Add(31 * time.Second), Exact: true, Count: 1}}}}},
	} {
		t.Run(name, func(t *testing.T) {
			in.KubeProxy = kp
			r := report.Build(in)
			var buf bytes.Buffer
			if err := render.WriteJSON(r, &buf); err != nil {
				t.Fatal(err)
			}
			if err := report.Validate(buf.Bytes()); err != nil {
				t.Fatal(err)
			}
			if r.KubeProxy == nil {
				t.Fatal("no kube-proxy section")
			}
			if name == "read" && (len(r.KubeProxy.Removals) == 0 || len(r.KubeProxy.Removals[0].Applied) != 1) {
				t.Errorf("removals %+v, want each with n1's reading", r.KubeProxy.Removals)
			}
			if all := strings.Join(text(t, r, render.TextOptions{Width: 160}), "\n"); !strings.Contains(all, "Kube-proxy ") {
				t.Errorf("no Kube-proxy line in the summary:\n%s", all)
			}
		})
	}
}
