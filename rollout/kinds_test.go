package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func statefulSet() *appsv1.StatefulSet {
	replicas, partition := int32(3), int32(0)
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns, UID: "uid-db", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "db:1"}}},
			},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &partition}},
		},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, UpdatedReplicas: 3,
			CurrentReplicas: 3, CurrentRevision: "db-1", UpdateRevision: "db-1"},
	}
}

func daemonSet() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns, UID: "uid-agent", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "agent:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberReady: 2, NumberAvailable: 2},
	}
}

func TestStatefulSetCompletionFollowsKubectl(t *testing.T) {
	tests := []struct {
		name   string
		change func(*appsv1.StatefulSet)
		minGen int64
		done   bool
		msg    string
	}{
		{"a status never observed is not complete", func(s *appsv1.StatefulSet) { s.Status.ObservedGeneration = 0 }, 0, false, "spec update to be observed"},
		{"a newer generation than observed is not complete", func(s *appsv1.StatefulSet) { s.Generation = 2 }, 0, false, "spec update to be observed"},
		{"the generation the trigger produced must be seen first", func(*appsv1.StatefulSet) {}, 2, false, "spec update to be observed"},
		{"every replica must be ready", func(s *appsv1.StatefulSet) { s.Status.ReadyReplicas = 2 }, 0, false, "waiting for 1 pods to be ready"},
		{"replicas - partition pods must be updated", func(s *appsv1.StatefulSet) { s.Status.UpdatedReplicas = 2 }, 0, false, "2 out of 3 new pods"},
		{"a partition leaves the lower ordinals out", func(s *appsv1.StatefulSet) {
			p := int32(2)
			s.Spec.UpdateStrategy.RollingUpdate.Partition = &p
			s.Status.UpdatedReplicas = 1
		}, 0, true, "partitioned roll out complete: 1 new pods"},
		{"all updated and ready is complete", func(*appsv1.StatefulSet) {}, 1, true, "partitioned roll out complete: 3 new pods"},
		{"without a rollingUpdate the update revision must be current", func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = nil
			s.Status.UpdateRevision = "db-2"
		}, 0, false, "rolling update to complete 3 pods at revision db-2"},
		{"without a rollingUpdate the same revisions are complete", func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate = nil }, 0, true, "rolling update complete 3 pods at revision db-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := statefulSet()
			tt.change(s)
			done, failed, msg := stateOf(s, tt.minGen)
			if done != tt.done || failed != "" || !strings.Contains(msg, tt.msg) {
				t.Errorf("done %v failed %q msg %q; want %v with %q", done, failed, msg, tt.done, tt.msg)
			}
		})
	}
}

func TestDaemonSetCompletionFollowsKubectl(t *testing.T) {
	tests := []struct {
		name   string
		change func(*appsv1.DaemonSet)
		minGen int64
		done   bool
		msg    string
	}{
		{"a newer generation than observed is not complete", func(d *appsv1.DaemonSet) { d.Generation = 2 }, 0, false, "spec update to be observed"},
		{"the generation the trigger produced must be seen first", func(*appsv1.DaemonSet) {}, 2, false, "spec update to be observed"},
		{"every scheduled node must run an updated pod", func(d *appsv1.DaemonSet) { d.Status.UpdatedNumberScheduled = 1 }, 0, false, "1 out of 2 new pods have been updated"},
		{"every scheduled node's pod must be available", func(d *appsv1.DaemonSet) { d.Status.NumberAvailable = 1 }, 0, false, "1 of 2 updated pods are available"},
		{"all updated and available is complete", func(*appsv1.DaemonSet) {}, 1, true, `daemon set "agent" successfully rolled out`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := daemonSet()
			tt.change(d)
			done, failed, msg := stateOf(d, tt.minGen)
			if done != tt.done || failed != "" || !strings.Contains(msg, tt.msg) {
				t.Errorf("done %v failed %q msg %q; want %v with %q", done, failed, msg, tt.done, tt.msg)
			}
		})
	}
}

