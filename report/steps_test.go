package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/rollcheck/rollcheck/attack"
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
