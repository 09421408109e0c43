package rollout

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// onPod records what changed since the last copy of the pod this Recorder
// saw. Comparing with its own copy rather than the informer's old object
// lets a delete, whose final state may carry changes never delivered as
// updates, be diffed the same way.
func (r *Recorder) onPod(obj any, initial bool) {
	t := r.now()
	pod, ok := obj.(*corev1.Pod)
	if !ok || !r.selector.Matches(labels.Set(pod.Labels)) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.pods[pod.Name]
	r.pods[pod.Name] = pod
	r.notifyLocked()
	if initial {
		r.recordLocked(podSnapshot(t, pod))
		if pod.DeletionTimestamp != nil {
			e := deletionEvent(t, pod)
			e.Initial = true
			e.Detail += ", initial"
			r.recordLocked(e)
		}
		return
	}
	for _, e := range podEvents(t, old, pod) {
		r.recordLocked(e)
	}
}

func (r *Recorder) onPodDelete(obj any) {
	t := r.now()
	unknown := false
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, unknown = tomb.Obj, true
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok || !r.selector.Matches(labels.Set(pod.Labels)) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old, seen := r.pods[pod.Name]
	delete(r.pods, pod.Name)
	r.gone[pod.Name] = pod.UID
	r.notifyLocked()
	if !unknown && seen {
		for _, e := range podEvents(t, old, pod) {
			if e.Type != PodCreated {
				r.recordLocked(e)
			}
		}
	}
	e := podEvent(t, PodDeleted, pod)
	if unknown {
		// The watch missed the delete; the object is the last one seen
		// before the relist, so nothing more can be said about its end.
		e.Detail = "final state unknown"
	}
	r.recordLocked(e)
}

// podEvent is an event about pod with the fields every pod event has.
func podEvent(t time.Time, typ EventType, pod *corev1.Pod) Event {
	e := Event{Time: t, Type: typ, Pod: pod.Name, IP: pod.Status.PodIP, Node: pod.Spec.NodeName}
	if ref := metav1.GetControllerOf(pod); ref != nil && ref.Kind == "ReplicaSet" {
		e.ReplicaSet = ref.Name
	}
	return e
}

// podSnapshot describes a pod that existed before the watch started.
func podSnapshot(t time.Time, pod *corev1.Pod) Event {
	typ := PodNotReady
	cond := podCondition(pod, corev1.PodReady)
	if cond != nil && cond.Status == corev1.ConditionTrue {
		typ = PodReady
	}
	e := podEvent(t, typ, pod)
	e.Initial = true
	e.Detail = "initial"
	e.ServerTime = serverTime(pod.CreationTimestamp)
	return e
}

func deletionEvent(t time.Time, pod *corev1.Pod) Event {
	e := podEvent(t, DeletionRequested, pod)
	e.ServerTime = serverTime(*pod.DeletionTimestamp)
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		e.GracePeriod = ptr(time.Duration(*g) * time.Second)
		e.Detail = fmt.Sprintf("grace %ds", *g)
	} else {
		e.Detail = "grace unknown"
	}
	return e
}

// podEvents lists the transitions from old (nil: not seen before) to pod in
// lifecycle order.
func podEvents(t time.Time, old, pod *corev1.Pod) []Event {
	var out []Event
	if old == nil {
		e := podEvent(t, PodCreated, pod)
		e.ServerTime = serverTime(pod.CreationTimestamp)
		out = append(out, e)
		old = &corev1.Pod{}
	}
	if !scheduled(old) && scheduled(pod) {
		e := podEvent(t, PodScheduled, pod)
		e.Detail = pod.Spec.NodeName
		if c := podCondition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionTrue {
			e.ServerTime = serverTime(c.LastTransitionTime)
		}
		out = append(out, e)
	}
	oldStatuses := map[string]corev1.ContainerStatus{}
	for _, cs := range old.Status.ContainerStatuses {
		oldStatuses[cs.Name] = cs
	}
	var exits []Event
	for _, cs := range pod.Status.ContainerStatuses {
		prev := oldStatuses[cs.Name]
		if run := cs.State.Running; run != nil && (prev.State.Running == nil || !prev.State.Running.StartedAt.Equal(&run.StartedAt)) {
			e := podEvent(t, ContainerStarted, pod)
			e.Container = cs.Name
			e.ServerTime = serverTime(run.StartedAt)
			if cs.StopSignal != nil {
				e.StopSignal = string(*cs.StopSignal)
			}
			if cs.RestartCount > 0 {
				e.Detail = fmt.Sprintf("restart %d", cs.RestartCount)
			}
			out = append(out, e)
		}
		// A container that restarted between two updates shows its exit
		// only in lastState.
		term := cs.State.Terminated
		if term == nil && cs.RestartCount > prev.RestartCount {
			term = cs.LastTerminationState.Terminated
		}
		if term != nil && (prev.State.Terminated == nil || !prev.State.Terminated.FinishedAt.Equal(&term.FinishedAt)) {
			e := podEvent(t, ContainerExited, pod)
			e.Container = cs.Name
			e.ExitCode = ptr(term.ExitCode)
			e.Reason = term.Reason
			e.ServerTime = serverTime(term.FinishedAt)
			if term.Signal != 0 {
				e.Detail = fmt.Sprintf("signal %d", term.Signal)
			}
			exits = append(exits, e)
		}
	}
	oldReady, newReady := isReady(old), isReady(pod)
	var readiness []Event
	if oldReady != newReady {
		typ := PodNotReady
		if newReady {
			typ = PodReady
		}
		e := podEvent(t, typ, pod)
		if c := podCondition(pod, corev1.PodReady); c != nil {
			e.ServerTime = serverTime(c.LastTransitionTime)
			e.Reason = c.Reason
		}
		readiness = append(readiness, e)
	}
	deletion := old.DeletionTimestamp == nil && pod.DeletionTimestamp != nil
	// Order within one update follows the lifecycle: a pod becomes ready
	// after it starts; a deleted pod is asked to stop before it exits and
	// becomes not ready.
	if newReady {
		out = append(out, readiness...)
	}
	if deletion {
		out = append(out, deletionEvent(t, pod))
	}
	out = append(out, exits...)
	if !newReady {
		out = append(out, readiness...)
	}
	return out
}

func scheduled(pod *corev1.Pod) bool {
	if pod.Spec.NodeName != "" {
		return true
	}
	c := podCondition(pod, corev1.PodScheduled)
	return c != nil && c.Status == corev1.ConditionTrue
}

func isReady(pod *corev1.Pod) bool {
	c := podCondition(pod, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// serverTime keeps a server timestamp as secondary evidence; zero is absent.
func serverTime(t metav1.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	v := t.Time
	return &v
}

func ptr[T any](v T) *T { return &v }
