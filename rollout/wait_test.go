package rollout

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// controllerStep is what the Deployment controller writes to the status.
type controllerStep func(*appsv1.Deployment)

func observed(replicas, updated, available int32) controllerStep {
	return func(d *appsv1.Deployment) {
		d.Status.ObservedGeneration = d.Generation
		d.Status.Replicas = replicas
		d.Status.UpdatedReplicas = updated
		d.Status.ReadyReplicas = available
		d.Status.AvailableReplicas = available
		d.Annotations[revisionAnnotation] = "2"
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: "True", Reason: "ReplicaSetUpdated"}}
	}
}

func deadlineExceeded(d *appsv1.Deployment) {
	d.Status.ObservedGeneration = d.Generation
	d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: "False", Reason: progressDeadlineExceeded}}
}

// apply writes step to the Deployment as the controller would and waits
// until the Driver's informer has it.
func apply(t *testing.T, cs *fake.Clientset, w *Driver, step controllerStep) {
	t.Helper()
	ctx := context.Background()
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	step(d)
	if _, err := cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "informer to see the status update", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		cur, ok := w.cur.(*appsv1.Deployment)
		return ok && cur.Status.ObservedGeneration == d.Status.ObservedGeneration &&
			cur.Status.UpdatedReplicas == d.Status.UpdatedReplicas &&
			cur.Status.AvailableReplicas == d.Status.AvailableReplicas &&
			progressingReason(cur) == progressingReason(d)
	})
}

func TestWait(t *testing.T) {
	tests := []struct {
		name      string
		steps     []controllerStep // the last one decides; the ones before must not end the wait
		timeout   time.Duration
		cancel    bool
		want      Outcome
		wantEvent EventType
	}{
		{
			name: "completes only after the new generation is observed and rolled out",
			steps: []controllerStep{
				observed(2, 0, 2), // observed, no new replica yet
				observed(3, 1, 2), // surge: one new, two old
				observed(3, 2, 2), // all updated, one old still counted
				observed(2, 2, 1), // old gone, a new one not yet available
				observed(2, 2, 2),
			},
			want:      Outcome{Triggered: true, Completed: true, Revision: "2"},
			wantEvent: RolloutComplete,
		},
		{
			name:      "fails when the progress deadline is exceeded",
			steps:     []controllerStep{observed(3, 1, 2), deadlineExceeded},
			want:      Outcome{Triggered: true, Reason: progressDeadlineExceeded, Revision: "2"},
			wantEvent: RolloutFailed,
		},
		{
			name:      "times out while the old complete status is all there is",
			timeout:   300 * time.Millisecond,
			want:      Outcome{Triggered: true, Reason: "timeout", Revision: "1"},
			wantEvent: RolloutFailed,
		},
		{
			name:      "is interrupted when the context ends",
			cancel:    true,
			want:      Outcome{Triggered: true, Reason: "interrupted", Revision: "1"},
			wantEvent: RolloutFailed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, watching := newClient(t, deployment())
			clock := newClock()
			w := NewDriver(cs, Config{Namespace: ns, Deployment: "web", Action: Action{Kind: ActionRestart}, Now: clock.Now})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := w.Prepare(ctx); err != nil {
				t.Fatal(err)
			}
			if err := w.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			waitWatching(t, watching, "deployments", "replicasets", "pods")
			if err := w.Trigger(ctx); err != nil {
				t.Fatal(err)
			}
			done := make(chan Outcome, 1)
			go func() { done <- w.Wait(ctx, tt.timeout) }()

			for i, step := range tt.steps {
				apply(t, cs, w, step)
				if i == len(tt.steps)-1 {
					break
				}
				// Wait re-evaluates on the same notification that updated
				// the cache; give it the chance to (wrongly) finish.
				select {
				case got := <-done:
					t.Fatalf("Wait ended after step %d of %d: %+v (status %+v)", i+1, len(tt.steps), got, w.Status())
				case <-time.After(20 * time.Millisecond):
				}
			}
			if tt.cancel {
				// The trigger's own update is recorded when the informer
				// delivers it; let it arrive first, or it may land after
				// the rollout-failed event this case looks for.
				waitFor(t, "the trigger's update", func() bool {
					w.mu.Lock()
					defer w.mu.Unlock()
					return w.cur != nil && w.cur.GetGeneration() >= w.minGen
				})
				cancel()
			}
			var got Outcome
			select {
			case got = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("Wait did not end; status %+v", w.Status())
			}
			if got.StartedAt.IsZero() || (got.Completed && !got.CompletedAt.After(got.StartedAt)) {
				t.Errorf("times: started %v completed %v", got.StartedAt, got.CompletedAt)
			}
			got.StartedAt, got.CompletedAt = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("Outcome = %+v, want %+v", got, tt.want)
			}
			ev := w.Events()
			if last := ev[len(ev)-1]; last.Type != tt.wantEvent || last.Reason != tt.want.Reason {
				t.Errorf("last event = %+v, want %s %q", last, tt.wantEvent, tt.want.Reason)
			}
		})
	}
}

func TestRolloutStateFollowsKubectl(t *testing.T) {
	base := func(mod func(*appsv1.Deployment)) *appsv1.Deployment {
		d := deployment()
		mod(d)
		return d
	}
	tests := []struct {
		name     string
		d        *appsv1.Deployment
		minGen   int64
		done     bool
		failed   string
		msgStart string
	}{
		{name: "a complete observed deployment is done", d: deployment(), done: true},
		{name: "a generation newer than observed is waited for", d: base(func(d *appsv1.Deployment) { d.Generation = 2 }), msgStart: "waiting for deployment spec update"},
		{name: "a cache older than the trigger is waited for", d: deployment(), minGen: 2, msgStart: "waiting for deployment spec update"},
		{name: "the progress deadline fails", d: base(deadlineExceeded), failed: progressDeadlineExceeded},
		{name: "too few updated replicas are waited for", d: base(func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 }), msgStart: "1 out of 2 new replicas"},
		{name: "old replicas pending termination are waited for", d: base(func(d *appsv1.Deployment) { d.Status.Replicas = 3 }), msgStart: "1 old replicas"},
		{name: "unavailable updated replicas are waited for", d: base(func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 }), msgStart: "1 of 2 updated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done, failed, msg := rolloutState(tt.d, tt.minGen)
			if done != tt.done || failed != tt.failed || (tt.msgStart != "" && !startsWith(msg, tt.msgStart)) {
				t.Errorf("rolloutState = %v, %q, %q; want %v, %q, %q...", done, failed, msg, tt.done, tt.failed, tt.msgStart)
			}
		})
	}
}

func startsWith(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }
