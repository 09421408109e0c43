package render

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/report"
)

func TestJUnitHasACasePerCheckAndCause(t *testing.T) {
	tests := []struct {
		name         string
		fails        map[int]int
		th           report.Thresholds
		wantFailures int
		wantFailed   []string
	}{
		{name: "a passing run has no failed case", th: report.DefaultThresholds(), wantFailures: 0},
		{name: "failures during the rollout fail max-failures and name the cause", fails: map[int]int{12: 3},
			th: report.Thresholds{MaxFailures: 0, MaxFailureRatio: -1, MinSuccessRatio: -1, MaxDisrupted: time.Minute}, wantFailed: []string{"max-failures"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, o := run(tt.fails, 100)
			r := report.Build(report.Input{Deployment: "web", Namespace: "default", Action: "restart", Attack: a, Outcome: o, Drained: o.CompletedAt.Add(time.Second), Thresholds: tt.th})
			var buf bytes.Buffer
			if err := WriteJUnit(r, &buf); err != nil {
				t.Fatal(err)
			}
			var got junitSuites
			if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("invalid XML: %v\n%s", err, buf.String())
			}
			s := got.Suites[0]
			if s.Tests != len(s.Cases) || s.Tests < len(r.Checks) {
				t.Errorf("tests=%d cases=%d checks=%d", s.Tests, len(s.Cases), len(r.Checks))
			}
			failed := map[string]bool{}
			for _, c := range s.Cases {
				if c.Failure != nil {
					failed[c.Name] = true
				}
			}
			if len(tt.wantFailed) == 0 && s.Failures != 0 {
				t.Errorf("failures=%d, want 0:\n%s", s.Failures, buf.String())
			}
			for _, n := range tt.wantFailed {
				if !failed[n] {
					t.Errorf("case %q did not fail:\n%s", n, buf.String())
				}
			}
			if len(r.Causes) > 0 && !strings.Contains(buf.String(), string(r.Causes[0].Code)) {
				t.Errorf("JUnit lacks the cause %s", r.Causes[0].Code)
			}
		})
	}
}

func TestJUnitGolden(t *testing.T) {
	a, o := run(map[int]int{12: 3}, 100)
	r := report.Build(report.Input{Deployment: "web", Namespace: "default", Action: "restart", Attack: a, Outcome: o, Drained: o.CompletedAt.Add(time.Second), Thresholds: report.DefaultThresholds()})
	var buf bytes.Buffer
	if err := WriteJUnit(r, &buf); err != nil {
		t.Fatal(err)
	}
	golden(t, "junit.xml", buf.Bytes())
}
