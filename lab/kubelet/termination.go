package kubelet

import (
	"context"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// defaultGrace is terminationGracePeriodSeconds' default.
const defaultGrace = 30 * time.Second

// graceDeadline returns the termination deadline and a channel closed when
// a shorter grace period moves it.
func (w *podWorker) graceDeadline() (time.Time, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deadline, w.deadlineCh
}

// shortenGrace applies a second, shorter deletion grace period: the API
// server only lets it shrink, and so does the deadline.
func (w *podWorker) shortenGrace(pod *v1.Pod) {
	if pod.DeletionGracePeriodSeconds == nil {
		return
	}
	d := time.Now().Add(time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !d.Before(w.deadline) {
		return
	}
	w.deadline = d
	close(w.deadlineCh)
	w.deadlineCh = make(chan struct{})
	w.logf("grace period shortened to %ds", *pod.DeletionGracePeriodSeconds)
}

// startTermination starts the graceful stop of every container in parallel;
// the grace is timed from now, when we observe the deletion.
func (w *podWorker) startTermination(pod *v1.Pod) chan struct{} {
	grace := defaultGrace
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	if pod.DeletionGracePeriodSeconds != nil {
		grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	w.mu.Lock()
	w.terminating = true
	w.deadline = time.Now().Add(grace)
	w.deadlineCh = make(chan struct{})
	w.mu.Unlock()
	w.logf("terminating, grace %s", grace)
	close(w.termCh)
	done := make(chan struct{})
	go func() {
		w.waitContainers()
		close(done)
	}()
	return done
}

// finish sets the terminal phase and, when the pod is being deleted,
// deletes the pod object with grace 0; a pod the kubelet stopped itself
// (its active deadline) stays, Failed.
func (w *podWorker) finish(ctx context.Context) {
	w.awaitRelist(ctx)
	w.mu.Lock()
	phase := v1.PodSucceeded
	for _, c := range w.containers {
		if c.sidecar {
			continue // the phase is the app containers'
		}
		if t := c.state.Terminated; t == nil || t.ExitCode != 0 {
			phase = v1.PodFailed
		}
	}
	reason := w.reason
	if reason != "" {
		phase = v1.PodFailed
	}
	w.phase = phase
	w.mu.Unlock()
	if err := w.syncStatus(ctx); err != nil {
		w.logf("final status: %v", err)
	}
	if w.latest().DeletionTimestamp == nil {
		w.logf("terminated (%s: %s)", phase, reason)
		return
	}
	err := w.k.client.CoreV1().Pods(w.ns).Delete(ctx, w.name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &w.uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		w.logf("delete: %v", err)
	}
	w.logf("terminated (%s), deleted", phase)
}

func (c *container) podGrace() time.Duration {
	if g := c.w.latest().Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return defaultGrace
}

// graceDeadlineFunc reports when a container is to be killed and a channel
// closed when a shorter grace period moves that deadline (nil if it cannot).
type graceDeadlineFunc func() (time.Time, <-chan struct{})

// kill stops proc like kuberuntime's killContainer: preStop first, inside
// the grace period (runPreStop); then SIGTERM; SIGKILL of the process group
// when the (remaining) grace, floored at MinGracePeriod, expires. A preStop
// still running at the deadline thus gets the one-off MinGracePeriod
// extension, during which the process also has SIGTERM.
func (c *container) kill(ctx context.Context, proc *process, deadlineFn graceDeadlineFunc, preStop bool) {
	w := c.w
	deadline, moved := deadlineFn()
	if h := lifecycle(c.spec, true); preStop && h != nil && time.Until(deadline) > 0 {
		var stopHook context.CancelFunc
		deadline, moved, stopHook = c.runPreStop(ctx, proc, h, deadline, moved, deadlineFn)
		defer stopHook() // the hook dies with the container
	}
	if c.sidecar && w.isTerminating() {
		c.waitForTurn(ctx, deadlineFn)
		deadline, moved = deadlineFn()
	}
	proc.signal(syscall.SIGTERM)
	floor := time.Now().Add(w.k.cfg.MinGracePeriod)
	for {
		killAt := deadline
		if killAt.Before(floor) {
			killAt = floor
		}
		t := time.NewTimer(time.Until(killAt))
		select {
		case <-proc.exited:
			t.Stop()
			return
		case <-moved:
			t.Stop()
			deadline, moved = deadlineFn()
			continue
		case <-t.C:
			w.logf("container %s: still running after grace period, SIGKILL", c.spec.Name)
			w.event(nil, v1.EventTypeWarning, "ExceededGracePeriod", "Container runtime did not kill the pod within specified grace period.")
		case <-ctx.Done():
			t.Stop()
		}
		break
	}
	proc.killGroup()
	<-proc.exited
}

// fixedDeadline is a deadline that never moves (liveness kills).
func fixedDeadline(d time.Time) graceDeadlineFunc {
	return func() (time.Time, <-chan struct{}) { return d, nil }
}
