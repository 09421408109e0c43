package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

// plan is what a run does to the cluster: the Watchers that follow it and
// the steps that change it. Every strategy (one rollout, --repeat, a canary
// in steps, a blue/green switch) is a plan, so load, correlation and report
// are the same for all.
type plan struct {
	// primary's Deployment is the one the report is about (its settings
	// are what the recommendations change).
	primary *rollout.Watcher
	// status is the Watcher the live status line follows: the one that
	// sees the Service's endpoints.
	status   *rollout.Watcher
	watchers []*rollout.Watcher
	steps    []planStep
	// perStep: the report shows each step (canary, --repeat).
	perStep bool
	action  string
}

// planStep is one change and the wait for it to take effect.
type planStep struct {
	name, detail string
	// run makes the change and waits for it; setPhase names what the
	// status line shows.
	run func(ctx context.Context, timeout time.Duration, setPhase func(string)) stepResult
}

type stepResult struct {
	outcome rollout.Outcome
	// skipped: nothing happened to judge (no rollout started elsewhere).
	skipped string
	// err: the change itself was refused (a failed patch).
	err error
}

// newPlan builds the plan for o and prepares its Watchers: each reads its
// Deployment and checks the action against it. Nothing in the cluster has
// changed when it returns, even on error.
func newPlan(ctx context.Context, client kubernetes.Interface, o *RunOptions) (*plan, error) {
	var (
		p   *plan
		err error
	)
	switch {
	case o.SwitchService != "":
		p, err = switchPlan(ctx, client, o)
	case o.CanaryDeployment != "":
		p, err = canaryPlan(client, o)
	default:
		p = rolloutPlan(client, o)
	}
	if err != nil {
		return nil, err
	}
	for _, w := range p.watchers {
		if err := w.Prepare(ctx); err != nil {
			if errors.Is(err, rollout.ErrNotFound) || errors.Is(err, rollout.ErrInvalid) {
				return nil, configError{err}
			}
			return nil, fmt.Errorf("reading deployment/%s: %w", w.Name(), err)
		}
	}
	return p, nil
}

func (o *RunOptions) watcher(client kubernetes.Interface, deployment, service string, a rollout.Action, noServices bool) *rollout.Watcher {
	return rollout.NewWatcher(client, rollout.Config{
		Namespace:  o.Namespace,
		Deployment: deployment,
		Service:    service,
		Action:     a,
		NoServices: noServices,
		Now:        o.Now,
	})
}

// rolloutPlan rolls one Deployment out --repeat times: restart, set-image,
// apply, or a rollout someone else starts (watch-only).
func rolloutPlan(client kubernetes.Interface, o *RunOptions) *plan {
	w := o.watcher(client, o.Deployment, o.Service, o.action, false)
	p := &plan{primary: w, status: w, watchers: []*rollout.Watcher{w}, perStep: o.Repeat > 1, action: o.actionString()}
	for i := 1; i <= o.Repeat; i++ {
		step := planStep{name: fmt.Sprintf("%d/%d", i, o.Repeat), detail: o.oneAction()}
		if o.action.Kind == rollout.ActionWatch {
			step.run = func(ctx context.Context, timeout time.Duration, setPhase func(string)) stepResult {
				setPhase("waiting")
				fmt.Fprintf(o.ErrOut, "waiting up to %s for a rollout of deployment/%s started elsewhere\n", o.WatchWait, o.Deployment)
				if err := w.AwaitExternal(ctx, o.WatchWait); err != nil {
					if ctx.Err() != nil {
						return stepResult{outcome: rollout.Outcome{Reason: "interrupted"}}
					}
					return stepResult{skipped: "no rollout to verify: " + err.Error()}
				}
				setPhase("rollout")
				return stepResult{outcome: w.Wait(ctx, timeout)}
			}
		} else {
			step.run = func(ctx context.Context, timeout time.Duration, _ func(string)) stepResult {
				if err := w.Trigger(ctx); err != nil {
					return stepResult{err: err}
				}
				return stepResult{outcome: w.Wait(ctx, timeout)}
			}
		}
		p.steps = append(p.steps, step)
	}
	return p
}