func TestParseWorkload(t *testing.T) {
	for in, want := range map[string]string{
		"web": "deployment/web", "deploy/web": "deployment/web", "statefulset/db": "statefulset/db", "sts/db": "statefulset/db",
		"statefulsets.apps/db": "statefulset/db", "ds/agent": "daemonset/agent", "DaemonSet/agent": "daemonset/agent", "daemonsets.apps/agent": "daemonset/agent",
	} {
		kind, name, err := ParseWorkload(in)
		if err != nil || kind.Ref(name) != want {
			t.Errorf("ParseWorkload(%q) = %s, %v; want %s", in, kind.Ref(name), err, want)
		}
	}
	for _, in := range []string{"cronjob/x", "sts/", "ds/Bad_Name"} {
		if _, _, err := ParseWorkload(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseWorkload(%q): %v, want ErrInvalid", in, err)
		}
	}
}

func TestKindPermissionsNameTheKindsResource(t *testing.T) {
	for kind, resource := range map[Kind]string{KindStatefulSet: "statefulsets", KindDaemonSet: "daemonsets", KindDeployment: "deployments"} {
		var got []string
		for _, p := range KindPermissions(kind, AccessRollout, ns, "x") {
			got = append(got, p.Verb+" "+p.Resource)
			if p.Resource == "deployments" && kind != KindDeployment {
				t.Errorf("%s asks for %s", kind, p)
			}
		}
		all := strings.Join(got, ",")
		for _, want := range []string{"get " + resource, "patch " + resource, "list " + resource, "watch " + resource, "watch pods", "watch endpointslices"} {
			if !strings.Contains(all, want) {
				t.Errorf("%s: no %q in %s", kind, want, all)
			}
		}
		if hasRS := strings.Contains(all, "replicasets"); hasRS != (kind == KindDeployment) {
			t.Errorf("%s: replicasets asked %v", kind, hasRS)
		}
		for _, p := range KindPermissions(kind, AccessWatch, ns, "x") {
			if p.Verb == "patch" {
				t.Errorf("%s watch-only asks for %s", kind, p)
			}
		}
	}
}

// onPatch makes cs apply strategic merge patches to resource's objects as
// the API server does, bumping metadata.generation when the spec changes.
func onPatch[T interface {
	runtime.Object
	metav1.Object
}](cs *fake.Clientset, resource string, newObj func() T) {
	gvr := appsv1.SchemeGroupVersion.WithResource(resource)
	cs.PrependReactor("patch", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchAction)
		obj, err := cs.Tracker().Get(gvr, p.GetNamespace(), p.GetName())
		if err != nil {
			return true, nil, err
		}
		orig, err := json.Marshal(obj)
		if err != nil {
			return true, nil, err
		}
		patched, err := strategicpatch.StrategicMergePatch(orig, p.GetPatch(), newObj())
		if err != nil {
			return true, nil, err
		}
		out := newObj()
		if err := json.Unmarshal(patched, out); err != nil {
			return true, nil, err
		}
		var before, after map[string]any
		_ = json.Unmarshal(orig, &before)
		_ = json.Unmarshal(patched, &after)
		if !reflect.DeepEqual(before["spec"], after["spec"]) {
			out.SetGeneration(out.GetGeneration() + 1)
		}
		return true, out, cs.Tracker().Update(gvr, out, p.GetNamespace())
	})
}

func TestOnDeleteIsRefusedBeforeAnyChange(t *testing.T) {
	sts := statefulSet()
	sts.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	ds := daemonSet()
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	for _, tc := range []struct {
		kind Kind
		name string
		obj  runtime.Object
	}{{KindStatefulSet, "db", sts}, {KindDaemonSet, "agent", ds}} {
		for _, a := range []Action{{Kind: ActionRestart}, {Kind: ActionSetImage, Images: map[string]string{"app": "x:2"}}, {Kind: ActionWatch}} {
			t.Run(string(tc.kind)+" "+string(a.Kind), func(t *testing.T) {
				cs, _ := newClient(t, tc.obj)
				w := NewDriver(cs, Config{Namespace: ns, Kind: tc.kind, Deployment: tc.name, Action: a})
				err := w.Prepare(context.Background())
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "OnDelete") || !strings.Contains(err.Error(), "nothing would roll") {
					t.Fatalf("Prepare: %v, want ErrInvalid naming OnDelete", err)
				}
				for _, act := range cs.Actions() {
					if act.GetVerb() != "get" && act.GetVerb() != "list" {
						t.Errorf("changed the cluster: %s %s", act.GetVerb(), act.GetResource().Resource)
					}
				}
			})
		}
	}
}

