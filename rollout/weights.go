package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
)

// WeightStep is one step of --canary-weights: the weights of the stable
// and of the canary backendRef of an HTTPRoute.
type WeightStep struct {
	Stable, Canary int32
}

func (s WeightStep) String() string { return fmt.Sprintf("%d/%d", s.Stable, s.Canary) }

// maxWeight is the largest backendRef weight the Gateway API accepts.
const maxWeight = 1_000_000

// ParseCanaryWeights parses "STABLE/CANARY,..." such as "90/10,50/50,0/100":
// the weights of the stable and the canary backendRef in each step. A step
// must send traffic somewhere (not 0/0); the weights are relative, as the
// Gateway API reads them, so 9/1 is the same share as 90/10.
func ParseCanaryWeights(s string) ([]WeightStep, error) {
	pairs, err := parsePairs(s, pairWords{what: "canary weights", want: "STABLE/CANARY weights, such as 90/10", unit: "weights", none: "both weights 0 would send the route's traffic nowhere"})
	if err != nil {
		return nil, err
	}
	steps := make([]WeightStep, len(pairs))
	for i, p := range pairs {
		if p[0] > maxWeight || p[1] > maxWeight {
			return nil, fmt.Errorf("canary weights %d/%d: the Gateway API takes weights up to %d: %w", p[0], p[1], maxWeight, ErrInvalid)
		}
		steps[i] = WeightStep{Stable: p[0], Canary: p[1]}
	}
	return steps, nil
}

// RouteConfig names an HTTPRoute and the two Services among its
// backendRefs whose weights a weighted canary shifts.
type RouteConfig struct {
	Namespace, Name string
	// Stable and Canary are the Services of the two backendRefs; Stable
	// "" is the other backendRef of the rules that send to Canary.
	Stable, Canary string
	Now            func() time.Time // clock; time.Now when nil
}

// Route shifts the weights of two backendRefs of one HTTPRoute (the
// Gateway API's weighted canary) and restores them. It reads and patches
// the route through the dynamic client: rollcheck reads half a dozen
// fields of it, and a cluster without the Gateway API's CRDs answers
// NotFound, which Prepare turns into a clear error. Use it in order:
// NewRoute, Prepare, then SetWeights + WaitAccepted per step, and Restore.
type Route struct {
	client dynamic.ResourceInterface // httproutes in the route's namespace
	cfg    RouteConfig

	// Set by Prepare.
	refs     []routeRef
	parents  int  // parents in the route's status when read
	prepared bool // Prepare succeeded
	changed  bool // a SetWeights went through: Restore has work
}

// routeRef is one backendRef the steps patch: where it is and what it
// weighed before the run (nil: no weight, which the Gateway API reads as 1).
type routeRef struct {
	rule, ref int
	canary    bool
	original  *int64
}

// NewRoute returns a Route for cfg on client, the HTTPRoute resource
// (group gateway.networking.k8s.io, version v1). It does not contact the
// cluster.
func NewRoute(client dynamic.NamespaceableResourceInterface, cfg RouteConfig) *Route {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Route{client: client.Namespace(cfg.Namespace), cfg: cfg}
}

// Ref names the route as kubectl does.
func (r *Route) Ref() string { return "httproute/" + r.cfg.Name }

// Gatewayless reports whether the route's status named no parent when
// Prepare read it: no Gateway says it has accepted the route, so the
// weights may route nothing, and WaitAccepted has nothing to wait for.
func (r *Route) Gatewayless() bool { return r.parents == 0 }

// Original is the weights of the stable and the canary backendRef before
// the run (a backendRef without a weight weighs 1). Several rules with the
// pair must weigh them alike for Original to mean anything; Prepare checks
// only that the pair is there.
func (r *Route) Original() WeightStep {
	var out WeightStep
	for _, ref := range r.refs {
		w := int32(1)
		if ref.original != nil {
			w = int32(*ref.original)
		}
		if ref.canary {
			out.Canary = w
		} else {
			out.Stable = w
		}
	}
	return out
}

