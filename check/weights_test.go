package check

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/rollcheck/rollcheck/front"
	"github.com/rollcheck/rollcheck/rollout"
)

var (
	stableLabels = map[string]string{"app": "web", "track": "stable"}
	canaryLabels = map[string]string{"app": "web", "track": "canary"}
)

// httpRoute is HTTPRoute web in namespace default sending to backendRefs
// names, with no weights set.
func httpRoute(names ...string) *unstructured.Unstructured {
	var refs []any
	for _, n := range names {
		refs = append(refs, map[string]any{"name": n, "port": int64(80)})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": "web", "namespace": "default"},
		"spec":     map[string]any{"rules": []any{map[string]any{"backendRefs": refs}}},
	}}
}

func routeClient(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{front.HTTPRoutes: "HTTPRouteList"}, objs...)
}

func pod(name string, lbls map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: lbls}}
}

// weightedCluster is a stable and a canary Deployment, each with one pod
// and a Service, the route between them, and a target whose answers name
// web-1 nine times in ten and web-canary-1 the tenth.
func weightedCluster(t *testing.T, route *unstructured.Unstructured) (*fakeCluster, *dynamicfake.FakeDynamicClient, Config) {
	t.Helper()
	c := &fakeCluster{cluster(t, "",
		deploy("web", 1, stableLabels), deploy("web-canary", 1, canaryLabels),
		service("web", stableLabels), service("web-canary", canaryLabels),
		pod("web-1", stableLabels), pod("web-canary-1", canaryLabels))}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		name := "web-1"
		if n.Add(1)%10 == 0 {
			name = "web-canary-1"
		}
		w.Header().Set("X-Pod-Name", name)
	}))
	t.Cleanup(srv.Close)
	cfg := config(srv.URL)
	cfg.Deployment = ""
	cfg.StepHold = 200 * time.Millisecond
	// A baseline without a completed request skips the steps: give a busy
	// machine time for some.
	cfg.Baseline = 500 * time.Millisecond
	cfg.Attack.PodHeader = "X-Pod-Name"
	cfg.Weights = &Weights{Route: "web", CanaryService: "web-canary",
		Steps: []rollout.WeightStep{{Stable: 90, Canary: 10}, {Stable: 0, Canary: 100}}}
	var objs []runtime.Object
	if route != nil {
		objs = append(objs, route)
	}
	return c, routeClient(objs...), cfg
}

