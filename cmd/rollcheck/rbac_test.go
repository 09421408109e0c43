package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/rollcheck/rollcheck/check"
	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/front"
)

// rbacOutput runs `rollcheck rbac args...` and returns the Role, the
// RoleBinding (nil without subjects) and the run's config.
func rbacOutput(t *testing.T, args ...string) (*rbacv1.Role, *rbacv1.RoleBinding, check.Config) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := newFactory(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	var cfg check.Config
	root := rootWith(f, newRBACCommand(f, func(ctx context.Context, o *RBACOptions) error {
		cfg = o.Config
		return o.Run(ctx)
	}))
	root.SetArgs(append([]string{"rbac"}, args...))
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("rbac %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	docs := strings.Split(out.String(), "\n---\n")
	role := &rbacv1.Role{}
	if err := yaml.UnmarshalStrict([]byte(docs[0]), role); err != nil {
		t.Fatalf("the Role does not parse: %v\n%s", err, out.String())
	}
	if role.Kind != "Role" || role.APIVersion != "rbac.authorization.k8s.io/v1" {
		t.Errorf("first document is %s %s, want rbac.authorization.k8s.io/v1 Role", role.APIVersion, role.Kind)
	}
	var binding *rbacv1.RoleBinding
	if len(docs) > 1 {
		binding = &rbacv1.RoleBinding{}
		if err := yaml.UnmarshalStrict([]byte(docs[1]), binding); err != nil {
			t.Fatalf("the RoleBinding does not parse: %v\n%s", err, out.String())
		}
	}
	return role, binding, cfg
}

// reviewsAsked runs the check of cfg against client, which must hold what
// the run reads first, and returns every SelfSubjectAccessReview it made.
// The run is stopped right after the check (its first list of Services
// after a review fails), so nothing is changed.
func reviewsAsked(t *testing.T, client *fake.Clientset, routes []runtime.Object, cfg check.Config) []authorizationv1.ResourceAttributes {
	t.Helper()
	var asked []authorizationv1.ResourceAttributes
	client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		asked = append(asked, *r.Spec.ResourceAttributes)
		r.Status.Allowed = true
		return true, r, nil
	})
	stop := errors.New("stopped after the access check")
	client.PrependReactor("list", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		if len(asked) > 0 {
			return true, nil, stop
		}
		return false, nil, nil
	})
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{front.HTTPRoutes: "HTTPRouteList"}, routes...)
	if _, err := check.Execute(context.Background(), check.Clients{Kube: client, Dynamic: dyn}, cfg); !errors.Is(err, stop) {
		t.Fatalf("Execute = %v, want it stopped after the access check", err)
	}
	if patched(client) || slices.ContainsFunc(dyn.Actions(), func(a k8stesting.Action) bool { return a.GetVerb() == "patch" }) {
		t.Fatal("something was patched")
	}
	if len(asked) == 0 {
		t.Fatal("no access review was made")
	}
	return asked
}

// allows reports whether role grants the review's attributes.
func allows(role *rbacv1.Role, a authorizationv1.ResourceAttributes) bool {
	for _, r := range role.Rules {
		if slices.Contains(r.APIGroups, a.Group) && slices.Contains(r.Resources, a.Resource) && slices.Contains(r.Verbs, a.Verb) &&
			(len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, a.Name)) {
			return true
		}
	}
	return false
}

// statefulSetOf and daemonSetOf are d's pods under another controller.
func statefulSetOf(d *appsv1.Deployment, name string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.Namespace},
		Spec: appsv1.StatefulSetSpec{Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: d.Spec.Template}}
}

func daemonSetOf(d *appsv1.Deployment, name string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.Namespace},
		Spec: appsv1.DaemonSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template}}
}

