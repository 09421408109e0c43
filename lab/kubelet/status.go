package kubelet

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// statusLoop writes the pod status whenever it is marked dirty.
func (w *podWorker) statusLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.dirty:
		}
		if err := w.syncStatus(ctx); err != nil && ctx.Err() == nil {
			w.logf("update status: %v (retrying)", err)
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			w.markDirty()
		}
	}
}

// syncStatus merges our part of the status into a fresh copy of the pod
// (keeping conditions we do not own, such as readiness gates) and writes it
// if it changed.
func (w *podWorker) syncStatus(ctx context.Context) error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	pods := w.k.client.CoreV1().Pods(w.ns)
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		fresh, err := pods.Get(ctx, w.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if fresh.UID != w.uid {
			return nil
		}
		st := w.mergeStatus(fresh)
		if apiequality.Semantic.DeepEqual(st, fresh.Status) {
			return nil
		}
		fresh.Status = st
		_, err = pods.UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// mergeStatus computes the pod status from the runtime state on top of
// fresh.Status.
func (w *podWorker) mergeStatus(fresh *v1.Pod) v1.PodStatus {
	now := metav1.Now().Rfc3339Copy()
	st := *fresh.Status.DeepCopy()
	w.mu.Lock()
	defer w.mu.Unlock()

	if w.ip != "" {
		st.PodIP = w.ip
		st.PodIPs = []v1.PodIP{{IP: w.ip}}
	}
	st.HostIP = nodeIP
	st.HostIPs = []v1.HostIP{{IP: nodeIP}}
	if st.StartTime == nil && !w.startTime.IsZero() {
		t := w.startTime
		st.StartTime = &t
	}

	var statuses, sidecars []v1.ContainerStatus
	var unready []string
	anyRunning, anyRan := false, false
	allExited, allZero := len(w.containers) > 0, true
	for _, c := range w.containers {
		seen, current := c.reportedLocked()
		ready := c.ready && current
		// The phase follows what the relist has shown, as the states do,
		// of the app containers alone.
		if t := seen.state.Terminated; !c.sidecar && t == nil {
			allExited = false
		} else if !c.sidecar && t.ExitCode != 0 {
			allZero = false
		}
		cs := v1.ContainerStatus{
			Name:                 c.spec.Name,
			State:                seen.state,
			LastTerminationState: seen.last,
			Ready:                ready,
			RestartCount:         seen.restarts,
			Image:                c.spec.Image,
		}
		started := c.started && current
		cs.Started = &started
		if seen.pid != 0 {
			cs.ContainerID = fmt.Sprintf("lab://%d", seen.pid)
			cs.ImageID = "lab://" + c.spec.Image
		}
		if seen.state.Running != nil {
			anyRunning = true
		}
		if seen.pid != 0 {
			anyRan = true
		}
		if !ready {
			unready = append(unready, c.spec.Name)
		}
		if c.sidecar {
			sidecars = append(sidecars, cs)
		} else {
			statuses = append(statuses, cs)
		}
	}
	st.ContainerStatuses, st.InitContainerStatuses = statuses, sidecars

	policy := fresh.Spec.RestartPolicy
	switch {
	case w.phase != "":
		st.Phase = w.phase
		if w.reason != "" {
			st.Reason, st.Message = w.reason, w.message
		}
	case allExited && allZero && policy != v1.RestartPolicyAlways:
		// Every container exited and none will restart: the pod is done,
		// as a real kubelet reports it (a Job's pod, an attacker).
		st.Phase = v1.PodSucceeded
	case allExited && !allZero && policy == v1.RestartPolicyNever:
		st.Phase = v1.PodFailed
	case anyRunning || anyRan:
		st.Phase = v1.PodRunning
	default:
		st.Phase = v1.PodPending
	}

	set := func(t v1.PodConditionType, ok bool, reason, msg string) {
		status := v1.ConditionFalse
		if ok {
			status = v1.ConditionTrue
			reason, msg = "", ""
		}
		setCondition(&st, v1.PodCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: now})
	}
	if podCondition(&st, v1.PodScheduled) == nil {
		set(v1.PodScheduled, true, "", "")
	}
	set(v1.PodReadyToStartContainers, w.sandbox && w.phase == "", "", "")
	if w.initialized || len(sidecars) == 0 {
		set(v1.PodInitialized, true, "", "")
	} else {
		var waiting []string
		for _, cs := range sidecars {
			if !*cs.Started {
				waiting = append(waiting, cs.Name)
			}
		}
		set(v1.PodInitialized, false, "ContainersNotInitialized", "containers with incomplete status: ["+strings.Join(waiting, " ")+"]")
	}

	terminal := w.phase != ""
	containersReady := len(unready) == 0 && !terminal
	msg := ""
	reason := "ContainersNotReady"
	if terminal {
		reason = "PodCompleted"
	} else if len(unready) > 0 {
		msg = fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	}
	set(v1.ContainersReady, containersReady, reason, msg)

	ready, readyReason, readyMsg := containersReady, reason, msg
	if ready {
		var gateMsgs []string
		for _, g := range fresh.Spec.ReadinessGates {
			c := podCondition(&st, g.ConditionType)
			switch {
			case c == nil:
				gateMsgs = append(gateMsgs, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", g.ConditionType))
			case c.Status != v1.ConditionTrue:
				gateMsgs = append(gateMsgs, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %s", g.ConditionType, c.Status))
			}
		}
		if len(gateMsgs) > 0 {
			ready, readyReason, readyMsg = false, "ReadinessGatesNotReady", strings.Join(gateMsgs, ", ")
		}
	}
	set(v1.PodReady, ready, readyReason, readyMsg)
	return st
}

func podCondition(st *v1.PodStatus, t v1.PodConditionType) *v1.PodCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setCondition replaces a condition, keeping its transition time when the
// status did not change.
func setCondition(st *v1.PodStatus, c v1.PodCondition) {
	if old := podCondition(st, c.Type); old != nil {
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		c.LastProbeTime = old.LastProbeTime
		*old = c
		return
	}
	st.Conditions = append(st.Conditions, c)
	order := map[v1.PodConditionType]int{
		v1.PodReadyToStartContainers: 0, v1.PodInitialized: 1, v1.PodReady: 2, v1.ContainersReady: 3, v1.PodScheduled: 4,
	}
	rank := func(t v1.PodConditionType) int {
		if r, ok := order[t]; ok {
			return r
		}
		return 5
	}
	sort.SliceStable(st.Conditions, func(i, j int) bool { return rank(st.Conditions[i].Type) < rank(st.Conditions[j].Type) })
}