// routeWeights are the weights on route web, "-" where none is set.
func routeWeights(t *testing.T, dyn *dynamicfake.FakeDynamicClient) []string {
	t.Helper()
	u, err := dyn.Resource(front.HTTPRoutes).Namespace("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	var out []string
	for _, ref := range rules[0].(map[string]any)["backendRefs"].([]any) {
		m := ref.(map[string]any)
		w := "-"
		if v, ok := m["weight"]; ok {
			w = fmt.Sprint(v)
		}
		out = append(out, m["name"].(string)+"="+w)
	}
	return out
}

func patches(dyn *dynamicfake.FakeDynamicClient) int {
	n := 0
	for _, a := range dyn.Actions() {
		if a.GetVerb() == "patch" {
			n++
		}
	}
	return n
}

func TestAWeightedCanaryShiftsTheRouteInStepsAndRestoresIt(t *testing.T) {
	c, dyn, cfg := weightedCluster(t, httpRoute("web", "web-canary"))
	in, err := Execute(context.Background(), Clients{Kube: c, Dynamic: dyn}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Steps) != 2 || in.Steps[0].Name != "1/2 90/10" || *in.Steps[1].Weights != (rollout.WeightStep{Stable: 0, Canary: 100}) {
		t.Fatalf("steps %+v", in.Steps)
	}
	if d := in.Steps[0].Detail; d != "httproute/web web=90 web-canary=10" {
		t.Errorf("step detail %q", d)
	}
	for _, st := range in.Steps {
		if !st.Outcome.Completed {
			t.Errorf("step %s did not complete: %s", st.Name, st.Outcome.Reason)
		}
	}
	if in.Deployment != "web-canary" || in.Replaces {
		t.Errorf("the report is about %s (replaces %v), want the canary, which replaces no pod", in.Deployment, in.Replaces)
	}
	w := in.Weights
	if w == nil || w.StableService != "web" || w.PodServices["web-1"] != "web" || w.PodServices["web-canary-1"] != "web-canary" {
		t.Fatalf("weights input %+v", w)
	}
	if w.Left != "restored 1/1" {
		t.Errorf("left %q", w.Left)
	}
	if got := routeWeights(t, dyn); strings.Join(got, ",") != "web=-,web-canary=-" {
		t.Errorf("route after the run %v, want the weights unset again", got)
	}
	if n := patches(dyn); n != 3 {
		t.Errorf("%d patches of the route, want 2 steps and the restore", n)
	}
	var triggered int
	for _, e := range in.Events {
		if e.Type == rollout.RolloutTriggered && e.Reason == "weights" {
			triggered++
		}
	}
	if triggered != 2 {
		t.Errorf("%d weight changes in the timeline, want 2", triggered)
	}
	if len(changes(c.Clientset)) != 0 {
		t.Errorf("the Deployments or Services changed: %v", changes(c.Clientset))
	}
}

func TestAWeightedCanaryKeepsTheLastStepWhenAskedAndEveryStepRan(t *testing.T) {
	c, dyn, cfg := weightedCluster(t, httpRoute("web", "web-canary"))
	cfg.Weights.Keep = true
	in, err := Execute(context.Background(), Clients{Kube: c, Dynamic: dyn}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if in.Weights.Left != "kept 0/100" {
		t.Errorf("left %q", in.Weights.Left)
	}
	if got := routeWeights(t, dyn); strings.Join(got, ",") != "web=0,web-canary=100" {
		t.Errorf("route after the run %v", got)
	}
}

func TestAnInterruptedWeightedCanaryRestoresTheRouteEvenWhenAskedToKeep(t *testing.T) {
	c, dyn, cfg := weightedCluster(t, httpRoute("web", "web-canary"))
	cfg.Weights.Keep = true
	cfg.StepHold = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Progress = func(p Progress) {
		if p.Kind == ProgressTick && p.Rollout.Triggered {
			cancel() // during the first step's hold
		}
	}
	in, err := Execute(ctx, Clients{Kube: c, Dynamic: dyn}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !in.Interrupted || in.Weights.Left != "restored 1/1" {
		t.Errorf("interrupted %v, left %q", in.Interrupted, in.Weights.Left)
	}
	if got := routeWeights(t, dyn); strings.Join(got, ",") != "web=-,web-canary=-" {
		t.Errorf("route after the run %v", got)
	}
}

func TestBadWeightedCanaryInputChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		route *unstructured.Unstructured
		cfg   func(*Config)
		want  string
	}{
		{"no such route", nil, nil, `"web" not found`},
		{"a route without the canary", httpRoute("web", "other"), nil, "has no rule that sends to service web-canary (canary)"},
		{"a route without the stable Service named", httpRoute("other", "web-canary"), func(c *Config) { c.Service = "web" }, "rule 1 sends to service other, service web-canary"},
		{"a route with a third backend", httpRoute("web", "web-canary", "other"), nil, "rule 1 sends to service web, service web-canary, service other"},
		{"a canary Service that does not exist", httpRoute("web", "web-gone"), func(c *Config) { c.Weights.CanaryService = "web-gone" }, `services "web-gone" not found`},
		{"the wrong stable Deployment", httpRoute("web", "web-canary"), func(c *Config) { c.Deployment = "other" },
			"service web (stable) selects the pods of deployment/web, not deployment/other"},
		{"the wrong canary Deployment", httpRoute("web", "web-canary"), func(c *Config) { c.Weights.CanaryDeployment = "web" },
			"service web-canary (canary) selects the pods of deployment/web-canary, not deployment/web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, dyn, cfg := weightedCluster(t, tc.route)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			_, err := Execute(context.Background(), Clients{Kube: c, Dynamic: dyn}, cfg)
			var ce ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want a ConfigError with %q", err, tc.want)
			}
			if n := patches(dyn); n != 0 || len(changes(c.Clientset)) != 0 {
				t.Errorf("bad input changed the cluster: %d route patches, %v", n, changes(c.Clientset))
			}
		})
	}
}

func TestAWeightedCanaryAsksForItsRouteAndWatchesTheDeployments(t *testing.T) {
	cfg := Config{Namespace: "default", Weights: &Weights{Route: "web"}}
	var got []string
	for _, p := range cfg.Permissions("web", "web-canary") {
		if p.Verb == "patch" {
			got = append(got, p.Resource+"/"+p.Name)
		}
	}
	if strings.Join(got, ",") != "httproutes/web" {
		t.Errorf("patches %v, want the route only", got)
	}
}