func TestRBACGrantsWhatTheCheckAsks(t *testing.T) {
	blue, green := deployment(), deployment()
	blue.Name, green.Name = "web-blue", "web-green"
	blue.Spec.Template.Labels = map[string]string{"app": "web", "color": "blue"}
	green.Spec.Template.Labels = map[string]string{"app": "web", "color": "green"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web", "color": "blue"}},
	}
	canary := deployment()
	canary.Name = "web-canary"
	stable, weighted := deployment(), deployment()
	weighted.Name = "web-canary"
	weighted.Spec.Selector.MatchLabels = map[string]string{"app": "web-canary"}
	weighted.Spec.Template.Labels = map[string]string{"app": "web-canary"}
	services := []runtime.Object{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web-canary", Namespace: "default"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web-canary"}}},
	}
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": "web", "namespace": "default"},
		"spec": map[string]any{"rules": []any{map[string]any{"backendRefs": []any{
			map[string]any{"name": "web"}, map[string]any{"name": "web-canary"}}}}},
	}}
	tests := []struct {
		name   string
		args   []string
		objs   []runtime.Object
		routes []runtime.Object
	}{
		{"a restart", []string{"deployment/web", "--restart"}, []runtime.Object{deployment()}, nil},
		{"a watch-only run", []string{"web", "--watch-only", "--target", "http://127.0.0.1:1/"}, []runtime.Object{deployment()}, nil},
		{"a blue/green switch", []string{"--switch-service", "web", "--selector", "color=green"}, []runtime.Object{blue, green, svc}, nil},
		{"a canary", []string{"web", "--canary", "web-canary", "--canary-steps", "1/1,0/2"}, []runtime.Object{deployment(), canary}, nil},
		{"a StatefulSet restart", []string{"statefulset/db", "--restart"}, []runtime.Object{statefulSetOf(deployment(), "db")}, nil},
		{"a DaemonSet watch-only run", []string{"ds/agent", "--watch-only", "--target", "http://127.0.0.1:1/"}, []runtime.Object{daemonSetOf(deployment(), "agent")}, nil},
		{"a weighted canary", []string{"--canary-route", "httproute/web", "--canary-service", "web-canary", "--canary-weights", "90/10,0/100"},
			append([]runtime.Object{stable, weighted}, services...), []runtime.Object{route}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" gets a Role with exactly the permissions its check asks for", func(t *testing.T) {
			role, binding, cfg := rbacOutput(t, append([]string{"-n", "default"}, tt.args...)...)
			if binding != nil {
				t.Errorf("a RoleBinding without --serviceaccount or --user: %+v", binding)
			}
			if role.Namespace != "default" {
				t.Errorf("Role in namespace %q, want default", role.Namespace)
			}
			asked := reviewsAsked(t, fake.NewClientset(tt.objs...), tt.routes, cfg)
			type vr struct{ verb, group, resource string }
			askedSet, granted := map[vr]bool{}, map[vr]bool{}
			names := map[vr][]string{}
			for _, a := range asked {
				if !allows(role, a) {
					t.Errorf("the check asks %s %s.%s %q, which the Role does not grant", a.Verb, a.Resource, a.Group, a.Name)
				}
				k := vr{a.Verb, a.Group, a.Resource}
				askedSet[k] = true
				names[k] = append(names[k], a.Name)
			}
			for _, r := range role.Rules {
				for _, v := range r.Verbs {
					k := vr{v, r.APIGroups[0], r.Resources[0]}
					granted[k] = true
					if !askedSet[k] {
						t.Errorf("the Role grants %s %s.%s, which the check does not ask", v, r.Resources[0], r.APIGroups[0])
					}
					for _, n := range r.ResourceNames {
						if !slices.Contains(names[k], n) {
							t.Errorf("the Role grants %s %s %q, which the check does not ask", v, r.Resources[0], n)
						}
					}
				}
			}
			if len(granted) != len(askedSet) {
				t.Errorf("the Role grants %d verb/resource pairs, the check asks %d", len(granted), len(askedSet))
			}
		})
	}
}

