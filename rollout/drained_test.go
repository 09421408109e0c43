package rollout

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestWaitDrainedWaitsForTheRemovedPodAndItsEndpoint: "complete" by kubectl
// comes while an old pod is still terminating; the drain is over only when
// the pod is deleted and its endpoint has left the Service's slices.
func TestWaitDrainedWaitsForTheRemovedPodAndItsEndpoint(t *testing.T) {
	ctx := context.Background()
	old := pod("web-old", map[string]string{"app": "web"})
	cs, watching := newClient(t, deployment(), service("web", map[string]string{"app": "web"}), old,
		slice("web-x", endpoint("web-old", "10.0.0.9", true, true, false)))
	w := startDriver(t, cs, watching)
	if _, err := w.WaitDrained(ctx, time.Millisecond); err != nil {
		t.Fatalf("nothing removed yet, but: %v", err)
	}

	pods, slices := cs.CoreV1().Pods(ns), cs.DiscoveryV1().EndpointSlices(ns)
	ts := metav1.NewTime(serverNow.Add(30 * time.Second))
	old.DeletionTimestamp = &ts
	if _, err := pods.Update(ctx, old, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := slices.Update(ctx, slice("web-x", endpoint("web-old", "10.0.0.9", false, true, true)), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion and the terminating endpoint to be seen", func() bool {
		_, err := w.WaitDrained(ctx, time.Millisecond)
		return err != nil && strings.Contains(err.Error(), "pod web-old terminating") && strings.Contains(err.Error(), "endpoint web-old of service web terminating")
	})
	if _, err := w.WaitDrained(ctx, 10*time.Millisecond); !errors.Is(err, ErrNotDrained) {
		t.Errorf("error %v, want ErrNotDrained", err)
	}

	if err := pods.Delete(ctx, old.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted pod's endpoint to be the only thing left", func() bool {
		_, err := w.WaitDrained(ctx, time.Millisecond)
		return err != nil && !strings.Contains(err.Error(), "pod web-old terminating")
	})
	// The endpoint, still listed, is left: a load balancer may route to it.
	if _, err := slices.Update(ctx, slice("web-x"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WaitDrained(ctx, 10*time.Second); err != nil {
		t.Errorf("after the pod and its endpoint are gone: %v", err)
	}
}
