package check

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// cluster is a fake clientset with a Deployment controller that finishes
// every rollout at once: a patch that changes a Deployment's spec bumps its
// generation and reports every replica updated and available. Services are
// patched as merge patches. deny is a verb the access review refuses.
func cluster(t *testing.T, deny string, objs ...runtime.Object) *fake.Clientset {
	t.Helper()
	cs := fake.NewClientset(objs...)
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		r.Status.Allowed = r.Spec.ResourceAttributes.Verb != deny
		return true, r, nil
	})
	cs.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchAction)
		gvr := appsv1.SchemeGroupVersion.WithResource("deployments")
		obj, err := cs.Tracker().Get(gvr, p.GetNamespace(), p.GetName())
		if err != nil {
			return true, nil, err
		}
		old := obj.(*appsv1.Deployment)
		d := &appsv1.Deployment{}
		if err := patch(old, d, p); err != nil {
			return true, nil, err
		}
		dryRun := false
		if impl, ok := p.(k8stesting.PatchActionImpl); ok {
			dryRun = len(impl.PatchOptions.DryRun) > 0
		}
		if !reflect.DeepEqual(old.Spec, d.Spec) {
			d.Generation++
		}
		if !dryRun && !reflect.DeepEqual(old.Spec.Template, d.Spec.Template) {
			if err := replacePods(cs, d); err != nil {
				return true, nil, err
			}
		}
		n := replicas(d)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		if dryRun {
			return true, d, nil
		}
		return true, d, cs.Tracker().Update(gvr, d, p.GetNamespace())
	})
	cs.PrependReactor("patch", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchAction)
		gvr := corev1.SchemeGroupVersion.WithResource("services")
		obj, err := cs.Tracker().Get(gvr, p.GetNamespace(), p.GetName())
		if err != nil {
			return true, nil, err
		}
		svc := &corev1.Service{}
		if err := patch(obj, svc, p); err != nil {
			return true, nil, err
		}
		return true, svc, cs.Tracker().Update(gvr, svc, p.GetNamespace())
	})
	return cs
}

// lingerAnnotation keeps a replaced pod terminating until the test
// deletes it, as a pod in its preStop and drain.
const lingerAnnotation = "test/linger"

// replacePods does what the Deployment controller and the kubelet do to a
// changed template, at once: a new pod, and the old pods deleted (or left
// terminating when they linger).
func replacePods(cs *fake.Clientset, d *appsv1.Deployment) error {
	gvr := corev1.SchemeGroupVersion.WithResource("pods")
	list, err := cs.Tracker().List(gvr, corev1.SchemeGroupVersion.WithKind("Pod"), d.Namespace)
	if err != nil {
		return err
	}
	for _, p := range list.(*corev1.PodList).Items {
		if p.DeletionTimestamp != nil || !labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(p.Labels)) {
			continue
		}
		if p.Annotations[lingerAnnotation] == "" {
			if err := cs.Tracker().Delete(gvr, p.Namespace, p.Name); err != nil {
				return err
			}
			continue
		}
		now := metav1.Now()
		p.DeletionTimestamp = &now
		if err := cs.Tracker().Update(gvr, &p, p.Namespace); err != nil {
			return err
		}
	}
	name := fmt.Sprintf("%s-g%d", d.Name, d.Generation)
	return cs.Tracker().Create(gvr, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.Namespace, Labels: d.Spec.Template.Labels}}, d.Namespace)
}

// patch applies p to old into out, as the API server would for its type.
func patch(old, out runtime.Object, p k8stesting.PatchAction) error {
	orig, err := json.Marshal(old)
	if err != nil {
		return err
	}
	// The merge patches rollout sends (replicas, a selector) merge the
	// same way as strategic ones.
	patched, err := strategicpatch.StrategicMergePatch(orig, p.GetPatch(), out)
	if err != nil {
		return err
	}
	return json.Unmarshal(patched, out)
}

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// changes lists the patches and updates a test's run made.
func changes(cs *fake.Clientset) []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for _, a := range cs.Actions() {
		if a.GetVerb() == "patch" || a.GetVerb() == "update" || a.GetVerb() == "create" && a.GetResource().Resource != "selfsubjectaccessreviews" {
			out = append(out, a.GetResource())
		}
	}
	return out
}

// deploy is a ready Deployment of n replicas whose pods carry lbls.
func deploy(name string, n int32, lbls map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}},
			},
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n},
	}
}

func service(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.ServiceSpec{Selector: selector}}
}

// target is an HTTP server answering every request with status.
func target(t *testing.T, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

// fakeCluster is the fake clientset with typed getters for assertions.
type fakeCluster struct{ *fake.Clientset }

func (c *fakeCluster) deployment(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	d, err := c.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
