package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
)

// TestSteps cuts a run into three steps (triggers at 10 s, 14 s and 20 s;
// the last ends with the load at 30 s) and judges each on its own
// failures: 5 failures at 15 s fall in the second step only.
func TestSteps(t *testing.T) {
	a, _ := run(map[int]int{15: 5}, 100)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	steps := []StepInput{
		{Name: "1/3", Detail: "stable 3/canary 1", Outcome: rollout.Outcome{Triggered: true, Completed: true, StartedAt: at(10), CompletedAt: at(12)}},
		{Name: "2/3", Detail: "stable 2/canary 2", Outcome: rollout.Outcome{Triggered: true, Completed: true, StartedAt: at(14), CompletedAt: at(17)}},
		{Name: "3/3", Detail: "stable 0/canary 4", Outcome: rollout.Outcome{Triggered: true, StartedAt: at(20), Reason: "timeout"}},
		{Name: "never", Outcome: rollout.Outcome{}},
	}
	o := rollout.Outcome{Triggered: true, StartedAt: at(10), Reason: "timeout"}
	r := Build(Input{Deployment: "web", Attack: a, Outcome: o, Drained: o.CompletedAt.Add(time.Second), Thresholds: DefaultThresholds(), Steps: steps})
	if len(r.Steps) != 3 {
		t.Fatalf("%d steps, want 3 (a step never triggered has no window)", len(r.Steps))
	}
	want := []struct {
		requests, failures int
		end                time.Time
		passed             bool
	}{{400, 0, at(14), true}, {600, 5, at(20), false}, {1000, 0, at(30), false}}
	for i, w := range want {
		s := r.Steps[i]
		if s.Requests != w.requests || s.Failures != w.failures || !s.End.Equal(w.end) || s.Passed != w.passed {
			t.Errorf("step %s: %d requests %d failures end %s passed %t; want %+v", s.Name, s.Requests, s.Failures, s.End.Sub(t0), s.Passed, w)
		}
	}
	if r.Steps[0].RolloutSeconds != 2 || r.Steps[1].ByClass["502"] != 5 || r.Steps[1].DisruptedSeconds != 1 {
		t.Errorf("step details %+v %+v", r.Steps[0], r.Steps[1])
	}
	sum := r.StepSummary
	if sum.Steps != 3 || sum.Completed != 2 || sum.Passed != 1 || sum.TotalFailures != 5 || sum.WorstStep != "2/3" || sum.WorstFailures != 5 {
		t.Errorf("summary %+v", sum)
	}
	var text, junit, js bytes.Buffer
	if err := WriteText(r, &text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Steps     3: 2 completed, 1 passed; 5 requests failed in all; worst: 2/3 with 5", "incomplete: timeout"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, text.String())
		}
	}
	if err := WriteJUnit(r, &junit); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(junit.String(), `classname="rollcheck.steps"`); n != 3 {
		t.Errorf("%d step test cases in JUnit, want 3", n)
	}
	if err := WriteJSON(r, &js); err != nil {
		t.Fatal(err)
	}
	if err := Validate(js.Bytes()); err != nil {
		t.Errorf("report with steps fails the schema: %v", err)
	}
}

func TestNoStepsForOneRollout(t *testing.T) {
	a, o := run(nil, 100)
	r := Build(Input{Deployment: "web", Attack: a, Outcome: o, Drained: o.CompletedAt.Add(time.Second), Thresholds: DefaultThresholds()})
	var js bytes.Buffer
	if err := WriteJSON(r, &js); err != nil {
		t.Fatal(err)
	}
	if r.Steps != nil || strings.Contains(js.String(), `"steps"`) {
		t.Error("a single rollout has steps")
	}
}

// TestSwitchToUnreadyPodsAdvisesWaitingNotMaxUnavailable: after a
// blue/green switch to pods that were not ready, the advice is about the
// switch, not the rolling update strategy of the Deployment switched to.
func TestSwitchToUnreadyPodsAdvisesWaitingNotMaxUnavailable(t *testing.T) {
	tl := newTimeline()
	tl.Running("web-blue-a")
	tl.Deleted("web-blue-a", 12, 12.02, 12.1, 0, 12.2)
	tl.Fails(12.05, 15.0, 0.05, attack.Class503, "")
	spec := deployment(func(d *appsv1.Deployment) {
		d.Name = "web-green"
		d.Status.ReadyReplicas = 0
	})
	in := tl.input(spec)
	in.SwitchService = "web"
	r := Build(in)
	var sw *Recommendation
	for i, rec := range r.Recommendations {
		if strings.Contains(rec.Field, "maxUnavailable") || rec.Field == "spec.strategy.type" {
			t.Errorf("a switch got strategy advice: %+v", rec)
		}
		if rec.Field == "service/web selector" {
			sw = &r.Recommendations[i]
		}
	}
	if sw == nil {
		t.Fatalf("no advice on the switch: %+v", r.Recommendations)
	}
	if sw.Satisfied || !strings.Contains(sw.Current, "0 of 2 replicas ready") || !strings.Contains(sw.Suggested, "kubectl rollout status deployment/web-green") {
		t.Errorf("switch advice %+v", *sw)
	}
}
