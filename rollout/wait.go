package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

// progressDeadlineExceeded is the Progressing condition reason the
// Deployment controller sets when progressDeadlineSeconds pass without
// progress.
const progressDeadlineExceeded = "ProgressDeadlineExceeded"

// rolloutState applies kubectl rollout status to d: done, failed (with the
// reason) or neither, with a message saying what is awaited. minGen is the
// generation the Trigger produced: until the informer shows a Deployment at
// least that new, and the controller has observed it, the status describes
// the previous rollout.
func rolloutState(d *appsv1.Deployment, minGen int64) (done bool, failed string, msg string) {
	if d.Generation < minGen || d.Generation > d.Status.ObservedGeneration {
		return false, "", "waiting for deployment spec update to be observed"
	}
	if c := deploymentCondition(d, appsv1.DeploymentProgressing); c != nil && c.Reason == progressDeadlineExceeded {
		return false, progressDeadlineExceeded, fmt.Sprintf("deployment %q exceeded its progress deadline", d.Name)
	}
	s := d.Status
	if want := desired(d); d.Spec.Replicas != nil && s.UpdatedReplicas < want {
		return false, "", fmt.Sprintf("%d out of %d new replicas have been updated", s.UpdatedReplicas, want)
	}
	if s.Replicas > s.UpdatedReplicas {
		return false, "", fmt.Sprintf("%d old replicas are pending termination", s.Replicas-s.UpdatedReplicas)
	}
	if s.AvailableReplicas < s.UpdatedReplicas {
		return false, "", fmt.Sprintf("%d of %d updated replicas are available", s.AvailableReplicas, s.UpdatedReplicas)
	}
	return true, "", fmt.Sprintf("deployment %q successfully rolled out", d.Name)
}

// Wait blocks until the rollout is complete or has failed by kubectl rollout
// status rules, re-evaluated on every Deployment update the informer
// delivers. It gives up after timeout (0: no limit) with Reason "timeout",
// or when ctx is done with Reason "interrupted". Start must have been
// called. The end is recorded as a RolloutComplete or RolloutFailed event.
func (w *Driver) Wait(ctx context.Context, timeout time.Duration) Outcome {
	return w.waitFor(ctx, timeout, func(o *Outcome) (bool, string, string) {
		if w.cur == nil {
			return false, "", ""
		}
		o.Revision = revisionOf(w.cur)
		return stateOf(w.cur, w.minGen)
	})
}

// waitFor re-evaluates cond, with w.mu held, on every change the informers
// deliver until it is done or failed, as Wait describes.
func (w *Driver) waitFor(ctx context.Context, timeout time.Duration, cond func(*Outcome) (done bool, failed, msg string)) Outcome {
	w.mu.Lock()
	out := Outcome{Triggered: !w.trigger.IsZero(), StartedAt: w.trigger}
	w.mu.Unlock()

	var (
		done        bool
		failed, msg string
	)
	err := w.await(ctx, timeout, func() bool {
		done, failed, msg = cond(&out)
		return done || failed != ""
	})
	switch {
	case errors.Is(err, errAwaitTimeout):
		return w.failed(out, "timeout", fmt.Sprintf("not complete after %s", timeout))
	case err != nil:
		return w.failed(out, "interrupted", context.Cause(ctx).Error())
	case done:
		out.Completed = true
		out.CompletedAt = w.now()
		w.record(Event{Time: out.CompletedAt, Type: RolloutComplete, Revision: out.Revision, Deployment: w.cfg.Deployment, Detail: msg})
		return out
	}
	return w.failed(out, failed, msg)
}

func (w *Driver) failed(out Outcome, reason, detail string) Outcome {
	out.Reason = reason
	w.record(Event{Time: w.now(), Type: RolloutFailed, Reason: reason, Revision: out.Revision, Deployment: w.cfg.Deployment, Detail: detail})
	return out
}
