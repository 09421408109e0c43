package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rollcheck/rollcheck/preflight"
	"github.com/rollcheck/rollcheck/rollout"
)

var db = map[string]string{"app": "db"}

// kindCluster is cluster with the StatefulSet and DaemonSet controllers of
// the fake: a patch that changes a spec bumps the generation; one that
// changes the template replaces the pods (a StatefulSet's under the same
// names, a DaemonSet's one per node under new ones) and completes the
// status by the kind's rules.
func kindCluster(t *testing.T, deny string, objs ...runtime.Object) *fake.Clientset {
	t.Helper()
	cs := cluster(t, deny, objs...)
	generation := 0
	onSpecPatch(cs, "statefulsets", func(old, s *appsv1.StatefulSet) error {
		if !reflect.DeepEqual(old.Spec.Template, s.Spec.Template) {
			generation++
			names := make([]string, *s.Spec.Replicas)
			for i := range names {
				names[i] = fmt.Sprintf("%s-%d", s.Name, i)
			}
			if err := rollPods(cs, s.Namespace, s.Spec.Selector, s.Spec.Template.Labels, names, generation); err != nil {
				return err
			}
			rev, r := fmt.Sprintf("%s-r%d", s.Name, generation), *s.Spec.Replicas
			s.Status = appsv1.StatefulSetStatus{Replicas: r, ReadyReplicas: r, AvailableReplicas: r, UpdatedReplicas: r, CurrentReplicas: r, CurrentRevision: rev, UpdateRevision: rev}
		}
		s.Status.ObservedGeneration = s.Generation
		return nil
	})
	onSpecPatch(cs, "daemonsets", func(old, d *appsv1.DaemonSet) error {
		if !reflect.DeepEqual(old.Spec.Template, d.Spec.Template) {
			generation++
			n := d.Status.DesiredNumberScheduled
			names := make([]string, n)
			for i := range names {
				names[i] = fmt.Sprintf("%s-g%d-node%d", d.Name, generation, i)
			}
			if err := rollPods(cs, d.Namespace, d.Spec.Selector, d.Spec.Template.Labels, names, generation); err != nil {
				return err
			}
			d.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: n, CurrentNumberScheduled: n, UpdatedNumberScheduled: n, NumberReady: n, NumberAvailable: n}
		}
		d.Status.ObservedGeneration = d.Generation
		return nil
	})
	return cs
}

// onSpecPatch applies patches of resource as the API server does (the
// generation rises with the spec; a dry run stores nothing), then lets
// controller act on the stored object, old to new, at once.
func onSpecPatch[T interface {
	runtime.Object
	metav1.Object
}](cs *fake.Clientset, resource string, controller func(old, cur T) error) {
	var mu sync.Mutex
	gvr := appsv1.SchemeGroupVersion.WithResource(resource)
	cs.PrependReactor("patch", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		p := a.(k8stesting.PatchAction)
		obj, err := cs.Tracker().Get(gvr, p.GetNamespace(), p.GetName())
		if err != nil {
			return true, nil, err
		}
		old := obj.(T)
		cur := reflect.New(reflect.TypeOf(old).Elem()).Interface().(T)
		if err := patch(old, cur, p); err != nil {
			return true, nil, err
		}
		if !reflect.DeepEqual(specOf(old), specOf(cur)) {
			cur.SetGeneration(cur.GetGeneration() + 1)
		}
		if dryRun(p) {
			return true, cur, nil
		}
		if err := controller(old, cur); err != nil {
			return true, nil, err
		}
		return true, cur, cs.Tracker().Update(gvr, cur, p.GetNamespace())
	})
}

// specOf is an object's spec as JSON.
func specOf(obj runtime.Object) any {
	b, _ := json.Marshal(obj)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m["spec"]
}

func dryRun(p k8stesting.PatchAction) bool {
	impl, ok := p.(k8stesting.PatchActionImpl)
	return ok && len(impl.PatchOptions.DryRun) > 0
}

// rollPods deletes the pods sel selects and creates one per name, with a
// UID of this generation (a StatefulSet's new pod has the old one's name,
// not its UID).
func rollPods(cs *fake.Clientset, ns string, sel *metav1.LabelSelector, lbls map[string]string, names []string, generation int) error {
	gvr := corev1.SchemeGroupVersion.WithResource("pods")
	list, err := cs.Tracker().List(gvr, corev1.SchemeGroupVersion.WithKind("Pod"), ns)
	if err != nil {
		return err
	}
	for _, p := range list.(*corev1.PodList).Items {
		if labels.SelectorFromSet(sel.MatchLabels).Matches(labels.Set(p.Labels)) {
			if err := cs.Tracker().Delete(gvr, p.Namespace, p.Name); err != nil {
				return err
			}
		}
	}
	for _, name := range names {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbls, UID: types.UID(fmt.Sprintf("%s-%d", name, generation))}}
		if err := cs.Tracker().Create(gvr, pod, ns); err != nil {
			return err
		}
	}
	return nil
}

