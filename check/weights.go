package check

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rollcheck/rollcheck/front"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

// restoreTimeout bounds putting a route's weights back, which runs after
// an interruption too.
const restoreTimeout = 30 * time.Second

// weightsPlan is the weighted canary of the strategies seed in the Gateway
// API's form: each step patches the weights of the stable and the canary
// Service's backendRefs in one HTTPRoute and waits for its Gateways to
// accept them. The Deployments are the ones the two Services select; they
// are only watched. The canary's is the Primary: it is what the run tries.
func weightsPlan(ctx context.Context, clients Clients, cfg *Config) (*Plan, error) {
	w := cfg.Weights
	if clients.Dynamic == nil {
		return nil, errors.New("a weighted canary needs the dynamic client to read the HTTPRoute")
	}
	route := rollout.NewRoute(clients.Dynamic.Resource(front.HTTPRoutes), rollout.RouteConfig{
		Namespace: cfg.Namespace, Name: w.Route, Stable: cfg.Service, Canary: w.CanaryService, Now: cfg.Now,
	})
	if err := route.Prepare(ctx); err != nil {
		if errors.Is(err, rollout.ErrNotFound) || errors.Is(err, rollout.ErrInvalid) {
			return nil, ConfigError{err}
		}
		return nil, err
	}
	stableSvc, canarySvc := route.Services()
	stableName, err := serviceDeployment(ctx, clients.Kube, cfg.Namespace, stableSvc)
	if err != nil {
		return nil, err
	}
	canaryName, err := serviceDeployment(ctx, clients.Kube, cfg.Namespace, canarySvc)
	if err != nil {
		return nil, err
	}
	switch {
	case stableName == canaryName:
		return nil, ConfigError{fmt.Errorf("services %s and %s both select the pods of deployment/%s: the weights would move nothing between Deployments", stableSvc, canarySvc, stableName)}
	case cfg.Deployment != "" && cfg.Deployment != stableName:
		return nil, ConfigError{fmt.Errorf("service %s (stable) selects the pods of deployment/%s, not deployment/%s", stableSvc, stableName, cfg.Deployment)}
	case w.CanaryDeployment != "" && w.CanaryDeployment != canaryName:
		return nil, ConfigError{fmt.Errorf("service %s (canary) selects the pods of deployment/%s, not deployment/%s", canarySvc, canaryName, w.CanaryDeployment)}
	}
	action := rollout.Action{Kind: rollout.ActionWeights}
	stable := driver(clients.Kube, cfg, rollout.KindDeployment, stableName, stableSvc, action, false)
	canary := driver(clients.Kube, cfg, rollout.KindDeployment, canaryName, canarySvc, action, false)
	p := &Plan{Primary: canary, Status: stable, Drivers: []*rollout.Driver{stable, canary}, PerStep: true, Action: cfg.actionName(),
		Backends: []Backend{{Service: stableSvc, Driver: stable}, {Service: canarySvc, Driver: canary}}}
	for i, s := range w.Steps {
		detail := fmt.Sprintf("%s %s=%d %s=%d", route.Ref(), stableSvc, s.Stable, canarySvc, s.Canary)
		p.Steps = append(p.Steps, Step{
			Name:    fmt.Sprintf("%d/%d %s", i+1, len(w.Steps), s),
			Detail:  detail,
			Weights: &s,
			Run: func(ctx context.Context, timeout time.Duration, r Reporter) StepResult {
				t, gen, err := route.SetWeights(ctx, s)
				if err != nil {
					return StepResult{Err: err}
				}
				stable.Record(rollout.Event{Time: t, Type: rollout.RolloutTriggered, Reason: string(rollout.ActionWeights), Detail: detail})
				r.Tick()
				out := route.WaitAccepted(ctx, timeout, t, gen)
				if out.Completed && !route.Gatewayless() {
					stable.Record(rollout.Event{Time: out.CompletedAt, Type: rollout.RolloutComplete, Reason: string(rollout.ActionWeights),
						Detail: fmt.Sprintf("%s generation %d accepted by its gateways", route.Ref(), gen)})
				}
				return StepResult{Outcome: out}
			},
		})
	}
	if route.Gatewayless() {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s names no Gateway in its status: no controller says it has accepted the route, so its weights may route nothing; each step counts from its patch", route.Ref()))
	}
	original := route.Original()
	p.finish = func(ctx context.Context, ph *phases, rep *reporter) {
		in := &report.WeightsInput{Route: w.Route, StableService: stableSvc, CanaryService: canarySvc, Original: original, PodServices: map[string]string{}}
		for _, pod := range stable.PodNames() {
			in.PodServices[pod] = stableSvc
		}
		for _, pod := range canary.PodNames() {
			in.PodServices[pod] = canarySvc
		}
		in.Left = leaveRoute(ctx, route, w, ph, rep)
		ph.weights = in
	}
	return p, nil
}

// leaveRoute puts the route's weights back as they were, unless the user
// asked to keep the last step's and every step ran, and says what it left.
func leaveRoute(ctx context.Context, route *rollout.Route, w *Weights, ph *phases, rep *reporter) string {
	if len(ph.steps) == 0 {
		return "unchanged"
	}
	last := ph.steps[len(ph.steps)-1]
	if w.Keep && !ph.interrupted && len(ph.steps) == len(w.Steps) && last.Outcome.Completed {
		msg := fmt.Sprintf("%s keeps the last step's weights %s (--canary-keep)", route.Ref(), w.Steps[len(w.Steps)-1])
		rep.Notice(msg)
		return "kept " + w.Steps[len(w.Steps)-1].String()
	}
	// After Ctrl-C too: the run's own context is done by then.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	if err := route.Restore(rctx); err != nil {
		o := route.Original()
		rep.warning(fmt.Sprintf("%v: the route keeps the weights of the last step that ran; set them back by hand (stable %d, canary %d)", err, o.Stable, o.Canary))
		return "not restored: " + err.Error()
	}
	msg := fmt.Sprintf("%s: weights restored to %s as before the run", route.Ref(), route.Original())
	rep.Notice(msg)
	return "restored " + route.Original().String()
}

// serviceDeployment is the one Deployment whose pods Service name selects.
func serviceDeployment(ctx context.Context, client kubernetes.Interface, namespace, name string) (string, error) {
	ref := namespace + "/" + name
	svc, err := client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", notFoundIsConfig(fmt.Errorf("get service %s: %w", ref, err))
	}
	if len(svc.Spec.Selector) == 0 {
		return "", ConfigError{fmt.Errorf("service %s has no selector: rollcheck cannot tell whose pods get its share", ref)}
	}
	list, err := client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", notFoundIsConfig(fmt.Errorf("list deployments in namespace %s: %w", namespace, err))
	}
	d, err := selectedDeployment(list.Items, svc.Spec.Selector, "service "+name, "a weighted canary needs one Deployment behind each Service, to tell its pods by their header")
	if err != nil {
		return "", ConfigError{fmt.Errorf("service %s: %w", ref, err)}
	}
	return d, nil
}
