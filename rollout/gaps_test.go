package rollout

import (
	"context"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"
)

// A refused watch is what an informer sees while the API server restarts.
// The reflector retries it silently, without the watch error handler, so
// the timeline shows it only because gapNoting records the first refusal
// and the resumption.
func TestRefusedWatchIsAGapWithItsEnd(t *testing.T) {
	cs, watching := newClient(t, deployment())
	var calls atomic.Int32
	cs.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		if calls.Add(1) <= 2 {
			return true, nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
		}
		return false, nil, nil
	})
	w := startDriver(t, cs, watching)
	gaps := func() []Event {
		var out []Event
		for _, e := range w.Events() {
			if e.Type == WatchGap {
				out = append(out, e)
			}
		}
		return out
	}
	waitFor(t, "the watch to resume", func() bool {
		return slices.ContainsFunc(gaps(), func(e Event) bool { return strings.Contains(e.Detail, "resumed") })
	})
	g := gaps()
	if len(g) != 2 || !strings.HasPrefix(g[0].Detail, "pods: watch failed: ") || !strings.Contains(g[0].Detail, "connection refused") ||
		!strings.HasPrefix(g[1].Detail, "pods: watch resumed after ") {
		t.Fatalf("watch-gap events = %+v, want one for the first refusal and one for the resumption", g)
	}
	// The informer works after the gap: a pod created now is seen.
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod("web-1", map[string]string{"app": "web"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod-created after the gap", func() bool {
		return slices.ContainsFunc(w.Events(), func(e Event) bool { return e.Type == PodCreated })
	})
}