// backendRef is what a weighted canary reads of an HTTPRoute's backendRef.
type backendRef struct {
	Group     *string `json:"group"`
	Kind      *string `json:"kind"`
	Name      string  `json:"name"`
	Namespace *string `json:"namespace"`
	Weight    *int64  `json:"weight"`
}

// httpRoute is what a weighted canary reads of an HTTPRoute.
type httpRoute struct {
	Spec struct {
		Rules []struct {
			BackendRefs []backendRef `json:"backendRefs"`
		} `json:"rules"`
	} `json:"spec"`
	Status struct {
		Parents []struct {
			ParentRef struct {
				Name string `json:"name"`
			} `json:"parentRef"`
			Conditions []metav1.Condition `json:"conditions"`
		} `json:"parents"`
	} `json:"status"`
}

func decodeRoute(u *unstructured.Unstructured) (*httpRoute, error) {
	var rt httpRoute
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &rt); err != nil {
		return nil, fmt.Errorf("httproute %s/%s: %w: %w", u.GetNamespace(), u.GetName(), ErrInvalid, err)
	}
	return &rt, nil
}

// service returns the Service a backendRef sends to in namespace, or ""
// when it is not a core Service of that namespace.
func (b backendRef) service(namespace string) string {
	if b.Group != nil && *b.Group != "" {
		return ""
	}
	if b.Kind != nil && *b.Kind != "Service" {
		return ""
	}
	if b.Namespace != nil && *b.Namespace != namespace {
		return ""
	}
	return b.Name
}

// Prepare reads the route and checks that the weights can be shifted: it
// exists, and the rules that send to the stable or the canary Service send
// to exactly those two, once each. Every such rule is patched by each
// step. It changes nothing in the cluster.
func (r *Route) Prepare(ctx context.Context) error {
	if r.cfg.Stable == r.cfg.Canary {
		return fmt.Errorf("%s: the stable and the canary Service are both %q: %w", r.Ref(), r.cfg.Stable, ErrInvalid)
	}
	u, err := r.client.Get(ctx, r.cfg.Name, metav1.GetOptions{})
	if err != nil {
		if meta.IsNoMatchError(err) || (apierrors.IsNotFound(err) && isMissingResource(err)) {
			return fmt.Errorf("get %s in namespace %s: the cluster serves no HTTPRoutes (gateway.networking.k8s.io/v1): install the Gateway API's CRDs: %w", r.Ref(), r.cfg.Namespace, ErrNotFound)
		}
		return apiError("get httproute", r.cfg.Namespace+"/"+r.cfg.Name, err)
	}
	rt, err := decodeRoute(u)
	if err != nil {
		return err
	}
	if r.cfg.Stable == "" {
		if r.cfg.Stable, err = r.otherService(rt); err != nil {
			return err
		}
	}
	var refs []routeRef
	for i, rule := range rt.Spec.Rules {
		var ours []routeRef
		var names []string
		for j, b := range rule.BackendRefs {
			svc := b.service(r.cfg.Namespace)
			names = append(names, describeRef(b))
			if svc == r.cfg.Stable || svc == r.cfg.Canary {
				ours = append(ours, routeRef{rule: i, ref: j, canary: svc == r.cfg.Canary, original: b.Weight})
			}
		}
		switch {
		case len(ours) == 0:
			continue
		case len(rule.BackendRefs) != 2 || len(ours) != 2 || ours[0].canary == ours[1].canary:
			return fmt.Errorf("%s rule %d sends to %s: a weighted canary needs rules whose backendRefs are exactly services %s (stable) and %s (canary): %w",
				r.Ref(), i+1, strings.Join(names, ", "), r.cfg.Stable, r.cfg.Canary, ErrInvalid)
		}
		refs = append(refs, ours...)
	}
	if len(refs) == 0 {
		return fmt.Errorf("%s has no rule whose backendRefs are services %s and %s: add a rule with both, then shift their weights: %w", r.Ref(), r.cfg.Stable, r.cfg.Canary, ErrInvalid)
	}
	r.refs, r.parents, r.prepared = refs, len(rt.Status.Parents), true
	return nil
}

