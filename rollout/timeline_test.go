package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

var serverNow = metav1.NewTime(time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC))

func pod(name string, lbls map[string]string) *corev1.Pod {
	ctrl := true
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: ns, Labels: lbls, CreationTimestamp: serverNow,
		OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-abc", Controller: &ctrl}},
	}}
}

func slice(name string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
	}
}

func endpoint(podName, ip string, ready, serving, terminating bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{
		Addresses:  []string{ip},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: podName, Namespace: ns},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
	}
}

// startDriver prepares and starts a Driver on the fake and waits until
// every watch is up.
func startDriver(t *testing.T, cs *fake.Clientset, watching *watches) *Driver {
	t.Helper()
	w := NewDriver(cs, Config{Namespace: ns, Deployment: "web", Action: Action{Kind: ActionRestart}, Now: newClock().Now})
	ctx := context.Background()
	if err := w.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	resources := []string{"deployments", "replicasets", "pods"}
	if len(w.Services()) > 0 {
		resources = append(resources, "endpointslices")
	}
	waitWatching(t, watching, resources...)
	return w
}

func TestTimelineOfOnePodLifecycle(t *testing.T) {
	ctx := context.Background()
	old := pod("web-old", map[string]string{"app": "web"})
	old.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	cs, watching := newClient(t, deployment(), service("web", map[string]string{"app": "web"}), old,
		slice("web-initial", endpoint("web-old", "10.0.0.9", true, true, false)),
		pod("api-1", map[string]string{"app": "api"}))
	w := startDriver(t, cs, watching)

	pods := cs.CoreV1().Pods(ns)
	sliceAPI := cs.DiscoveryV1().EndpointSlices(ns)
	p := pod("web-1", map[string]string{"app": "web", "pod-template-hash": "abc"})
	startedAt := metav1.NewTime(serverNow.Add(2 * time.Second))
	steps := []struct {
		name   string
		change func() error
		want   []EventType
	}{
		{"create pod", func() error { _, err := pods.Create(ctx, p, metav1.CreateOptions{}); return err },
			[]EventType{PodCreated}},
		{"set running", func() error {
			p.Spec.NodeName = "node-1"
			p.Status.PodIP = "10.0.0.1"
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: serverNow}}
			quit := corev1.SIGQUIT
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: startedAt}}, StopSignal: &quit}}
			_, err := pods.Update(ctx, p, metav1.UpdateOptions{})
			return err
		}, []EventType{PodScheduled, ContainerStarted}},
		{"set ready", func() error {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: startedAt})
			p.Status.ContainerStatuses[0].Ready = true
			_, err := pods.Update(ctx, p, metav1.UpdateOptions{})
			return err
		}, []EventType{PodReady}},
		{"add slice endpoint ready", func() error {
			_, err := sliceAPI.Create(ctx, slice("web-x1", endpoint("web-1", "10.0.0.1", true, true, false)), metav1.CreateOptions{})
			return err
		}, []EventType{EndpointAdded}},
		{"set deletionTimestamp", func() error {
			ts := metav1.NewTime(serverNow.Add(40 * time.Second))
			grace := int64(30)
			p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &ts, &grace
			_, err := pods.Update(ctx, p, metav1.UpdateOptions{})
			return err
		}, []EventType{DeletionRequested}},
		{"slice endpoint ready=false serving=true terminating=true", func() error {
			_, err := sliceAPI.Update(ctx, slice("web-x1", endpoint("web-1", "10.0.0.1", false, true, true)), metav1.UpdateOptions{})
			return err
		}, []EventType{EndpointChanged}},
		{"container terminated exit 143", func() error {
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 143, Reason: "Error", FinishedAt: metav1.NewTime(serverNow.Add(12 * time.Second))}}
			p.Status.ContainerStatuses[0].Ready = false
			p.Status.Conditions[1].Status = corev1.ConditionFalse
			_, err := pods.Update(ctx, p, metav1.UpdateOptions{})
			return err
		}, []EventType{ContainerExited, PodNotReady}},
		{"delete pod", func() error { return pods.Delete(ctx, p.Name, metav1.DeleteOptions{}) },
			[]EventType{PodDeleted}},
		{"remove endpoint", func() error {
			_, err := sliceAPI.Update(ctx, slice("web-x1"), metav1.UpdateOptions{})
			return err
		}, []EventType{EndpointRemoved}},
	}

	initial := []EventType{PodReady, EndpointAdded} // snapshots of web-old, marked initial
	want := slices.Clone(initial)
	waitFor(t, "initial snapshots", func() bool { return len(w.Events()) >= len(want) })
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		want = append(want, s.want...)
		waitFor(t, "events after "+s.name, func() bool { return len(w.Events()) >= len(want) })
	}
	ev := w.Events()
	got := eventTypes(ev)
	// The informers deliver their initial lists in no set order.
	slices.Sort(got[:len(initial)])
	slices.Sort(want[:len(initial)])
	if !slices.Equal(got, want) {
		t.Fatalf("event types:\n got %v\nwant %v", got, want)
	}
	for i, e := range ev {
		// Events from one update share its receipt time.
		if i > 0 && e.Time.Before(ev[i-1].Time) {
			t.Errorf("event %d %s at %v is before %v", i, e.Type, e.Time, ev[i-1].Time)
		}
		if i < len(initial) {
			if e.Pod != "web-old" || !e.Initial || e.Detail != "initial" {
				t.Errorf("initial event %d = %+v, want a snapshot of web-old", i, e)
			}
			continue
		}
		if e.Initial {
			t.Errorf("event %d %s is marked initial, but the watch saw it happen", i, e.Type)
		}
		if e.Pod != "web-1" {
			t.Errorf("event %d %s is about pod %q, want web-1", i, e.Type, e.Pod)
		}
	}
	find := func(typ EventType) Event {
		i := slices.IndexFunc(ev, func(e Event) bool { return e.Type == typ && e.Pod == "web-1" })
		return ev[i]
	}
	if e := find(PodCreated); e.ReplicaSet != "web-abc" || e.ServerTime == nil || !e.ServerTime.Equal(serverNow.Time) {
		t.Errorf("pod-created = %+v, want replicaset web-abc and the creation time", e)
	}
	if e := find(ContainerStarted); e.Container != "app" || e.ServerTime == nil || !e.ServerTime.Equal(startedAt.Time) || e.StopSignal != "SIGQUIT" {
		t.Errorf("container-started = %+v, want container app, its start and the stop signal its status reports", e)
	}
	if e := find(DeletionRequested); e.GracePeriod == nil || *e.GracePeriod != 30*time.Second || e.Detail != "grace 30s" || e.ServerTime == nil {
		t.Errorf("deletion-requested = %+v, want grace 30s with the deletion timestamp", e)
	}
	if e := find(ContainerExited); e.ExitCode == nil || *e.ExitCode != 143 || e.Reason != "Error" {
		t.Errorf("container-exited = %+v, want exit 143 reason Error", e)
	}
	if e := find(EndpointChanged); e.Service != "web" || e.IP != "10.0.0.1" || *e.Ready || !*e.Serving || !*e.Terminating {
		t.Errorf("endpoint-changed = %+v, want ready=false serving=true terminating=true", e)
	}
	if e := find(EndpointAdded); !*e.Ready || !*e.Serving || *e.Terminating {
		t.Errorf("endpoint-added = %+v, want ready=true serving=true terminating=false", e)
	}
	if st := w.Status(); st.ReadyEndpoints != 1 || st.Desired != 2 {
		t.Errorf("Status = %+v, want 2 desired and web-old as the one ready endpoint", st)
	}
}

