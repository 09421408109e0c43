package kubelet

import (
	"time"

	v1 "k8s.io/api/core/v1"
)

// spec.activeDeadlineSeconds, enforced as the kubelet's activeDeadlineHandler
// (pkg/kubelet/active_deadline.go) does: once the pod has been active that
// long since its status.startTime, its containers are stopped as on
// deletion (preStop, SIGTERM, SIGKILL at the grace period) and, once they
// are all stopped, the pod is Failed with this reason and message (the
// status manager holds a terminal phase back while containers may run).
// The pod object stays; the API server deletes a terminal pod at once
// when asked. A real kubelet notices at its next one-second sync; this one
// at the deadline.
const (
	deadlineReason  = "DeadlineExceeded"
	deadlineMessage = "Pod was active on the node longer than the specified deadline"
)

// activeDeadline returns when the pod's active deadline passes; ok is
// false without activeDeadlineSeconds or before the pod has started.
func (w *podWorker) activeDeadline() (at time.Time, ok bool) {
	pod := w.latest()
	if pod.Spec.ActiveDeadlineSeconds == nil {
		return time.Time{}, false
	}
	w.mu.Lock()
	start := w.startTime.Time
	w.mu.Unlock()
	// The API's start time prevails, as in the status we write: after a
	// kubelet restart it is the pod's first start.
	if st := pod.Status.StartTime; st != nil && !st.IsZero() {
		start = st.Time
	}
	if start.IsZero() {
		return time.Time{}, false
	}
	return start.Add(time.Duration(*pod.Spec.ActiveDeadlineSeconds) * time.Second), true
}

// deadlineTimer fires at the pod's active deadline; re-armed on every pod
// update, since activeDeadlineSeconds may be set or lowered on a running pod.
type deadlineTimer struct {
	t *time.Timer
	C <-chan time.Time // nil while no deadline is armed
}

func (d *deadlineTimer) arm(at time.Time, ok bool) {
	d.stop()
	if ok {
		d.t = time.NewTimer(time.Until(at))
		d.C = d.t.C
	}
}

func (d *deadlineTimer) stop() {
	if d.t != nil {
		d.t.Stop()
	}
	d.t, d.C = nil, nil
}

// ranToCompletion reports whether the pod ended by itself: every container
// exited and none will be restarted. Such a pod is Succeeded or Failed
// already, and a terminal phase never changes.
func (w *podWorker) ranToCompletion() bool {
	pod := w.latest()
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return true
	}
	policy := pod.Spec.RestartPolicy
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.phase != "" || len(w.containers) == 0 {
		return w.phase != ""
	}
	for _, c := range w.containers {
		if c.sidecar {
			continue
		}
		t := c.state.Terminated
		if t == nil {
			return false
		}
		if policy == v1.RestartPolicyAlways || (policy == v1.RestartPolicyOnFailure && t.ExitCode != 0) {
			return false
		}
	}
	return true
}

// exceedDeadline starts stopping the pod's containers for its active
// deadline; finish then makes it Failed, DeadlineExceeded.
func (w *podWorker) exceedDeadline(pod *v1.Pod) chan struct{} {
	w.mu.Lock()
	w.reason, w.message = deadlineReason, deadlineMessage
	w.mu.Unlock()
	w.logf("active deadline of %ds exceeded", *pod.Spec.ActiveDeadlineSeconds)
	w.event(nil, v1.EventTypeNormal, deadlineReason, deadlineMessage)
	return w.startTermination(pod)
}
