package report

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/rollout"
)

func TestReportsMatchTheSchema(t *testing.T) {
	a, o := run(map[int]int{3: 1, 12: 5}, 100)
	yes := true
	evs := []rollout.Event{{Time: t0.Add(11 * time.Second), Type: rollout.DeletionRequested, Pod: "web-1"}, {Time: t0.Add(11 * time.Second), Type: rollout.EndpointChanged, Pod: "web-1", Ready: &yes}}
	cases := map[string]Input{
		"a failing run":      {Deployment: "web", Namespace: "default", Action: "restart", Attack: a, Outcome: o, Drained: o.CompletedAt.Add(time.Second), Events: evs, Thresholds: DefaultThresholds()},
		"an empty run":       {Thresholds: DefaultThresholds()},
		"an interrupted run": {Deployment: "web", Attack: a, Interrupted: true, Thresholds: DefaultThresholds()},
	}
	for name, in := range cases {
		t.Run(name+" matches the schema", func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeJSON(Build(in), &buf); err != nil {
				t.Fatal(err)
			}
			if err := Validate(buf.Bytes()); err != nil {
				t.Fatal(err)
			}
		})
	}
	r := Build(cases["a failing run"])
	var buf bytes.Buffer
	if err := writeJSON(r, &buf); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"a wrong verdict":                 {`"verdict": "` + string(r.Verdict) + `"`, `"verdict": "MAYBE"`},
		"a check code that is not a code": {`"code": "` + string(CheckFinished) + `"`, `"code": "Run Finished"`},
	} {
		t.Run("a report with "+name+" does not", func(t *testing.T) {
			bad := strings.Replace(buf.String(), edit[0], edit[1], 1)
			if bad == buf.String() {
				t.Fatalf("%s not found in the JSON", edit[0])
			}
			if err := Validate([]byte(bad)); err == nil {
				t.Error("validated")
			}
		})
	}
	t.Run("the documented schema file is the embedded one", func(t *testing.T) {
		doc, err := os.ReadFile("schema/report-v1.schema.json")
		if err != nil || !bytes.Equal(doc, SchemaJSON) {
			t.Errorf("schema file differs from the embedded schema (%v)", err)
		}
	})
}
