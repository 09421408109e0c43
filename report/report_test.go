package report

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/fixture"
	"github.com/rollcheck/rollcheck/rollout"
)

var (
	t0  = fixture.T0
	run = fixture.Run
)

func TestVerdict(t *testing.T) {
	th := DefaultThresholds()
	tests := []struct {
		name      string
		fails     map[int]int
		achieved  float64
		th        Thresholds
		outcome   func(*rollout.Outcome)
		in        func(*Input)
		want      Verdict
		reasonHas string
	}{
		{name: "no failure passes", achieved: 100, th: th, want: Pass},
		{name: "one failure during the rollout fails the default threshold", fails: map[int]int{12: 1}, achieved: 100, th: th, want: Fail, reasonHas: "1 requests failed"},
		{name: "failures within max-failures pass", fails: map[int]int{12: 3}, achieved: 100, th: Thresholds{MaxFailures: 3, MaxFailureRatio: -1, MinSuccessRatio: -1, MaxDisrupted: 5 * time.Second}, want: Pass},
		{name: "a failure ratio above the maximum fails", fails: map[int]int{12: 30}, achieved: 100, th: Thresholds{MaxFailures: 100, MaxFailureRatio: 0.01, MinSuccessRatio: -1, MaxDisrupted: time.Minute}, want: Fail, reasonHas: "failure ratio 0.0150"},
		{name: "a success ratio below the minimum fails", fails: map[int]int{12: 30}, achieved: 100, th: Thresholds{MaxFailures: 100, MaxFailureRatio: -1, MinSuccessRatio: 0.99, MaxDisrupted: time.Minute}, want: Fail, reasonHas: "success ratio 0.9850"},
		{name: "disrupted time above the maximum fails", fails: map[int]int{12: 1, 13: 1, 14: 1}, achieved: 100, th: Thresholds{MaxFailures: 100, MaxFailureRatio: -1, MinSuccessRatio: -1, MaxDisrupted: 2 * time.Second}, want: Fail, reasonHas: "disrupted for 3.0s"},
		{name: "failures in the baseline are inconclusive", fails: map[int]int{3: 2, 12: 5}, achieved: 100, th: th, want: Inconclusive, reasonHas: "2 of 1000 requests failed in the baseline"},
		{name: "a load below 95% of its rate is inconclusive, never a pass", achieved: 90, th: th, want: Inconclusive, reasonHas: "90.0/s of the 100.0/s"},
		{name: "a rollout that did not complete fails", achieved: 100, th: th, outcome: func(o *rollout.Outcome) { o.Completed = false; o.Reason = "ProgressDeadlineExceeded" }, want: Fail, reasonHas: "ProgressDeadlineExceeded"},
		{name: "a load that ended before the removed pods were gone is inconclusive, never a pass", achieved: 100, th: th,
			in: func(in *Input) {
				in.Drained, in.NotDrained = time.Time{}, "deployment/web: removed pods not gone after 10m0s: pod web-old terminating"
			}, want: Inconclusive, reasonHas: "before every pod the rollout removed was gone"},
		{name: "a run that did not record the drain is inconclusive, never a pass", achieved: 100, th: th,
			in: func(in *Input) { in.Drained = time.Time{} }, want: Inconclusive, reasonHas: "was not observed"},
		{name: "failures seen before the load ended still fail when the drain was not seen", fails: map[int]int{12: 1}, achieved: 100, th: th,
			in: func(in *Input) { in.Drained, in.NotDrained = time.Time{}, "interrupted" }, want: Fail, reasonHas: "1 requests failed"},
		{name: "a rollout that replaced no pod is inconclusive, never a pass", achieved: 100, th: th,
			in: func(in *Input) { in.Replaces = true }, want: Inconclusive, reasonHas: "no pod was replaced"},
		{name: "a rollout that replaced a pod passes", achieved: 100, th: th, want: Pass,
			in: func(in *Input) {
				in.Replaces = true
				in.Events = []rollout.Event{{Time: t0.Add(11 * time.Second), Type: rollout.PodCreated, Pod: "web-new"}, {Time: t0.Add(12 * time.Second), Type: rollout.DeletionRequested, Pod: "web-old"}}
			}},
		{name: "an interrupted run is inconclusive", achieved: 100, th: th, in: func(in *Input) { in.Interrupted = true }, want: Inconclusive, reasonHas: "interrupted"},
		{name: "failures in the settle phase count", fails: map[int]int{25: 1}, achieved: 100, th: th, want: Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, o := run(tt.fails, tt.achieved)
			if tt.outcome != nil {
				tt.outcome(&o)
			}
			in := Input{Deployment: "web", Namespace: "default", Action: "restart", Attack: a, Outcome: o, Drained: o.CompletedAt.Add(time.Second), Thresholds: tt.th}
			if tt.in != nil {
				tt.in(&in)
			}
			r := Build(in)
			if r.Verdict != tt.want {
				t.Fatalf("verdict = %s (%v), want %s", r.Verdict, r.Reasons, tt.want)
			}
			if tt.reasonHas != "" && !strings.Contains(strings.Join(r.Reasons, "\n"), tt.reasonHas) {
				t.Errorf("reasons %q do not mention %q", r.Reasons, tt.reasonHas)
			}
		})
	}
}

