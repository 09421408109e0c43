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

// lingering is a pod of web that the rollout leaves terminating, as in its
// preStop and drain, until the test deletes it.
func lingering(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: web, Annotations: map[string]string{lingerAnnotation: "yes"}}}
}

// check returns the report's check of code.
func checkOf(t *testing.T, r *report.Report, code report.CheckCode) report.Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Code == code {
			return c
		}
	}
	t.Fatalf("no check %s in %+v", code, r.Checks)
	return report.Check{}
}

// TestTheLoadRunsUntilTheRemovedPodsAreGone: kubectl's "complete" comes
// while an old pod still drains. Before, the settle counted from there and
// the load could end before the pod did, with a PASS on what was never
// seen; now the load runs on until the pod is gone, then for the settle.
func TestTheLoadRunsUntilTheRemovedPodsAreGone(t *testing.T) {
	c := cluster(t, "", deploy("web", 2, web), service("web", web), lingering("web-old"))
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
	r := report.Build(in)
	for _, code := range []report.CheckCode{report.CheckDrained, report.CheckReplaced} {
		if c := checkOf(t, r, code); !c.Passed || c.Skipped {
			t.Errorf("check %s: %+v, want passed", code, c)
		}
	}
}

// TestAPodThatNeverGoesMakesTheRunInconclusive: bounded by the rollout
// timeout, a run that does not see the removed pods gone cannot PASS.
func TestAPodThatNeverGoesMakesTheRunInconclusive(t *testing.T) {
	c := cluster(t, "", deploy("web", 2, web), service("web", web), lingering("web-stuck"))
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
	if c := checkOf(t, r, report.CheckDrained); c.Passed {
		t.Errorf("check %+v, want not passed", c)
	}
}
