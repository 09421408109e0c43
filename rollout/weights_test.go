package rollout

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

var testRoutes = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// route is an HTTPRoute "web" in namespace default with the given rules,
// each a list of backendRefs as maps.
func route(rules ...[]any) *unstructured.Unstructured {
	var rs []any
	for _, refs := range rules {
		rs = append(rs, map[string]any{
			"matches":     []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/"}}},
			"backendRefs": refs,
		})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1",
		"kind":       "HTTPRoute",
		"metadata":   map[string]any{"name": "web", "namespace": "default", "generation": int64(1)},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": "gw"}},
			"rules":      rs,
		},
	}}
}

func ref(name string, weight ...int64) map[string]any {
	m := map[string]any{"name": name, "port": int64(80)}
	if len(weight) > 0 {
		m["weight"] = weight[0]
	}
	return m
}

func newRouteClient(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{testRoutes: "HTTPRouteList"}, objs...)
}

func newTestRoute(c *dynamicfake.FakeDynamicClient) *Route {
	return NewRoute(c.Resource(testRoutes), RouteConfig{Namespace: "default", Name: "web", Stable: "web", Canary: "web-canary"})
}

// weights reads the weights of every backendRef of every rule, "-" where
// none is set.
func weights(t *testing.T, c *dynamicfake.FakeDynamicClient) string {
	t.Helper()
	u, err := c.Resource(testRoutes).Namespace("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := decodeRoute(u)
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, r := range rt.Spec.Rules {
		var ws []string
		for _, b := range r.BackendRefs {
			w := "-"
			if b.Weight != nil {
				w = strconv.FormatInt(*b.Weight, 10)
			}
			ws = append(ws, b.Name+"="+w)
		}
		rules = append(rules, strings.Join(ws, ","))
	}
	return strings.Join(rules, " | ")
}

func TestParseCanaryWeights(t *testing.T) {
	steps, err := ParseCanaryWeights("90/10, 50/50,0/100")
	if err != nil {
		t.Fatal(err)
	}
	want := []WeightStep{{90, 10}, {50, 50}, {0, 100}}
	if len(steps) != len(want) {
		t.Fatalf("steps %v", steps)
	}
	for i := range want {
		if steps[i] != want[i] {
			t.Errorf("step %d is %v, want %v", i, steps[i], want[i])
		}
	}
	for _, bad := range []string{"", "90", "90/", "-1/101", "0/0", "1.5/2", "90/10,,0/100", "1000001/1", "a/b"} {
		if _, err := ParseCanaryWeights(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := ParseCanaryWeights("0/0"); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("0/0 says %v", err)
	}
}

func TestPrepareRefusesARouteThatCannotBeShifted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		route *unstructured.Unstructured
		want  string
	}{
		{"a rule with a third backendRef", route([]any{ref("web"), ref("web-canary"), ref("web-old")}),
			"rule 1 sends to service web, service web-canary, service web-old"},
		{"a rule with only the stable Service", route([]any{ref("web"), ref("other")}),
			"rule 1 sends to service web, service other"},
		{"no rule with the pair", route([]any{ref("other")}),
			"has no rule whose backendRefs are services web and web-canary"},
		{"the canary twice", route([]any{ref("web-canary"), ref("web-canary")}),
			"rule 1 sends to service web-canary, service web-canary"},
		{"the canary in another namespace", route([]any{ref("web"), map[string]any{"name": "web-canary", "namespace": "other"}}),
			"rule 1 sends to service web, service web-canary in namespace other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newRouteClient(tc.route)
			err := newTestRoute(c).Prepare(context.Background())
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrInvalid with %q", err, tc.want)
			}
			for _, a := range c.Actions() {
				if a.GetVerb() != "get" {
					t.Errorf("Prepare did %s", a.GetVerb())
				}
			}
		})
	}
}