func TestEndpointsAcrossSlices(t *testing.T) {
	// The controller may move an endpoint between slices; that is neither a
	// removal nor an addition.
	ctx := context.Background()
	cs, watching := newClient(t, deployment(), service("web", map[string]string{"app": "web"}))
	w := startDriver(t, cs, watching)
	api := cs.DiscoveryV1().EndpointSlices(ns)
	ep := endpoint("web-1", "10.0.0.1", true, true, false)
	steps := []struct {
		name   string
		change func() error
		want   []EventType
	}{
		{"first slice", func() error { _, err := api.Create(ctx, slice("a", ep), metav1.CreateOptions{}); return err }, []EventType{EndpointAdded}},
		{"second slice with the same endpoint", func() error { _, err := api.Create(ctx, slice("b", ep), metav1.CreateOptions{}); return err }, nil},
		{"first slice deleted", func() error { return api.Delete(ctx, "a", metav1.DeleteOptions{}) }, nil},
		{"endpoint not ready in the second", func() error {
			_, err := api.Update(ctx, slice("b", endpoint("web-1", "10.0.0.1", false, false, false)), metav1.UpdateOptions{})
			return err
		}, []EventType{EndpointChanged}},
		{"second slice deleted", func() error { return api.Delete(ctx, "b", metav1.DeleteOptions{}) }, []EventType{EndpointRemoved}},
	}
	var want []EventType
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		want = append(want, s.want...)
		if s.want == nil {
			// Nothing to wait for: wait until the informer has the change.
			waitFor(t, "informer after "+s.name, func() bool {
				w.mu.Lock()
				defer w.mu.Unlock()
				return len(w.slices["web"]) == map[string]int{"second slice with the same endpoint": 2, "first slice deleted": 1}[s.name]
			})
		}
		waitFor(t, "events after "+s.name, func() bool { return len(w.Events()) >= len(want) })
	}
	if got := eventTypes(w.Events()); !slices.Equal(got, want) {
		t.Fatalf("event types:\n got %v\nwant %v", got, want)
	}
}

