package check

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

// terminating is an old pod of web still in its preStop and drain.
func terminating(name string) *corev1.Pod {
	now := metav1.Now()
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: web, DeletionTimestamp: &now}}
}

// TestTheLoadRunsUntilTheRemovedPodsAreGone: kubectl's "complete" comes
// while an old pod still drains. Before, the settle counted from there and
// the load could end before the pod did, with a PASS on what was never
// seen; now the load runs on until the pod is gone, then for the settle.
func TestTheLoadRunsUntilTheRemovedPodsAreGone(t *testing.T) {
	c := cluster(t, "", deploy("web", 2, web), service("web", web), terminating("web-old"))
	cfg := config(target(t, http.StatusOK))
	cfg.Action = rollout.Action{Kind: rollout.ActionRestart}
	cfg.Settle = 100 * time.Millisecond
	draining := make(chan struct{})
	cfg.Progress = func(p Progress) {
		if p.Kind == ProgressPhase && p.Phase == "drain" {
			close(draining)
		}
	}
	var gone time.Time
	go func() {
		<-draining
		gone = time.Now()
		if err := c.CoreV1().Pods("default").Delete(context.Background(), "web-old", metav1.DeleteOptions{}); err != nil {
			t.Error(err)
		}
	}()
	in, err := Execute(context.Background(), Clients{Kube: c}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if in.NotDrained != "" || in.Drained.Before(gone) {
		t.Errorf("drained at %v (%q), want after the pod was deleted at %v", in.Drained, in.NotDrained, gone)
	}
	if end := in.Attack.End; end.Sub(in.Drained) < cfg.Settle {
		t.Errorf("the load ended %s after the last removed pod was gone, want the settle (%s) after it", end.Sub(in.Drained), cfg.Settle)
	}
	if r := report.Build(in); r.Verdict != report.Pass {
		t.Errorf("verdict %s %v, want PASS", r.Verdict, r.Reasons)
	}
}

// TestAPodThatNeverGoesMakesTheRunInconclusive: bounded by the rollout
// timeout, a run that does not see the removed pods gone cannot PASS.
func TestAPodThatNeverGoesMakesTheRunInconclusive(t *testing.T) {
	c := cluster(t, "", deploy("web", 2, web), service("web", web), terminating("web-stuck"))
	cfg := config(target(t, http.StatusOK))
	cfg.Action = rollout.Action{Kind: rollout.ActionRestart}
	cfg.RolloutTimeout = 300 * time.Millisecond
	in, err := Execute(context.Background(), Clients{Kube: c}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(in.NotDrained, "pod web-stuck terminating") {
		t.Errorf("not drained %q, want it to name pod web-stuck", in.NotDrained)
	}
	r := report.Build(in)
	if r.Verdict != report.Inconclusive || !strings.Contains(strings.Join(r.Reasons, " "), "web-stuck") {
		t.Errorf("verdict %s %v, want INCONCLUSIVE naming web-stuck", r.Verdict, r.Reasons)
	}
}