func TestPrepareSaysWhenTheRouteOrItsResourceIsMissing(t *testing.T) {
	c := newRouteClient()
	err := newTestRoute(c).Prepare(context.Background())
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"web" not found`) {
		t.Errorf("missing route: %v", err)
	}
	c.PrependReactor("get", "httproutes", func(k8stesting.Action) (bool, runtime.Object, error) {
		// What an API server without the CRD answers: a 404 naming no object.
		return true, nil, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 404, Reason: metav1.StatusReasonNotFound, Message: "the server could not find the requested resource"}}
	})
	err = newTestRoute(c).Prepare(context.Background())
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "install the Gateway API's CRDs") {
		t.Errorf("no CRD: %v", err)
	}
}

func TestSetWeightsPatchesEveryRuleWithThePairAndRestorePutsThemBack(t *testing.T) {
	c := newRouteClient(route(
		[]any{ref("web", 3), ref("web-canary")},
		[]any{ref("other", 7)},
		[]any{ref("web-canary", 0), ref("web", 1)},
	))
	r := newTestRoute(c)
	ctx := context.Background()
	if err := r.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if o := r.Original(); o != (WeightStep{Stable: 1, Canary: 0}) {
		// The last rule read wins; each rule is restored to its own.
		t.Errorf("original %v", o)
	}
	if !r.Gatewayless() {
		t.Error("a route with no status has no Gateway that accepted it")
	}
	if err := r.Restore(ctx); err != nil || len(c.Actions()) != 1 {
		t.Fatalf("restore before any change: err %v, actions %v", err, c.Actions())
	}
	if _, _, err := r.SetWeights(ctx, WeightStep{Stable: 90, Canary: 10}); err != nil {
		t.Fatal(err)
	}
	if got, want := weights(t, c), "web=90,web-canary=10 | other=7 | web-canary=10,web=90"; got != want {
		t.Errorf("after 90/10: %s, want %s", got, want)
	}
	if _, _, err := r.SetWeights(ctx, WeightStep{Stable: 0, Canary: 100}); err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := weights(t, c), "web=3,web-canary=- | other=7 | web-canary=0,web=1"; got != want {
		t.Errorf("after restore: %s, want %s", got, want)
	}
}

func TestSetWeightsRefusesARouteEditedSincePrepare(t *testing.T) {
	c := newRouteClient(route([]any{ref("web"), ref("web-canary")}))
	r := newTestRoute(c)
	ctx := context.Background()
	if err := r.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	// Someone swaps the backendRefs: index 0 is now the canary.
	if _, err := c.Resource(testRoutes).Namespace("default").Update(ctx, route([]any{ref("web-canary"), ref("web")}), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.SetWeights(ctx, WeightStep{Stable: 90, Canary: 10}); err == nil {
		t.Fatal("patched a route whose backendRefs moved")
	}
	if got := weights(t, c); got != "web-canary=-,web=-" {
		t.Errorf("the route changed: %s", got)
	}
}

// setStatus writes the route's status: one parent per condition.
func setStatus(t *testing.T, c *dynamicfake.FakeDynamicClient, conds ...metav1.Condition) {
	t.Helper()
	ctx := context.Background()
	u, err := c.Resource(testRoutes).Namespace("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var parents []any
	for i, cond := range conds {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&cond)
		if err != nil {
			t.Fatal(err)
		}
		parents = append(parents, map[string]any{"parentRef": map[string]any{"name": "gw" + strconv.Itoa(i)}, "controllerName": "example.com/gw", "conditions": []any{m}})
	}
	if err := unstructured.SetNestedSlice(u.Object, parents, "status", "parents"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resource(testRoutes).Namespace("default").Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func accept(gen int64, status metav1.ConditionStatus) metav1.Condition {
	return metav1.Condition{Type: "Accepted", Status: status, ObservedGeneration: gen, Reason: "Accepted", Message: "ok", LastTransitionTime: metav1.Now()}
}

func TestWaitAcceptedWaitsForEveryGatewayToObserveTheNewGeneration(t *testing.T) {
	c := newRouteClient(route([]any{ref("web"), ref("web-canary")}))
	setStatus(t, c, accept(1, metav1.ConditionTrue), accept(1, metav1.ConditionTrue))
	r := newTestRoute(c)
	ctx := context.Background()
	if err := r.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan Outcome)
	go func() { done <- r.WaitAccepted(ctx, 10*time.Second, start, 2) }()
	time.Sleep(3 * routePoll)
	setStatus(t, c, accept(2, metav1.ConditionTrue), accept(1, metav1.ConditionTrue))
	select {
	case o := <-done:
		t.Fatalf("completed while one gateway had not observed generation 2: %+v", o)
	case <-time.After(3 * routePoll):
	}
	setStatus(t, c, accept(2, metav1.ConditionTrue), accept(2, metav1.ConditionTrue))
	o := <-done
	if !o.Completed || !o.Triggered || !o.StartedAt.Equal(start) || o.CompletedAt.Before(start) {
		t.Errorf("outcome %+v", o)
	}
}

func TestWaitAcceptedEndsTheStepWhenNoGatewayAcceptsOrTimeRunsOut(t *testing.T) {
	c := newRouteClient(route([]any{ref("web"), ref("web-canary")}))
	setStatus(t, c, accept(1, metav1.ConditionTrue))
	r := newTestRoute(c)
	ctx := context.Background()
	if err := r.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if o := r.WaitAccepted(ctx, 3*routePoll, time.Now(), 2); o.Completed || !strings.Contains(o.Reason, "gateway gw0 has not observed generation 2") {
		t.Errorf("timeout: %+v", o)
	}
	setStatus(t, c, metav1.Condition{Type: "Accepted", Status: metav1.ConditionFalse, ObservedGeneration: 2, Reason: "NotAllowedByListeners", Message: "no listener", LastTransitionTime: metav1.Now()})
	if o := r.WaitAccepted(ctx, time.Second, time.Now(), 2); o.Completed || !strings.Contains(o.Reason, "gateway gw0 did not accept the route: NotAllowedByListeners") {
		t.Errorf("refused: %+v", o)
	}
}

func TestWaitAcceptedCompletesAtOnceWithoutAGatewayInTheStatus(t *testing.T) {
	c := newRouteClient(route([]any{ref("web"), ref("web-canary")}))
	r := newTestRoute(c)
	ctx := context.Background()
	if err := r.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if o := r.WaitAccepted(ctx, time.Second, start, 2); !o.Completed || !o.CompletedAt.Equal(start) {
		t.Errorf("outcome %+v", o)
	}
}

func TestPrepareFindsTheStableServiceWhenNotNamed(t *testing.T) {
	c := newRouteClient(route([]any{ref("web-canary"), ref("web-v1")}, []any{ref("other")}))
	r := NewRoute(c.Resource(testRoutes), RouteConfig{Namespace: "default", Name: "web", Canary: "web-canary"})
	if err := r.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	if stable, canary := r.Services(); stable != "web-v1" || canary != "web-canary" {
		t.Errorf("services %s and %s", stable, canary)
	}
	c = newRouteClient(route([]any{ref("web-canary"), ref("a")}, []any{ref("web-canary"), ref("b")}))
	r = NewRoute(c.Resource(testRoutes), RouteConfig{Namespace: "default", Name: "web", Canary: "web-canary"})
	if err := r.Prepare(context.Background()); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "name the stable one with --service") {
		t.Errorf("two candidates: %v", err)
	}
}