// canaryPlan shifts replicas between the stable Deployment (o.Deployment)
// and the canary one in steps, as seed 001 does with kubectl scale: in each
// step the Deployment that grows is scaled first and waited for, then the one
// that shrinks, so that capacity never dips below the step's total.
func canaryPlan(client kubernetes.Interface, o *RunOptions) (*plan, error) {
	stable := o.watcher(client, o.Deployment, o.Service, rollout.Action{Kind: rollout.ActionScale}, false)
	canary := o.watcher(client, o.CanaryDeployment, "", rollout.Action{Kind: rollout.ActionScale}, true)
	p := &plan{primary: stable, status: stable, watchers: []*rollout.Watcher{stable, canary}, perStep: true, action: o.actionString()}
	for i, s := range o.canarySteps {
		detail := fmt.Sprintf("%s=%d %s=%d", o.Deployment, s.Stable, o.CanaryDeployment, s.Canary)
		p.steps = append(p.steps, planStep{
			name:   fmt.Sprintf("%d/%d %s", i+1, len(o.canarySteps), s),
			detail: detail,
			run: func(ctx context.Context, timeout time.Duration, _ func(string)) stepResult {
				return scaleStep(ctx, timeout, o.Now, []scaleTo{{stable, s.Stable}, {canary, s.Canary}})
			},
		})
	}
	return p, nil
}

type scaleTo struct {
	w        *rollout.Watcher
	replicas int32
}

// scaleStep scales up first, then down, waiting for each as kubectl
// rollout status would. A step that changes nothing is complete at once:
// it only holds the load.
func scaleStep(ctx context.Context, timeout time.Duration, now func() time.Time, targets []scaleTo) stepResult {
	sort.SliceStable(targets, func(i, j int) bool {
		return targets[i].replicas-targets[i].w.Status().Desired > targets[j].replicas-targets[j].w.Status().Desired
	})
	var res stepResult
	for _, t := range targets {
		if t.w.Status().Desired == t.replicas {
			continue
		}
		if err := t.w.TriggerAction(ctx, rollout.Action{Kind: rollout.ActionScale, Replicas: t.replicas}); err != nil {
			if !res.outcome.Triggered {
				return stepResult{err: err}
			}
			res.outcome.Completed, res.outcome.Reason = false, "scaling failed: "+err.Error()
			return res
		}
		out := t.w.Wait(ctx, timeout)
		if !res.outcome.Triggered {
			res.outcome = out
		} else {
			res.outcome.Completed, res.outcome.CompletedAt, res.outcome.Reason = out.Completed, out.CompletedAt, out.Reason
		}
		if !out.Completed {
			return res
		}
	}
	if !res.outcome.Triggered {
		t := now()
		res.outcome = rollout.Outcome{Triggered: true, Completed: true, StartedAt: t, CompletedAt: t}
	}
	return res
}

