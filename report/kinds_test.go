package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/workload"
)

func TestAStatefulSetOrDaemonSetReportNamesItsKind(t *testing.T) {
	a, o := run(map[int]int{}, 100)
	for kind, want := range map[workload.Kind]string{"statefulset": "statefulset/web", "daemonset": "daemonset/web", "": "deployment/web"} {
		t.Run(want, func(t *testing.T) {
			r := Build(Input{Kind: kind, Deployment: "web", Namespace: "default", Action: "restart", Attack: a, Outcome: o, Thresholds: DefaultThresholds()})
			if got := r.Workload(); got != want {
				t.Errorf("Workload() = %q, want %q", got, want)
			}
			var buf bytes.Buffer
			if err := writeJSON(r, &buf); err != nil {
				t.Fatal(err)
			}
			if err := Validate(buf.Bytes()); err != nil {
				t.Fatal(err)
			}
			if kind != "" && !strings.Contains(buf.String(), `"kind": "`+string(kind)+`"`) {
				t.Errorf("no kind in the JSON: %.300s", buf.String())
			}
		})
	}
	t.Run("an unknown kind does not match the schema", func(t *testing.T) {
		var buf bytes.Buffer
		if err := writeJSON(Build(Input{Kind: "cronjob", Deployment: "web", Attack: a, Outcome: o, Thresholds: DefaultThresholds()}), &buf); err != nil {
			t.Fatal(err)
		}
		if err := Validate(buf.Bytes()); err == nil {
			t.Error("validated")
		}
	})
}