func TestReplicaSetAndDeploymentEvents(t *testing.T) {
	ctx := context.Background()
	ctrl := true
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
		Name: "web-new", Namespace: ns, Labels: map[string]string{"app": "web"},
		Annotations:     map[string]string{revisionAnnotation: "2"},
		OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "web", UID: "uid-web", Controller: &ctrl}},
	}, Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(1))}}
	foreign := rs.DeepCopy()
	foreign.Name, foreign.OwnerReferences = "other-rs", nil

	cs, watching := newClient(t, deployment())
	w := startDriver(t, cs, watching)
	rss := cs.AppsV1().ReplicaSets(ns)
	steps := []struct {
		name   string
		change func() error
		want   []EventType
	}{
		{"a ReplicaSet owned by another controller appears", func() error { _, err := rss.Create(ctx, foreign, metav1.CreateOptions{}); return err }, nil},
		{"the new ReplicaSet appears with one replica", func() error { _, err := rss.Create(ctx, rs, metav1.CreateOptions{}); return err }, []EventType{ReplicaSetScaled}},
		{"its status changes", func() error {
			rs.Status.Replicas = 1
			_, err := rss.Update(ctx, rs, metav1.UpdateOptions{})
			return err
		}, nil},
		{"it scales to two", func() error {
			rs.Spec.Replicas = ptr(int32(2))
			_, err := rss.Update(ctx, rs, metav1.UpdateOptions{})
			return err
		}, []EventType{ReplicaSetScaled}},
		{"the deployment status moves", func() error {
			d := deployment()
			d.Status.UpdatedReplicas = 1
			_, err := cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
			return err
		}, []EventType{DeploymentUpdated}},
	}
	var want []EventType
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		want = append(want, s.want...)
		waitFor(t, "events after "+s.name, func() bool { return len(w.Events()) >= len(want) })
	}
	// The steps without events come before ones with: had they produced an
	// event, the list would be longer or out of order.
	ev := w.Events()
	if got := eventTypes(ev); !slices.Equal(got, want) {
		t.Fatalf("event types:\n got %v\nwant %v", got, want)
	}
	if e := ev[1]; e.ReplicaSet != "web-new" || e.Revision != "2" || *e.Replicas != 2 || e.Detail != "1 -> 2" {
		t.Errorf("second scale = %+v", e)
	}
	if st := w.Status(); st.Updated != 1 || !strings.Contains(st.Message, "1 out of 2") {
		t.Errorf("Status = %+v", st)
	}
}

func TestWatchErrorIsAGap(t *testing.T) {
	cs, watching := newClient(t, deployment())
	failed := false
	cs.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		if failed {
			return false, nil, nil
		}
		failed = true // only touched by the one pods reflector goroutine
		return true, nil, errors.New("connection reset by peer")
	})
	w := startDriver(t, cs, watching)
	ev := w.Events()
	i := slices.IndexFunc(ev, func(e Event) bool { return e.Type == WatchGap })
	if i < 0 || !strings.HasPrefix(ev[i].Detail, "pods: ") || !strings.Contains(ev[i].Detail, "connection reset") {
		t.Fatalf("events = %+v, want a watch-gap naming pods and the error", ev)
	}
	// The informer recovers by itself: a pod created now is seen.
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod("web-1", map[string]string{"app": "web"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod-created after the gap", func() bool {
		return slices.ContainsFunc(w.Events(), func(e Event) bool { return e.Type == PodCreated })
	})
}