// otherService is the Service of the one other backendRef of the rules
// that send to the canary: the stable one, when the user did not name it.
func (r *Route) otherService(rt *httpRoute) (string, error) {
	found := map[string]bool{}
	for i, rule := range rt.Spec.Rules {
		var others, names []string
		ours := false
		for _, b := range rule.BackendRefs {
			names = append(names, describeRef(b))
			if svc := b.service(r.cfg.Namespace); svc == r.cfg.Canary {
				ours = true
			} else {
				others = append(others, svc)
			}
		}
		if !ours {
			continue
		}
		if len(others) != 1 || others[0] == "" {
			return "", fmt.Errorf("%s rule %d sends to %s: a weighted canary needs rules whose backendRefs are exactly two Services, the stable one and %s (canary): %w",
				r.Ref(), i+1, strings.Join(names, ", "), r.cfg.Canary, ErrInvalid)
		}
		found[others[0]] = true
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%s has no rule that sends to service %s (canary): add its backendRef beside the stable Service's, then shift their weights: %w", r.Ref(), r.cfg.Canary, ErrInvalid)
	case 1:
		for svc := range found {
			return svc, nil
		}
	}
	return "", fmt.Errorf("%s sends to service %s (canary) beside different Services in different rules: name the stable one with --service: %w", r.Ref(), r.cfg.Canary, ErrInvalid)
}

// Services are the stable and the canary Service, once prepared.
func (r *Route) Services() (stable, canary string) { return r.cfg.Stable, r.cfg.Canary }

// isMissingResource tells a NotFound for the resource (no CRD) from one
// for the object: the API server's 404 for an unknown resource has no
// details naming the object.
func isMissingResource(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	d := st.Status().Details
	return d == nil || d.Name == ""
}

// describeRef names a backendRef for messages: the Service, or the kind.
func describeRef(b backendRef) string {
	s := "service " + b.Name
	if b.Kind != nil && *b.Kind != "Service" {
		s = strings.ToLower(*b.Kind) + " " + b.Name
	}
	if b.Namespace != nil {
		s += " in namespace " + *b.Namespace
	}
	return s
}

// patchOp is one operation of a JSON patch (RFC 6902).
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// weightsPatch sets (or with nil, removes) the weight of each ref. Each
// ref's name is tested first, so that a route someone edited meanwhile
// (rules moved, backendRefs reordered) is refused instead of patched in
// the wrong place. A JSON patch, because a merge patch replaces whole
// lists and a CRD takes no strategic merge patch.
func (r *Route) weightsPatch(weight func(routeRef) *int64) ([]byte, error) {
	var ops []patchOp
	for _, ref := range r.refs {
		base := fmt.Sprintf("/spec/rules/%d/backendRefs/%d", ref.rule, ref.ref)
		name := r.cfg.Stable
		if ref.canary {
			name = r.cfg.Canary
		}
		ops = append(ops, patchOp{Op: "test", Path: base + "/name", Value: name})
		if w := weight(ref); w != nil {
			// add replaces a member that is there and adds one that is not.
			ops = append(ops, patchOp{Op: "add", Path: base + "/weight", Value: *w})
		} else {
			ops = append(ops, patchOp{Op: "remove", Path: base + "/weight"})
		}
	}
	return json.Marshal(ops)
}

