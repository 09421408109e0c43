package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// The acceptance of issue 15 on the lab, for the run's end and for a
// rollout that replaces nothing.

// One old pod with a 2s preStop behind a load balancer that routes to it
// for 4s after its endpoint turns not-ready: every failure comes after
// kubectl's "complete" (the pod is already terminating then) and after a
// 1s settle counted from there. The load now runs until the pod is gone,
// then for the settle, and sees them.
func TestLateFailuresAfterCompleteAreSeen(t *testing.T) {
	needLab(t)
	spec := diagDeployment{replicas: 1, readiness: true, preStop: "2", grace: 10}
	diagFreshDemo(t, diagService("4s")+"---\n"+spec.manifest())
	r := diagRun(t, "1s")
	diagLog(t, "late failures after complete", r)
	if r.code != exitcode.Fail || r.report.Verdict != report.Fail {
		t.Fatalf("exit %d verdict %q, want 1 FAIL\n%s", r.code, r.report.Verdict, r.stderr)
	}
	ro := r.report.Rollout
	if ro.CompletedAt == nil || ro.RemovedGoneAt == nil || ro.LoadEndedAt == nil {
		t.Fatalf("rollout times: completed_at %v, removed_gone_at %v, load_ended_at %v", ro.CompletedAt, ro.RemovedGoneAt, ro.LoadEndedAt)
	}
	completed, gone, ended := *ro.CompletedAt, *ro.RemovedGoneAt, *ro.LoadEndedAt
	late := 0
	for _, f := range r.report.Failures {
		if f.Time.After(completed) {
			late++
		}
	}
	t.Logf("complete at %s, the old pod gone %.2fs later, the load ended %.2fs after that; %d of %v failures after complete",
		completed.Format(time.RFC3339Nano), gone.Sub(completed).Seconds(), ended.Sub(gone).Seconds(), late, r.report.Load.Failures)
	if late == 0 {
		t.Error("no failure after the rollout completed: the load did not run on")
	}
	if gone.Before(completed) || ended.Sub(gone) < time.Second {
		t.Errorf("the load ended %s after the old pod was gone (%s after complete), want at least the 1s settle", ended.Sub(gone), gone.Sub(completed))
	}
	if !strings.Contains(r.details, "removed pods gone at") {
		t.Errorf("the text report does not say when the removed pods were gone:\n%s", r.stdout)
	}
}

// A set-image to the image already running would replace no pod: refused
// before any load, exit 2, and the Deployment is untouched.
func TestSetImageToTheRunningImageChangesNothing(t *testing.T) {
	needLab(t)
	spec := diagDeployment{replicas: 2, readiness: true}
	diagFreshDemo(t, diagService("0s")+"---\n"+spec.manifest())
	before, err := lab.client.AppsV1().Deployments("default").Get(context.Background(), "demo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := rollcheck(t, "deployment/demo", "--set-image", "app=rollcheck/demo-app:v1", "--target", lab.lbURL+"/", "--baseline", "1s")
	if r.code != exitcode.Usage || !strings.Contains(r.stderr, "set-image starts no rollout: container app already runs rollcheck/demo-app:v1") || r.wrote {
		t.Errorf("exit %d, report written %v, stderr:\n%s\nwant exit 2 naming the running image, no report", r.code, r.wrote, r.stderr)
	}
	after, err := lab.client.AppsV1().Deployments("default").Get(context.Background(), "demo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A no-op patch would change neither: the exit 2 before any load
	// above is what shows nothing was sent.
	if after.Generation != before.Generation || after.Spec.Template.Spec.Containers[0].Image != "rollcheck/demo-app:v1" {
		t.Errorf("the Deployment changed: generation %d -> %d, image %s", before.Generation, after.Generation, after.Spec.Template.Spec.Containers[0].Image)
	}
}
