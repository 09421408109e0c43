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
	"k8s.io/apimachinery/pkg/runtime"
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
	// The report reads the typed fields, never Detail.
	if g[0].Watch != "pods" || g[0].Resumed || g[1].Watch != "pods" || !g[1].Resumed ||
		g[1].GapStart == nil || !g[1].GapStart.Equal(g[0].Time) {
		t.Errorf("typed gap fields: begin %q resumed=%v, end %q resumed=%v start %v; want pods, false, pods, true, %v",
			g[0].Watch, g[0].Resumed, g[1].Watch, g[1].Resumed, g[1].GapStart, g[0].Time)
	}
	// The informer works after the gap: a pod created now is seen.
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod("web-1", map[string]string{"app": "web"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod-created after the gap", func() bool {
		return slices.ContainsFunc(w.Events(), func(e Event) bool { return e.Type == PodCreated })
	})
}

// A relist that fails reaches the watch error handler, not the watch call:
// it begins a gap as well, and the next watch that works ends it.
func TestFailedRelistIsAGapWithItsEnd(t *testing.T) {
	cs, watching := newClient(t, deployment())
	var watchCalls, listCalls atomic.Int32
	cs.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		if watchCalls.Add(1) == 1 {
			w := watch.NewFake()
			w.Stop() // the stream ends at once: the reflector relists
			return true, w, nil
		}
		return false, nil, nil
	})
	cs.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if n := listCalls.Add(1); n == 2 {
			return true, nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
		}
		return false, nil, nil
	})
	w := NewDriver(cs, Config{Namespace: ns, Deployment: "web", Action: Action{Kind: ActionRestart}, Now: newClock().Now})
	if err := w.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	waitWatching(t, watching, "pods")
	var g []Event
	waitFor(t, "the pods watch to resume after the failed relist", func() bool {
		g = g[:0]
		for _, e := range w.Events() {
			if e.Type == WatchGap {
				g = append(g, e)
			}
		}
		return len(g) == 2
	})
	if g[0].Watch != "pods" || g[0].Resumed || !strings.Contains(g[0].Detail, "connection refused") ||
		!g[1].Resumed || g[1].GapStart == nil || !g[1].GapStart.Equal(g[0].Time) {
		t.Errorf("watch-gap events = %+v, want the failed relist's gap and its end", g)
	}
}