// switchPlan is blue/green: the Service's selector, with o.Selector merged
// in, moves from the pods of one Deployment to those of another. Both are
// found by their pod template labels, so both must be unambiguous.
func switchPlan(ctx context.Context, client kubernetes.Interface, o *RunOptions) (*plan, error) {
	svcRef := o.Namespace + "/" + o.SwitchService
	svc, err := client.CoreV1().Services(o.Namespace).Get(ctx, o.SwitchService, metav1.GetOptions{})
	if err != nil {
		return nil, classify(fmt.Errorf("get service %s: %w", svcRef, err))
	}
	if len(svc.Spec.Selector) == 0 {
		return nil, configError{fmt.Errorf("service %s has no selector: its endpoints are managed by hand, so switching a selector cannot move its traffic", svcRef)}
	}
	after := rollout.MergeSelector(svc.Spec.Selector, o.selector)
	if labels.Equals(svc.Spec.Selector, after) {
		return nil, configError{fmt.Errorf("service %s already selects %s: nothing to switch", svcRef, rollout.SelectorString(after))}
	}
	list, err := client.AppsV1().Deployments(o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, classify(fmt.Errorf("list deployments in namespace %s: %w", o.Namespace, err))
	}
	from, err := selectedDeployment(list.Items, svc.Spec.Selector, "now")
	if err != nil {
		return nil, configError{fmt.Errorf("service %s: %w", svcRef, err)}
	}
	to, err := selectedDeployment(list.Items, after, "after the switch")
	if err != nil {
		return nil, configError{fmt.Errorf("service %s: %w", svcRef, err)}
	}
	if from == to {
		return nil, configError{fmt.Errorf("service %s: deployment/%s is selected both before and after the switch: nothing moves", svcRef, from)}
	}
	if o.Deployment != "" && o.Deployment != to {
		return nil, configError{fmt.Errorf("service %s with %s selects deployment/%s, not deployment/%s", svcRef, rollout.SelectorString(after), to, o.Deployment)}
	}
	o.Deployment = to
	old := o.watcher(client, from, o.SwitchService, rollout.Action{Kind: rollout.ActionSwitch}, false)
	next := o.watcher(client, to, "", rollout.Action{Kind: rollout.ActionSwitch}, true)
	action := fmt.Sprintf("switch-service %s %s (from deployment/%s)", o.SwitchService, rollout.SelectorString(o.selector), from)
	p := &plan{primary: next, status: old, watchers: []*rollout.Watcher{old, next}, action: action}
	p.steps = []planStep{{name: "switch", detail: action, run: func(ctx context.Context, timeout time.Duration, _ func(string)) stepResult {
		if err := old.SwitchService(ctx, o.selector); err != nil {
			return stepResult{err: err}
		}
		return stepResult{outcome: old.WaitSwitched(ctx, timeout)}
	}}}
	return p, nil
}

// selectedDeployment returns the one Deployment whose pods selector selects.
func selectedDeployment(ds []appsv1.Deployment, selector map[string]string, when string) (string, error) {
	sel := labels.SelectorFromSet(selector)
	var names []string
	for _, d := range ds {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			names = append(names, d.Name)
		}
	}
	switch len(names) {
	case 1:
		return names[0], nil
	case 0:
		return "", fmt.Errorf("no deployment has pods that %s selects (%s)", sel, when)
	}
	sort.Strings(names)
	return "", fmt.Errorf("%s selects the pods of %d deployments (%s): %s; a switch needs exactly one on each side", sel, len(names), when, strings.Join(names, ", "))
}

// classify marks a NotFound from the API as bad input (exit 2).
func classify(err error) error {
	if apierrors.IsNotFound(err) {
		return configError{err}
	}
	return err
}

// warnings are what the user should know before the plan changes anything:
// a switch to pods that are not ready, a canary the Service does not send
// traffic to.
func (p *plan) warn(ctx context.Context, client kubernetes.Interface, o *RunOptions, errOut io.Writer) {
	if o.SwitchService != "" {
		d := p.primary.Deployment()
		if want := replicasOf(d); d.Status.ReadyReplicas < want {
			fmt.Fprintf(errOut, "warning: deployment/%s has %d of %d replicas ready: switching service %s to it now will send traffic to pods that cannot serve it\n",
				d.Name, d.Status.ReadyReplicas, want, o.SwitchService)
		}
	}
	if o.CanaryDeployment != "" {
		canary := p.watchers[1].Deployment()
		for _, name := range p.primary.Services() {
			svc, err := client.CoreV1().Services(o.Namespace).Get(ctx, name, metav1.GetOptions{})
			if err == nil && !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(canary.Spec.Template.Labels)) {
				fmt.Fprintf(errOut, "warning: service %s does not select the pods of deployment/%s: the canary gets none of its traffic\n", name, canary.Name)
			}
		}
	}
}