func TestPhasesSplitAtTriggerAndCompletion(t *testing.T) {
	a, o := run(map[int]int{5: 1, 15: 2, 25: 3}, 100)
	r := Build(Input{Attack: a, Outcome: o, Drained: o.CompletedAt.Add(time.Second), Thresholds: DefaultThresholds()})
	want := []struct {
		name               string
		requests, failures int
	}{{"baseline", 1000, 1}, {"rollout", 1000, 2}, {"settle", 1000, 3}}
	if len(r.Phases) != len(want) {
		t.Fatalf("phases = %+v", r.Phases)
	}
	for i, w := range want {
		p := r.Phases[i]
		if p.Name != w.name || p.Requests != w.requests || p.Failures != w.failures {
			t.Errorf("phase %d = %s %d/%d, want %s %d/%d", i, p.Name, p.Requests, p.Failures, w.name, w.requests, w.failures)
		}
	}
	if r.DisruptedSeconds != 3 {
		t.Errorf("disrupted = %v, want 3", r.DisruptedSeconds)
	}
}

func TestJSONHasTheV1Fields(t *testing.T) {
	a, o := run(map[int]int{12: 2}, 100)
	r := Build(Input{Deployment: "web", Namespace: "default", Action: "restart", Targets: []string{"http://127.0.0.1:1/"}, Attack: a, Outcome: o, Drained: o.CompletedAt.Add(time.Second), Thresholds: DefaultThresholds()})
	var buf bytes.Buffer
	if err := writeJSON(r, &buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema", "verdict", "reasons", "load", "rollout", "disrupted_seconds", "phases", "events", "failures", "buckets"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON report lacks %q", k)
		}
	}
	if m["schema"] != Schema || m["verdict"] != "FAIL" {
		t.Errorf("schema/verdict = %v/%v", m["schema"], m["verdict"])
	}
	load := m["load"].(map[string]any)
	for _, k := range []string{"target", "rate", "achieved_rate", "requests", "failures", "success_ratio", "by_class"} {
		if _, ok := load[k]; !ok {
			t.Errorf("load lacks %q", k)
		}
	}
	ro := m["rollout"].(map[string]any)
	for _, k := range []string{"deployment", "action", "started_at", "completed_at", "completed"} {
		if _, ok := ro[k]; !ok {
			t.Errorf("rollout lacks %q", k)
		}
	}
}

// TestRequestInFlightAtTheTriggerIsTheRollouts: a request that started in
// the baseline and failed after the trigger (cut when a pod stopped) is
// judged with the rollout, and the baseline stays clean: the run is FAIL,
// not INCONCLUSIVE for an "unhealthy" baseline. One that ended before the
// trigger stays the baseline's.
func TestRequestInFlightAtTheTriggerIsTheRollouts(t *testing.T) {
	for _, tt := range []struct {
		name     string
		latency  time.Duration
		baseline int
		verdict  Verdict
	}{
		{"ended after the trigger", 600 * time.Millisecond, 0, Fail},
		{"ended before the trigger", 300 * time.Millisecond, 1, Inconclusive},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, o := run(map[int]int{}, 100)
			// Started 0.5 s before the trigger.
			at := o.StartedAt.Add(-500 * time.Millisecond)
			a.FailureList = append(a.FailureList, attack.Failure{Time: at, Latency: tt.latency, Class: attack.ClassEOF})
			a.Failures++
			for i := range a.Buckets {
				if !a.Buckets[i].Start.After(at) && a.Buckets[i].Start.Add(a.BucketWidth).After(at) {
					a.Buckets[i].OK--
					a.Buckets[i].ByClass = map[attack.Class]int{attack.ClassEOF: 1}
				}
			}
			r := Build(Input{Attack: a, Outcome: o, Drained: o.CompletedAt.Add(time.Second), Thresholds: DefaultThresholds()})
			base, roll := r.Phases[0], r.Phases[1]
			if base.Failures != tt.baseline || base.Failures+roll.Failures != 1 || base.Requests+roll.Requests != 2000 {
				t.Errorf("baseline %d/%d rollout %d/%d, want %d failure(s) in the baseline, 1 in all, 2000 requests",
					base.Failures, base.Requests, roll.Failures, roll.Requests, tt.baseline)
			}
			if r.Verdict != tt.verdict {
				t.Errorf("verdict %s, want %s", r.Verdict, tt.verdict)
			}
		})
	}
}

// writeJSON is the report as render.WriteJSON writes it: the renderers sit
// above this package, so its tests encode the JSON themselves.
func writeJSON(r *Report, w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