// TestRestartOfEachKindPatchesItsTemplateAndWaitsForItsRules drives a
// StatefulSet and a DaemonSet through Prepare, Start, a restart and Wait,
// with a controller step that completes the status by the kind's rules.
func TestRestartOfEachKindPatchesItsTemplateAndWaitsForItsRules(t *testing.T) {
	tests := []struct {
		kind     Kind
		name     string
		obj      runtime.Object
		resource string
		setup    func(*fake.Clientset)
		complete func(context.Context, *fake.Clientset) error
	}{
		{KindStatefulSet, "db", statefulSet(), "statefulsets", func(cs *fake.Clientset) {
			onPatch(cs, "statefulsets", func() *appsv1.StatefulSet { return &appsv1.StatefulSet{} })
		},
			func(ctx context.Context, cs *fake.Clientset) error {
				s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
				if err != nil {
					return err
				}
				s.Status.ObservedGeneration, s.Status.UpdateRevision, s.Status.UpdatedReplicas = s.Generation, "db-2", 3
				_, err = cs.AppsV1().StatefulSets(ns).UpdateStatus(ctx, s, metav1.UpdateOptions{})
				return err
			}},
		{KindDaemonSet, "agent", daemonSet(), "daemonsets", func(cs *fake.Clientset) {
			onPatch(cs, "daemonsets", func() *appsv1.DaemonSet { return &appsv1.DaemonSet{} })
		},
			func(ctx context.Context, cs *fake.Clientset) error {
				d, err := cs.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
				if err != nil {
					return err
				}
				d.Status.ObservedGeneration = d.Generation
				_, err = cs.AppsV1().DaemonSets(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			ctx := context.Background()
			cs, watching := newClient(t, tt.obj)
			tt.setup(cs)
			w := NewDriver(cs, Config{Namespace: ns, Kind: tt.kind, Deployment: tt.name, Action: Action{Kind: ActionRestart}, Now: newClock().Now})
			if err := w.Prepare(ctx); err != nil {
				t.Fatal(err)
			}
			if err := w.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			waitWatching(t, watching, tt.resource, "pods")
			if err := w.Trigger(ctx); err != nil {
				t.Fatal(err)
			}
			var patched bool
			for _, a := range cs.Actions() {
				if p, ok := a.(k8stesting.PatchAction); ok && a.GetResource().Resource == tt.resource && strings.Contains(string(p.GetPatch()), RestartedAtAnnotation) {
					patched = true
				}
			}
			if !patched {
				t.Fatalf("no restartedAt patch of %s", tt.resource)
			}
			// The old status is complete by the kind's rules but describes
			// the generation before the patch: Wait must not end on it.
			if out := w.Wait(ctx, 50*time.Millisecond); out.Completed {
				t.Fatalf("completed on the status of the previous generation: %+v", out)
			}
			if err := tt.complete(ctx, cs); err != nil {
				t.Fatal(err)
			}
			out := w.Wait(ctx, 10*time.Second)
			if !out.Completed || !out.Triggered {
				t.Fatalf("outcome %+v", out)
			}
			if st := w.Status(); st.Desired == 0 || st.Updated != st.Desired {
				t.Errorf("status %+v", st)
			}
		})
	}
}

func TestAStatefulSetPodsNewIncarnationIsNotLeftToDrain(t *testing.T) {
	r := newRecorder(nil, KindStatefulSet, ns, "db", time.Now)
	r.services = []string{"db"}
	r.gone["db-0"] = "uid-old"
	for uid, left := range map[types.UID]bool{"uid-new": false, "uid-old": true} {
		r.slices["db"] = map[string]map[string]epState{"db-abc": {"db-0": {pod: "db-0", uid: uid, ready: true, serving: true}}}
		if got := len(r.undrainedLocked()) > 0; got != left {
			t.Errorf("endpoint of pod db-0 %s: left to drain %v, want %v", uid, got, left)
		}
	}
}