func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// checkAccess asks for every permission the plan uses, before any change.
func (p *plan) checkAccess(ctx context.Context, client kubernetes.Interface, o *RunOptions) error {
	check := rollout.CheckAccess
	if o.SwitchService != "" {
		// The switch patches the Service, not the Deployments.
		check = rollout.CheckWatchAccess
	}
	for _, w := range p.watchers {
		if err := check(ctx, client, o.Namespace, w.Name()); err != nil {
			return err
		}
	}
	if o.SwitchService != "" {
		return rollout.CheckServiceSwitch(ctx, client, o.Namespace, o.SwitchService)
	}
	return nil
}

func (p *plan) start(ctx context.Context) error {
	for _, w := range p.watchers {
		if err := w.Start(ctx); err != nil {
			return fmt.Errorf("watching deployment/%s: %w", w.Name(), err)
		}
	}
	return nil
}

func (p *plan) stop() {
	for _, w := range p.watchers {
		w.Stop()
	}
}

// events merges the timelines of every Watcher, ordered by time.
func (p *plan) events() []rollout.Event {
	var out []rollout.Event
	for _, w := range p.watchers {
		out = append(out, w.Events()...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// services are the Services whose endpoints were watched.
func (p *plan) services() []string {
	var out []string
	for _, w := range p.watchers {
		out = append(out, w.Services()...)
	}
	return out
}

// timeout is --rollout-timeout, or what kubectl rollout status would wait:
// the primary Deployment's progress deadline plus 30 s.
func (p *plan) timeout(o *RunOptions) time.Duration {
	if o.RolloutTimeout > 0 {
		return o.RolloutTimeout
	}
	if d := p.primary.Deployment(); d != nil && d.Spec.ProgressDeadlineSeconds != nil {
		return time.Duration(*d.Spec.ProgressDeadlineSeconds)*time.Second + 30*time.Second
	}
	return 630 * time.Second
}

// execution is what running the steps produced.
type execution struct {
	outcome     rollout.Outcome // of the whole plan: first trigger to last completion
	steps       []report.StepInput
	interrupted bool
	skipped     string
}

// execute runs the steps in order, holding the load for --step-hold between
// them. It stops at the first step that does not complete. A refused change
// in the first step is returned as an error (nothing changed: no report); a
// later one ends the plan as a failed step.
func (p *plan) execute(ctx context.Context, o *RunOptions, st *statusLine) (execution, error) {
	var ex execution
	timeout := p.timeout(o)
	for i, s := range p.steps {
		if i > 0 && !sleepCtx(ctx, o.StepHold) {
			ex.interrupted = true
			break
		}
		phase := "rollout"
		if len(p.steps) > 1 {
			phase = "step " + s.name
		}
		st.setPhase(phase)
		res := s.run(ctx, timeout, st.setPhase)
		if res.err != nil {
			if i == 0 {
				return ex, fmt.Errorf("triggering the rollout: %w", res.err)
			}
			res.outcome = rollout.Outcome{Triggered: true, StartedAt: o.Now(), Reason: "change refused: " + res.err.Error()}
		}
		if res.skipped != "" {
			ex.skipped = res.skipped
			break
		}
		ex.steps = append(ex.steps, report.StepInput{Name: s.name, Detail: s.detail, Outcome: res.outcome})
		ex.outcome = joinOutcomes(ex.outcome, res.outcome)
		if ctx.Err() != nil {
			ex.interrupted = true
			break
		}
		if !res.outcome.Completed {
			break
		}
	}
	if !ex.outcome.Triggered {
		ex.outcome = rollout.Outcome{}
	}
	if len(ex.steps) < len(p.steps) && ex.outcome.Completed {
		// Stopped early (interrupted during a hold): the plan as a whole
		// did not complete.
		ex.outcome.Completed, ex.outcome.Reason = false, "interrupted"
	}
	if !p.perStep {
		ex.steps = nil
	}
	return ex, nil
}

// joinOutcomes extends the plan's outcome with the next step's.
func joinOutcomes(acc, next rollout.Outcome) rollout.Outcome {
	if !acc.Triggered {
		return next
	}
	acc.Completed, acc.CompletedAt, acc.Revision = next.Completed, next.CompletedAt, next.Revision
	if next.Reason != "" {
		acc.Reason = next.Reason
	}
	return acc
}
