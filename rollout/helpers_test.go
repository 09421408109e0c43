package rollout

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const ns = "default"

// fakeClock ticks one millisecond per reading, so every event has its own
// time and the order of readings is the order of events.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func deployment() *appsv1.Deployment {
	replicas := int32(2)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: ns, UID: "uid-web", Generation: 1,
			Annotations: map[string]string{revisionAnnotation: "1"},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "migrate", Image: "migrate:1"}},
					Containers: []corev1.Container{
						{Name: "app", Image: "app:1"},
						{Name: "sidecar", Image: "proxy:1"},
					},
				},
			},
		},
		Status: appsv1.DeploymentStatus{
			ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
		},
	}
}

func service(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Selector: selector},
	}
}

// newClient returns a fake clientset holding objs that behaves like the API
// server in the two ways the tests rely on: a patch that changes the pod
// template bumps metadata.generation, and watches report when they are
// established (the fake loses events sent between an informer's list and
// its watch, so tests change objects only once every watch is up).
func newClient(t *testing.T, objs ...runtime.Object) (*fake.Clientset, *watches) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	cs.PrependReactor("patch", "deployments", func(action k8stesting.Action) (bool, runtime.Object, error) {
		p := action.(k8stesting.PatchAction)
		gvr := appsv1.SchemeGroupVersion.WithResource("deployments")
		obj, err := cs.Tracker().Get(gvr, p.GetNamespace(), p.GetName())
		if err != nil {
			return true, nil, err
		}
		old := obj.(*appsv1.Deployment)
		orig, err := json.Marshal(old)
		if err != nil {
			return true, nil, err
		}
		patched, err := strategicpatch.StrategicMergePatch(orig, p.GetPatch(), &appsv1.Deployment{})
		if err != nil {
			return true, nil, err
		}
		d := &appsv1.Deployment{}
		if err := json.Unmarshal(patched, d); err != nil {
			return true, nil, err
		}
		if !reflect.DeepEqual(old.Spec, d.Spec) {
			d.Generation++
		}
		if impl, ok := p.(k8stesting.PatchActionImpl); ok && len(impl.PatchOptions.DryRun) > 0 {
			return true, d, nil // a dry run answers without storing
		}
		if err := cs.Tracker().Update(gvr, d, p.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, d, nil
	})
	w := &watches{started: map[string]int{}}
	cs.PrependWatchReactor("*", func(action k8stesting.Action) (bool, watch.Interface, error) {
		wi, err := cs.Tracker().Watch(action.GetResource(), action.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		w.mu.Lock()
		w.started[action.GetResource().Resource]++
		w.mu.Unlock()
		return true, wi, nil
	})
	return cs, w
}

// watches counts the watches established per resource.
type watches struct {
	mu      sync.Mutex
	started map[string]int
}

func (w *watches) count(resource string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.started[resource]
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitWatching waits until every informer of a started Driver has its
// watch up.
func waitWatching(t *testing.T, w *watches, resources ...string) {
	t.Helper()
	for _, r := range resources {
		waitFor(t, "watch on "+r, func() bool { return w.count(r) > 0 })
	}
}

// patches returns the bodies of the deployment patches the client received.
func patches(cs *fake.Clientset) []string {
	var out []string
	for _, a := range cs.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok && a.GetResource().Resource == "deployments" {
			out = append(out, fmt.Sprintf("%s %s", p.GetPatchType(), p.GetPatch()))
		}
	}
	return out
}

func eventTypes(events []Event) []EventType {
	out := make([]EventType, 0, len(events))
	for _, e := range events {
		out = append(out, e.Type)
	}
	return out
}