// SetWeights patches the weights of the stable and the canary backendRef
// in every rule Prepare found, in one request. It returns when the API
// server accepted it and the route's new generation, which WaitAccepted
// waits for the Gateway to observe.
func (r *Route) SetWeights(ctx context.Context, s WeightStep) (time.Time, int64, error) {
	if !r.prepared {
		return time.Time{}, 0, errNotPrepared
	}
	body, err := r.weightsPatch(func(ref routeRef) *int64 {
		w := int64(s.Stable)
		if ref.canary {
			w = int64(s.Canary)
		}
		return &w
	})
	if err != nil {
		return time.Time{}, 0, err
	}
	t := r.cfg.Now()
	u, err := r.client.Patch(ctx, r.cfg.Name, types.JSONPatchType, body, metav1.PatchOptions{FieldManager: FieldManager})
	if err != nil {
		return time.Time{}, 0, apiError("patch httproute", r.cfg.Namespace+"/"+r.cfg.Name, err)
	}
	r.changed = true
	return t, u.GetGeneration(), nil
}

// Restore puts back the weights the route had when Prepare read it (a
// weight that was not set is removed again). It does nothing when no
// SetWeights went through.
func (r *Route) Restore(ctx context.Context) error {
	if !r.changed {
		return nil
	}
	body, err := r.weightsPatch(func(ref routeRef) *int64 { return ref.original })
	if err != nil {
		return err
	}
	if _, err := r.client.Patch(ctx, r.cfg.Name, types.JSONPatchType, body, metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
		return apiError("restore the weights of httproute", r.cfg.Namespace+"/"+r.cfg.Name, err)
	}
	r.changed = false
	return nil
}

// routePoll is how often WaitAccepted reads the route.
const routePoll = 100 * time.Millisecond

// WaitAccepted waits up to timeout until every parent (Gateway) in the
// route's status has observed generation in its Accepted condition: the
// Gateway's controller has read the new weights. A route whose status
// named no parent when prepared completes at once. A parent that observed
// the generation and did not accept it ends the step as not completed.
// Traffic may still move a moment later: a controller may accept a route
// before its proxy applies it.
func (r *Route) WaitAccepted(ctx context.Context, timeout time.Duration, started time.Time, generation int64) Outcome {
	out := Outcome{Triggered: true, StartedAt: started}
	if r.parents == 0 {
		out.Completed, out.CompletedAt = true, started
		return out
	}
	var pending, refused string
	err := wait.PollUntilContextTimeout(ctx, routePoll, timeout, true, func(ctx context.Context) (bool, error) {
		u, err := r.client.Get(ctx, r.cfg.Name, metav1.GetOptions{})
		if err != nil {
			pending = err.Error()
			return false, nil // a passing API error: the timeout bounds it
		}
		rt, err := decodeRoute(u)
		if err != nil {
			return false, err
		}
		pending, refused = accepted(rt, generation)
		return pending == "", nil
	})
	switch {
	case err == nil && refused != "":
		out.Reason = refused
	case err == nil:
		out.Completed, out.CompletedAt = true, r.cfg.Now()
	case ctx.Err() != nil:
		out.Reason = "interrupted"
	default:
		out.Reason = fmt.Sprintf("%s: weights not accepted within %s: %s", r.Ref(), timeout, pending)
	}
	return out
}

// accepted says which parent has not yet observed generation ("" when
// all have) and which refused it.
func accepted(rt *httpRoute, generation int64) (pending, refused string) {
	if len(rt.Status.Parents) == 0 {
		return "no parent in the route's status", ""
	}
	var refusals []string
	for _, p := range rt.Status.Parents {
		c := meta.FindStatusCondition(p.Conditions, "Accepted")
		if c == nil || c.ObservedGeneration < generation {
			return fmt.Sprintf("gateway %s has not observed generation %d", p.ParentRef.Name, generation), ""
		}
		if c.Status != metav1.ConditionTrue {
			refusals = append(refusals, fmt.Sprintf("gateway %s did not accept the route: %s: %s", p.ParentRef.Name, c.Reason, c.Message))
		}
	}
	if len(refusals) == len(rt.Status.Parents) {
		return "", strings.Join(refusals, "; ")
	}
	return "", ""
}
