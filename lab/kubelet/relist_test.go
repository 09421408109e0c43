package kubelet

import (
	"context"
	"math"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// seenStatus is one pod status the kubelet wrote, with when it was seen.
type seenStatus struct {
	at  time.Time
	pod *v1.Pod
}

// watchStatuses records every version of pod name until the test ends.
func watchStatuses(t *testing.T, h *harness, name string) func() []seenStatus {
	t.Helper()
	w, err := h.client.CoreV1().Pods("default").Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan seenStatus, 1000)
	go func() {
		for e := range w.ResultChan() {
			if p, ok := e.Object.(*v1.Pod); ok && p.Name == name && e.Type == watch.Modified {
				got <- seenStatus{at: time.Now(), pod: p}
			}
		}
		close(got)
	}()
	t.Cleanup(w.Stop)
	return func() []seenStatus {
		var out []seenStatus
		for {
			select {
			case s := <-got:
				out = append(out, s)
			default:
				return out
			}
		}
	}
}

// TestStatusRelistShowsStartsAndExitsAtThePodsRelist: with StatusRelist a
// container's start and exit show in the status only at the pod's relist
// ticks (one phase per pod), its times in whole seconds as a real kubelet
// writes them; readiness is reported at once, so the pod turns not ready
// while its exit is not shown yet, and never shows Ready before Running.
func TestStatusRelistShowsStartsAndExitsAtThePodsRelist(t *testing.T) {
	const period = 700 * time.Millisecond
	h := newHarness(t, func(c *Config) { c.StatusRelist = period })
	statuses := watchStatuses(t, h, "relist")
	h.create(testPod("relist", map[string]string{"ON_SIGTERM": "exit0"}, nil))
	h.waitPod("relist", "Ready=True", isReady)
	h.deleteGracefully("relist", 5)
	h.waitFor("pod deleted by the kubelet", 15*time.Second, func() bool { return h.gone("relist") })

	var running, exited, notReadyRunning time.Time
	for _, s := range statuses() {
		if len(s.pod.Status.ContainerStatuses) == 0 {
			continue
		}
		cs := s.pod.Status.ContainerStatuses[0]
		if cs.Ready && cs.State.Running == nil {
			t.Errorf("at %s the container is Ready but its status shows no start: %+v", s.at.Format(time.StampMilli), cs.State)
		}
		if r := cs.State.Running; r != nil {
			if running.IsZero() {
				running = s.at
			}
			if r.StartedAt.Nanosecond() != 0 {
				t.Errorf("startedAt %s is not whole seconds", r.StartedAt.Format(time.RFC3339Nano))
			}
			if s.pod.DeletionTimestamp != nil && !cs.Ready && notReadyRunning.IsZero() {
				notReadyRunning = s.at
			}
		}
		if x := cs.State.Terminated; x != nil && exited.IsZero() {
			exited = s.at
			if x.FinishedAt.Nanosecond() != 0 || x.StartedAt.Nanosecond() != 0 {
				t.Errorf("terminated %s–%s is not whole seconds", x.StartedAt.Format(time.RFC3339Nano), x.FinishedAt.Format(time.RFC3339Nano))
			}
		}
	}
	if running.IsZero() || exited.IsZero() {
		t.Fatalf("statuses show running at %v and exited at %v; want both", running, exited)
	}
	// The start and the exit were taken in at ticks of the same relist.
	ticks := exited.Sub(running).Seconds() / period.Seconds()
	if off := math.Abs(ticks - math.Round(ticks)); off*period.Seconds() > 0.15 {
		t.Errorf("start shown at %s and exit at %s: %.2f periods apart, not at the pod's relist ticks", running.Format(time.StampMilli), exited.Format(time.StampMilli), ticks)
	}
	// Readiness went first: the exit showed only at the next relist.
	if notReadyRunning.IsZero() {
		t.Errorf("no status showed the pod not ready before its exit")
	} else if d := exited.Sub(notReadyRunning); d < 0 || d > period+150*time.Millisecond {
		t.Errorf("exit shown %s after the pod turned not ready, want within one relist (%s)", d, period)
	}
}