func sts(name string, n int32, lbls map[string]string) *appsv1.StatefulSet {
	zero := int32(0)
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}},
			},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &zero}},
		},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: n, ReadyReplicas: n, AvailableReplicas: n, UpdatedReplicas: n, CurrentReplicas: n, CurrentRevision: name + "-r0", UpdateRevision: name + "-r0"},
	}
}

func daemon(name string, nodes int32, lbls map[string]string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: nodes, CurrentNumberScheduled: nodes, UpdatedNumberScheduled: nodes, NumberReady: nodes, NumberAvailable: nodes},
	}
}

// manifestOf is obj as an apply body: its JSON with kind and apiVersion.
func manifestOf(t *testing.T, obj runtime.Object, kind string) []byte {
	t.Helper()
	obj.GetObjectKind().SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind(kind))
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	// An apply of the object leaves its status to the controller.
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "status")
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return b
}

// accessReviews lists the resources the run's SelfSubjectAccessReviews
// asked about, as verb resource.
func accessReviews(cs *fake.Clientset) []string {
	var out []string
	for _, a := range cs.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == "selfsubjectaccessreviews" {
			r := c.GetObject().(*authorizationv1.SelfSubjectAccessReview).Spec.ResourceAttributes
			out = append(out, r.Verb+" "+r.Resource)
		}
	}
	return out
}

func TestStatefulSetsAndDaemonSetsRollUnderTheLoad(t *testing.T) {
	ok := target(t, http.StatusOK)
	newDB := sts("db", 3, db)
	newDB.Spec.Template.Spec.Containers[0].Image = "web:2"
	newDB.Status = appsv1.StatefulSetStatus{}
	newAgent := daemon("agent", 2, db)
	newAgent.Spec.Template.Spec.Containers[0].Image = "web:2"
	newAgent.Status = appsv1.DaemonSetStatus{}
	tests := []struct {
		name     string
		kind     rollout.Kind
		workload string
		obj      runtime.Object
		action   rollout.Action
		resource string
		image    string // the template's image after the run ("": unchanged)
		finding  string // a lint finding the run's input must carry
	}{
		{"a StatefulSet restart", rollout.KindStatefulSet, "db", sts("db", 3, db), rollout.Action{Kind: rollout.ActionRestart}, "statefulsets", "", preflight.RuleOrderedReadyNoReadiness},
		{"a StatefulSet set-image", rollout.KindStatefulSet, "db", sts("db", 3, db), rollout.Action{Kind: rollout.ActionSetImage, Images: map[string]string{"app": "web:2"}}, "statefulsets", "web:2", ""},
		{"a StatefulSet apply", rollout.KindStatefulSet, "db", sts("db", 3, db), rollout.Action{Kind: rollout.ActionApply, Source: "db.yaml"}, "statefulsets", "web:2", ""},
		{"a DaemonSet restart", rollout.KindDaemonSet, "agent", daemon("agent", 2, db), rollout.Action{Kind: rollout.ActionRestart}, "daemonsets", "", preflight.RuleDaemonSetNoSurge},
		{"a DaemonSet set-image", rollout.KindDaemonSet, "agent", daemon("agent", 2, db), rollout.Action{Kind: rollout.ActionSetImage, Images: map[string]string{"app": "web:2"}}, "daemonsets", "web:2", ""},
		{"a DaemonSet apply", rollout.KindDaemonSet, "agent", daemon("agent", 2, db), rollout.Action{Kind: rollout.ActionApply, Source: "agent.yaml"}, "daemonsets", "web:2", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := kindCluster(t, "", tt.obj, service("db", db))
			cfg := config(ok)
			cfg.Kind, cfg.Deployment, cfg.Action = tt.kind, tt.workload, tt.action
			if tt.action.Kind == rollout.ActionApply {
				switch tt.kind {
				case rollout.KindStatefulSet:
					cfg.Action.Manifest = manifestOf(t, newDB.DeepCopy(), "StatefulSet")
				default:
					cfg.Action.Manifest = manifestOf(t, newAgent.DeepCopy(), "DaemonSet")
				}
			}
			in, err := Execute(context.Background(), Clients{Kube: c}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !in.Outcome.Completed || in.Kind != tt.kind || in.Settings == nil || in.Spec != nil {
				t.Fatalf("outcome %+v kind %q settings %v spec %v", in.Outcome, in.Kind, in.Settings != nil, in.Spec != nil)
			}
			if len(in.Services) != 1 || in.Services[0] != "db" {
				t.Errorf("services %v, want db", in.Services)
			}
			reviews := strings.Join(accessReviews(c), ",")
			if !strings.Contains(reviews, "patch "+tt.resource) || strings.Contains(reviews, "deployments") || strings.Contains(reviews, "replicasets") {
				t.Errorf("access reviews %s, want %s and no deployments or replicasets", reviews, tt.resource)
			}
			var created int
			for _, e := range in.Events {
				if e.Type == rollout.PodCreated {
					created++
				}
			}
			if created == 0 {
				t.Errorf("no new pod in the timeline: %v", in.Events)
			}
			if tt.image != "" {
				var img string
				switch tt.kind {
				case rollout.KindStatefulSet:
					s, _ := c.AppsV1().StatefulSets("default").Get(context.Background(), tt.workload, metav1.GetOptions{})
					img = s.Spec.Template.Spec.Containers[0].Image
				default:
					d, _ := c.AppsV1().DaemonSets("default").Get(context.Background(), tt.workload, metav1.GetOptions{})
					img = d.Spec.Template.Spec.Containers[0].Image
				}
				if img != tt.image {
					t.Errorf("image %s, want %s", img, tt.image)
				}
			}
			if tt.finding != "" {
				var rules []string
				for _, f := range in.Preflight {
					rules = append(rules, f.Rule)
				}
				if !strings.Contains(strings.Join(rules, ","), tt.finding) {
					t.Errorf("lint findings %v, want %s", rules, tt.finding)
				}
			}
		})
	}
}