func TestRBACBindsTheSubjectsGiven(t *testing.T) {
	_, binding, _ := rbacOutput(t, "-n", "shop", "web", "--restart", "--serviceaccount", "ci", "--serviceaccount", "build:deployer", "--user", "alice", "--name", "web-rollcheck")
	if binding == nil {
		t.Fatal("no RoleBinding")
	}
	got := fmt.Sprint(binding.Subjects)
	want := fmt.Sprint([]rbacv1.Subject{
		{Kind: "ServiceAccount", Namespace: "shop", Name: "ci"},
		{Kind: "ServiceAccount", Namespace: "build", Name: "deployer"},
		{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "alice"},
	})
	if got != want {
		t.Errorf("subjects %s, want %s", got, want)
	}
	if binding.Name != "web-rollcheck" || binding.Namespace != "shop" || binding.RoleRef != (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "web-rollcheck"}) {
		t.Errorf("binding %s/%s to %+v", binding.Namespace, binding.Name, binding.RoleRef)
	}
}

func TestRBACRefusesWhatRunRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no action is refused as run refuses it", []string{"rbac", "web"}, "no rollout action"},
		{"two actions are refused", []string{"rbac", "web", "--restart", "--watch-only"}, "exclusive"},
		{"a service account without a name is refused", []string{"rbac", "web", "--restart", "--serviceaccount", "shop:"}, "--serviceaccount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			f := newFactory(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			ran := false
			root := rootWith(f, newRBACCommand(f, func(context.Context, *RBACOptions) error { ran = true; return nil }))
			root.SetArgs(tt.args)
			code := exitCode(root.ExecuteContext(context.Background()), &errOut)
			if code != exitcode.Usage || ran || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("exit %d, ran %v, stderr lacks %q:\n%s", code, ran, tt.want, errOut.String())
			}
			if !strings.Contains(errOut.String(), "rollcheck rbac [deployment/NAME]") {
				t.Error("the usage shown is not rbac's")
			}
		})
	}
}

func TestRBACForADrainIsAClusterRoleBesideTheRole(t *testing.T) {
	var out, errOut bytes.Buffer
	f := newFactory(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	root := rootWith(f, newRBACCommand(f, nil))
	root.SetArgs([]string{"rbac", "-n", "default", "deployment/web", "--drain", "node-2", "--serviceaccount", "ci:rollcheck"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("rbac --drain: %v\n%s", err, errOut.String())
	}
	docs := strings.Split(out.String(), "\n---\n")
	if len(docs) != 4 {
		t.Fatalf("%d documents, want a Role, its binding, a ClusterRole and its binding:\n%s", len(docs), out.String())
	}
	role, cr, crb := &rbacv1.Role{}, &rbacv1.ClusterRole{}, &rbacv1.ClusterRoleBinding{}
	for i, into := range []any{role, nil, cr, crb} {
		if into == nil {
			continue
		}
		if err := yaml.UnmarshalStrict([]byte(docs[i]), into); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, docs[i])
		}
	}
	grants := func(rules []rbacv1.PolicyRule, verb, resource, name string) bool {
		for _, r := range rules {
			if slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) && (name == "" || slices.Contains(r.ResourceNames, name)) {
				return true
			}
		}
		return false
	}
	for _, want := range [][3]string{{"get", "nodes", "node-2"}, {"patch", "nodes", "node-2"}, {"list", "pods", ""}, {"create", "pods/eviction", ""}, {"list", "poddisruptionbudgets", ""}} {
		if !grants(cr.Rules, want[0], want[1], want[2]) {
			t.Errorf("the ClusterRole does not grant %s %s %s: %+v", want[0], want[1], want[2], cr.Rules)
		}
		if grants(role.Rules, want[0], want[1], "") && want[1] != "pods" {
			t.Errorf("the namespaced Role grants %s %s", want[0], want[1])
		}
	}
	if grants(cr.Rules, "patch", "deployments", "") {
		t.Error("a drain patches no Deployment")
	}
	if crb.RoleRef.Kind != "ClusterRole" || len(crb.Subjects) != 1 || crb.Subjects[0].Namespace != "ci" {
		t.Errorf("ClusterRoleBinding %+v", crb)
	}
}
