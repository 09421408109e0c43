package rollout

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAwaitExternal(t *testing.T) {
	t.Run("a spec change by someone else is taken as the trigger", func(t *testing.T) {
		clock := newClock()
		cs, watching := newClient(t, deployment())
		w := NewDriver(cs, Config{Namespace: ns, Deployment: "web", Action: Action{Kind: ActionWatch}, Now: clock.Now})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := w.Prepare(ctx); err != nil {
			t.Fatal(err)
		}
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		waitWatching(t, watching, "deployments")
		done := make(chan error, 1)
		go func() { done <- w.AwaitExternal(ctx, 10*time.Second) }()
		select {
		case err := <-done:
			t.Fatalf("returned before any change: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Spec.Template.Spec.Containers[0].Image = "web:2"
		d.Generation++
		if _, err := cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		ev := w.Events()
		last := ev[len(ev)-1]
		if last.Type != RolloutTriggered || last.Reason != "watch-only" || !strings.Contains(last.Detail, "someone else") {
			t.Errorf("last event %+v", last)
		}
		if len(patches(cs)) != 0 {
			t.Error("watch-only patched the deployment")
		}
	})
	t.Run("no change times out with a message", func(t *testing.T) {
		cs, watching := newClient(t, deployment())
		w := NewDriver(cs, Config{Namespace: ns, Deployment: "web", Action: Action{Kind: ActionWatch}})
		ctx := context.Background()
		if err := w.Prepare(ctx); err != nil {
			t.Fatal(err)
		}
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		waitWatching(t, watching, "deployments")
		err := w.AwaitExternal(ctx, 100*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "no rollout started") {
			t.Errorf("err = %v", err)
		}
	})
}
