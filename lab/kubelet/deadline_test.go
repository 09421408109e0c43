package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func isFailed(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed }

// checkDeadlineExceeded: the pod is Failed, DeadlineExceeded, its container
// stopped, and the object is still there (only deletion removes it).
func checkDeadlineExceeded(t *testing.T, h *harness, p *v1.Pod) {
	t.Helper()
	if p.Status.Reason != deadlineReason || p.Status.Message != "Pod was active on the node longer than the specified deadline" {
		t.Errorf("reason %q message %q, want the kubelet's DeadlineExceeded", p.Status.Reason, p.Status.Message)
	}
	if p.DeletionTimestamp != nil {
		t.Errorf("the kubelet deleted the pod; it must stay, Failed")
	}
	cs := p.Status.ContainerStatuses
	if len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].Ready || isReady(p) {
		t.Errorf("container %+v ready %v, want terminated and not ready", cs, isReady(p))
	}
	h.waitFor("DeadlineExceeded event", 5*time.Second, func() bool { return len(h.events(deadlineReason)) > 0 })
}

// TestActiveDeadlineStopsThePodAndFailsIt: past spec.activeDeadlineSeconds
// from its start time the pod's container is stopped as on deletion
// (preStop, then SIGTERM) and the pod is Failed, DeadlineExceeded, even
// though its process exited 0; the object stays.
func TestActiveDeadlineStopsThePodAndFailsIt(t *testing.T) {
	h := newHarness(t, nil)
	created := time.Now()
	h.create(testPod("deadline", map[string]string{"ON_SIGTERM": "exit0"}, func(p *v1.Pod) {
		p.Spec.ActiveDeadlineSeconds = ptr.To[int64](4)
		p.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{
			Command: []string{"/bin/sh", "-c", "echo prestop >> events.txt"},
		}}}
	}))
	h.waitPod("deadline", "Ready=True", isReady)
	if p, _ := h.get("deadline"); isFailed(p) {
		t.Fatal("Failed before its deadline")
	}
	p := h.waitPod("deadline", "phase Failed", isFailed)
	took := time.Since(created)
	// status.startTime has whole seconds: the deadline is 3-4s after the start.
	if took < 3*time.Second || took > 10*time.Second {
		t.Errorf("Failed %s after creation, want about its 4s deadline", took)
	}
	checkDeadlineExceeded(t, h, p)
	if term := p.Status.ContainerStatuses[0].State.Terminated; term.ExitCode != 0 {
		t.Errorf("exit %d, want 0 (the process handled SIGTERM)", term.ExitCode)
	}
	b, _ := os.ReadFile(filepath.Join(h.dir, "pods", "default_deadline", "events.txt"))
	if got := string(b); got != "prestop\nsigterm\n" {
		t.Errorf("events.txt = %q, want preStop then SIGTERM", got)
	}
}

// TestActiveDeadlineLoweredOnARunningPod: activeDeadlineSeconds may be set
// or lowered on a running pod; a deadline already past stops it at once.
func TestActiveDeadlineLoweredOnARunningPod(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("lowered", nil, nil))
	p := h.waitPod("lowered", "Ready=True and started 1s ago", func(p *v1.Pod) bool {
		return isReady(p) && p.Status.StartTime != nil && time.Since(p.Status.StartTime.Time) > time.Second
	})
	p.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
	if _, err := h.client.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	lowered := time.Now()
	p = h.waitPod("lowered", "phase Failed", isFailed)
	if took := time.Since(lowered); took > 3*time.Second {
		t.Errorf("Failed %s after the deadline was lowered below its age, want at once", took)
	}
	checkDeadlineExceeded(t, h, p)
	if code := p.Status.ContainerStatuses[0].State.Terminated.ExitCode; code != 143 {
		t.Errorf("exit %d, want 143 (killed by SIGTERM)", code)
	}
}

// TestActiveDeadlineLeavesAFinishedPodAlone: a pod that ran to completion
// before its deadline stays Succeeded; a terminal phase never changes.
func TestActiveDeadlineLeavesAFinishedPodAlone(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("done", nil, func(p *v1.Pod) {
		p.Spec.RestartPolicy = v1.RestartPolicyNever
		// At least 2s after its start (the start time is rounded down).
		p.Spec.ActiveDeadlineSeconds = ptr.To[int64](3)
		c := &p.Spec.Containers[0]
		c.ReadinessProbe, c.Ports = nil, nil
		c.Env = []v1.EnvVar{{Name: "LAB_HELPER", Value: "exit"}, {Name: "EXIT_CODE", Value: "0"}}
	}))
	p := h.waitPod("done", "phase Succeeded", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	// Wait until its deadline has passed, then check nothing changed.
	past := p.Status.StartTime.Add(3*time.Second + 500*time.Millisecond)
	h.waitFor("the deadline to pass", 5*time.Second, func() bool { return time.Now().After(past) })
	if p, _ = h.get("done"); p.Status.Phase != v1.PodSucceeded || p.Status.Reason != "" {
		t.Errorf("phase %s reason %q after the deadline, want Succeeded kept", p.Status.Phase, p.Status.Reason)
	}
	if n := len(h.events(deadlineReason)); n != 0 {
		t.Errorf("%d DeadlineExceeded events for a pod that had ended", n)
	}
}