func TestWatchOnlyFollowsAStatefulSetRolledOutElsewhere(t *testing.T) {
	c := kindCluster(t, "", sts("db", 2, db), service("db", db))
	cfg := config(target(t, http.StatusOK))
	cfg.Kind, cfg.Deployment, cfg.Action = rollout.KindStatefulSet, "db", rollout.Action{Kind: rollout.ActionWatch}
	cfg.WatchTimeout = 0
	var once sync.Once
	errc := make(chan error, 1)
	cfg.Progress = func(p Progress) {
		if p.Kind == ProgressPhase && p.Phase == "waiting" {
			once.Do(func() {
				go func() {
					// Someone else's kubectl rollout restart.
					_, err := c.AppsV1().StatefulSets("default").Patch(context.Background(), "db", types.StrategicMergePatchType,
						[]byte(`{"spec":{"template":{"metadata":{"annotations":{"x":"y"}}}}}`), metav1.PatchOptions{})
					errc <- err
				}()
			})
		}
	}
	in, err := Execute(context.Background(), Clients{Kube: c}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !in.Outcome.Completed || in.Skipped != "" {
		t.Errorf("outcome %+v skipped %q", in.Outcome, in.Skipped)
	}
	for _, a := range c.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok && strings.Contains(string(p.GetPatch()), rollout.RestartedAtAnnotation) {
			t.Errorf("watch-only patched: %s", p.GetPatch())
		}
	}
	if reviews := strings.Join(accessReviews(c), ","); strings.Contains(reviews, "patch") || !strings.Contains(reviews, "watch statefulsets") {
		t.Errorf("access reviews %s: want watch statefulsets and no patch", reviews)
	}
}

func TestOnDeleteStopsBeforeAnyChange(t *testing.T) {
	onDeleteSts := sts("db", 2, db)
	onDeleteSts.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	onDeleteDs := daemon("agent", 2, db)
	onDeleteDs.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	for _, tt := range []struct {
		kind rollout.Kind
		name string
		obj  runtime.Object
	}{{rollout.KindStatefulSet, "db", onDeleteSts}, {rollout.KindDaemonSet, "agent", onDeleteDs}} {
		for _, a := range []rollout.ActionKind{rollout.ActionRestart, rollout.ActionWatch} {
			t.Run(string(tt.kind)+" "+string(a), func(t *testing.T) {
				c := kindCluster(t, "", tt.obj, service("db", db))
				cfg := config("http://127.0.0.1:1/")
				cfg.Kind, cfg.Deployment, cfg.Action = tt.kind, tt.name, rollout.Action{Kind: a}
				_, err := Execute(context.Background(), Clients{Kube: c}, cfg)
				var ce ConfigError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), "OnDelete") {
					t.Fatalf("error %v, want a ConfigError naming OnDelete", err)
				}
				if ch := changes(c); len(ch) > 0 {
					t.Errorf("the cluster changed: %v", ch)
				}
			})
		}
	}
}

func TestPermissionsOfEachKind(t *testing.T) {
	for kind, want := range map[rollout.Kind]string{rollout.KindStatefulSet: "statefulsets", rollout.KindDaemonSet: "daemonsets", "": "deployments"} {
		cfg := Config{Namespace: "default", Kind: kind, Deployment: "x", Action: rollout.Action{Kind: rollout.ActionRestart}}
		var got []string
		for _, p := range cfg.Permissions(cfg.Deployments()...) {
			got = append(got, p.Verb+" "+p.Resource)
		}
		all := strings.Join(got, ",")
		if !strings.Contains(all, "patch "+want) || !strings.Contains(all, "get "+want) {
			t.Errorf("%s: %s", kind, all)
		}
	}
}
