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

func TestNoStepsForOneRollout(t *testing.T) {
	a, o := run(nil, 100)
	r := Build(Input{Deployment: "web", Attack: a, Outcome: o, Drained: o.CompletedAt.Add(time.Second), Thresholds: DefaultThresholds()})
	var js bytes.Buffer
	if err := writeJSON(r, &js); err != nil {
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

// A step that starts inside a bucket: the bucket's requests and its
// failures go to the same step, so no step counts more failures than
// requests (a success ratio below 0), even when every request after the
// step's start failed.
func TestStepCountsAFailureWithItsBucket(t *testing.T) {
	tl := newTimeline() // 100 requests in each 1 s bucket; Fail counts each in its bucket
	for s := 20.5; s < 30; s += 0.01 {
		tl.Fail(s, attack.Class503, "", time.Millisecond)
	}
	step := func(name string, from float64) StepInput {
		return StepInput{Name: name, Outcome: rollout.Outcome{Triggered: true, Completed: true, StartedAt: at(from), CompletedAt: at(from + 0.1)}}
	}
	steps, _ := buildSteps([]StepInput{step("1/2", 10), step("2/2", 20.5)}, tl.A, DefaultThresholds(), nil)
	for _, s := range steps {
		if s.Failures > s.Requests || s.SuccessRatio < 0 || s.Failures != s.ByClass["503"] {
			t.Errorf("step %s: %d failures (503 by class %d) of %d requests, success ratio %.3f", s.Name, s.Failures, s.ByClass["503"], s.Requests, s.SuccessRatio)
		}
	}
	if n := steps[0].Failures + steps[1].Failures; n != 950 {
		t.Errorf("the steps count %d failures, want all 950", n)
	}
}
