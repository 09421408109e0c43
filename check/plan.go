package check

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/rollcheck/rollcheck/rollout"
	"github.com/rollcheck/rollcheck/workload"
)

// Plan is what a run does to the cluster: the Drivers that follow it and
// the Steps that change it. Every strategy (one rollout, a repeat, a canary
// in steps, a blue/green switch) is a Plan, so load, correlation and report
// are the same for all.
type Plan struct {
	// Primary's Deployment is the one the report is about (its settings
	// are what the recommendations change).
	Primary *rollout.Driver
	// Status is the Driver the live progress follows: the one that sees
	// the Service's endpoints.
	Status *rollout.Driver
	// Backends are a weighted canary's Services, each with the Driver of
	// its Deployment, for the live progress.
	Backends []Backend
	Drivers  []*rollout.Driver
	Steps    []Step
	// PerStep: the report shows each step (canary, repeat).
	PerStep bool
	// Action names the plan in the report.
	Action string
	// Warnings are what the user should know before the plan changes
	// anything (see NewPlan).
	Warnings []string
	// finish puts back what the steps changed that the run does not
	// leave behind (a weighted canary's route), after the load; nil:
	// nothing to put back.
	finish func(ctx context.Context, ph *phases, rep *reporter)

	cfg *Config
}

// Step is one change and the wait for it to take effect.
type Step struct {
	Name, Detail string
	// Weights are the route weights the step sets (a weighted canary).
	Weights *rollout.WeightStep
	// Run makes the change and waits up to timeout for it.
	Run func(ctx context.Context, timeout time.Duration, r Reporter) StepResult
}

// StepResult is how one step ended.
type StepResult struct {
	Outcome rollout.Outcome
	// Skipped: nothing happened to judge (no rollout started elsewhere).
	Skipped string
	// Err: the change itself was refused (a failed patch).
	Err error
}

// NewPlan builds the plan for cfg and prepares its Drivers: each reads its
// Deployment and checks the action against it. Nothing in the cluster has
// changed when it returns, even on error.
func NewPlan(ctx context.Context, clients Clients, cfg *Config) (*Plan, error) {
	client := clients.Kube
	var (
		p   *Plan
		err error
	)
	if cfg.Attackers != nil && (cfg.Attack.NodeHeader != "" || cfg.Attack.EntryNode != "") {
		return nil, ConfigError{errors.New("--node-header and --entry-node are read from a local load only: the attacker pods do not carry them yet")}
	}
	switch {
	case cfg.Switch != nil:
		p, err = switchPlan(ctx, client, cfg)
	case cfg.Weights != nil:
		p, err = weightsPlan(ctx, clients, cfg)
	case cfg.Drain != nil:
		p, err = drainPlan(ctx, client, cfg)
	case cfg.Canary != nil:
		p = canaryPlan(client, cfg)
	default:
		p = rolloutPlan(client, cfg)
	}
	if err != nil {
		return nil, err
	}
	p.cfg = cfg
	for _, w := range p.Drivers {
		if err := w.Prepare(ctx); err != nil {
			if errors.Is(err, rollout.ErrNotFound) || errors.Is(err, rollout.ErrInvalid) {
				return nil, ConfigError{err}
			}
			return nil, fmt.Errorf("reading %s: %w", w.Ref(), err)
		}
	}
	p.Warnings = append(p.Warnings, p.warnings(ctx, client)...)
	return p, nil
}

func driver(client kubernetes.Interface, cfg *Config, kind rollout.Kind, deployment, service string, a rollout.Action, noServices bool) *rollout.Driver {
	return rollout.NewDriver(client, rollout.Config{
		Namespace:  cfg.Namespace,
		Kind:       kind,
		Deployment: deployment,
		Service:    service,
		Action:     a,
		NoServices: noServices,
		Now:        cfg.Now,
	})
}

// rolloutPlan rolls one Deployment out Repeat times: restart, set-image,
// apply, or a rollout someone else starts (watch-only).
func rolloutPlan(client kubernetes.Interface, cfg *Config) *Plan {
	w := driver(client, cfg, cfg.Kind, cfg.Deployment, cfg.Service, cfg.Action, false)
	repeat := max(cfg.Repeat, 1)
	p := &Plan{Primary: w, Status: w, Drivers: []*rollout.Driver{w}, PerStep: repeat > 1, Action: cfg.actionName()}
	for i := 1; i <= repeat; i++ {
		step := Step{Name: fmt.Sprintf("%d/%d", i, repeat), Detail: cfg.stepAction()}
		if cfg.Action.Kind == rollout.ActionWatch {
			step.Run = func(ctx context.Context, timeout time.Duration, r Reporter) StepResult {
				r.SetPhase("waiting")
				r.Notice(fmt.Sprintf("waiting up to %s for a rollout of %s started elsewhere", cfg.WatchTimeout, cfg.Ref()))
				if err := w.AwaitExternal(ctx, cfg.WatchTimeout); err != nil {
					if ctx.Err() != nil {
						return StepResult{Outcome: rollout.Outcome{Reason: "interrupted"}}
					}
					return StepResult{Skipped: "no rollout to verify: " + err.Error()}
				}
				r.SetPhase("rollout")
				return StepResult{Outcome: w.Wait(ctx, timeout)}
			}
		} else {
			step.Run = func(ctx context.Context, timeout time.Duration, r Reporter) StepResult {
				if err := w.Trigger(ctx); err != nil {
					return StepResult{Err: err}
				}
				r.Tick()
				return StepResult{Outcome: w.Wait(ctx, timeout)}
			}
		}
		p.Steps = append(p.Steps, step)
	}
	return p
}

// canaryPlan shifts replicas between the stable Deployment and the canary
// one in steps, as seed 001 does with kubectl scale: in each step the
// Deployment that grows is scaled first and waited for, then the one that
// shrinks, so that capacity never dips below the step's total.
func canaryPlan(client kubernetes.Interface, cfg *Config) *Plan {
	scale := rollout.Action{Kind: rollout.ActionScale}
	stable := driver(client, cfg, rollout.KindDeployment, cfg.Deployment, cfg.Service, scale, false)
	canary := driver(client, cfg, rollout.KindDeployment, cfg.Canary.Deployment, "", scale, true)
	p := &Plan{Primary: stable, Status: stable, Drivers: []*rollout.Driver{stable, canary}, PerStep: true, Action: cfg.actionName()}
	steps := cfg.Canary.Steps
	for i, s := range steps {
		p.Steps = append(p.Steps, Step{
			Name:   fmt.Sprintf("%d/%d %s", i+1, len(steps), s),
			Detail: fmt.Sprintf("%s=%d %s=%d", cfg.Deployment, s.Stable, cfg.Canary.Deployment, s.Canary),
			Run: func(ctx context.Context, timeout time.Duration, _ Reporter) StepResult {
				return scaleStep(ctx, timeout, cfg.now, []scaleTo{{stable, s.Stable}, {canary, s.Canary}})
			},
		})
	}
	return p
}

type scaleTo struct {
	w        *rollout.Driver
	replicas int32
}

// scaleStep scales up first, then down, waiting for each as kubectl
// rollout status would. A step that changes nothing is complete at once:
// it only holds the load.
func scaleStep(ctx context.Context, timeout time.Duration, now func() time.Time, targets []scaleTo) StepResult {
	sort.SliceStable(targets, func(i, j int) bool {
		return targets[i].replicas-targets[i].w.Status().Desired > targets[j].replicas-targets[j].w.Status().Desired
	})
	var res StepResult
	for _, t := range targets {
		if t.w.Status().Desired == t.replicas {
			continue
		}
		if err := t.w.TriggerAction(ctx, rollout.Action{Kind: rollout.ActionScale, Replicas: t.replicas}); err != nil {
			if !res.Outcome.Triggered {
				return StepResult{Err: err}
			}
			res.Outcome.Completed, res.Outcome.Reason = false, "scaling failed: "+err.Error()
			return res
		}
		out := t.w.Wait(ctx, timeout)
		if !res.Outcome.Triggered {
			res.Outcome = out
		} else {
			res.Outcome.Completed, res.Outcome.CompletedAt, res.Outcome.Reason = out.Completed, out.CompletedAt, out.Reason
		}
		if !out.Completed {
			return res
		}
	}
	if !res.Outcome.Triggered {
		t := now()
		res.Outcome = rollout.Outcome{Triggered: true, Completed: true, StartedAt: t, CompletedAt: t}
	}
	return res
}

// switchPlan is blue/green: the Service's selector, with the Switch's
// selector merged in, moves from the pods of one Deployment to those of
// another. Both are found by their pod template labels, so both must be
// unambiguous.
func switchPlan(ctx context.Context, client kubernetes.Interface, cfg *Config) (*Plan, error) {
	sw := cfg.Switch
	svcRef := cfg.Namespace + "/" + sw.Service
	svc, err := client.CoreV1().Services(cfg.Namespace).Get(ctx, sw.Service, metav1.GetOptions{})
	if err != nil {
		return nil, notFoundIsConfig(fmt.Errorf("get service %s: %w", svcRef, err))
	}
	if len(svc.Spec.Selector) == 0 {
		return nil, ConfigError{fmt.Errorf("service %s has no selector: its endpoints are managed by hand, so switching a selector cannot move its traffic", svcRef)}
	}
	after := rollout.MergeSelector(svc.Spec.Selector, sw.Selector)
	if labels.Equals(svc.Spec.Selector, after) {
		return nil, ConfigError{fmt.Errorf("service %s already selects %s: nothing to switch", svcRef, rollout.SelectorString(after))}
	}
	list, err := client.AppsV1().Deployments(cfg.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, notFoundIsConfig(fmt.Errorf("list deployments in namespace %s: %w", cfg.Namespace, err))
	}
	from, err := selectedDeployment(list.Items, svc.Spec.Selector, "now", switchNeed)
	if err != nil {
		return nil, ConfigError{fmt.Errorf("service %s: %w", svcRef, err)}
	}
	to, err := selectedDeployment(list.Items, after, "after the switch", switchNeed)
	if err != nil {
		return nil, ConfigError{fmt.Errorf("service %s: %w", svcRef, err)}
	}
	if from == to {
		return nil, ConfigError{fmt.Errorf("service %s: deployment/%s is selected both before and after the switch: nothing moves", svcRef, from)}
	}
	if cfg.Deployment != "" && cfg.Deployment != to {
		return nil, ConfigError{fmt.Errorf("service %s with %s selects deployment/%s, not deployment/%s", svcRef, rollout.SelectorString(after), to, cfg.Deployment)}
	}
	action := rollout.Action{Kind: rollout.ActionSwitch}
	old := driver(client, cfg, rollout.KindDeployment, from, sw.Service, action, false)
	next := driver(client, cfg, rollout.KindDeployment, to, "", action, true)
	name := fmt.Sprintf("switch-service %s %s (from deployment/%s)", sw.Service, rollout.SelectorString(sw.Selector), from)
	p := &Plan{Primary: next, Status: old, Drivers: []*rollout.Driver{old, next}, Action: name}
	p.Steps = []Step{{Name: "switch", Detail: name, Run: func(ctx context.Context, timeout time.Duration, _ Reporter) StepResult {
		if err := old.SwitchService(ctx, sw.Selector); err != nil {
			return StepResult{Err: err}
		}
		return StepResult{Outcome: old.WaitSwitched(ctx, timeout)}
	}}}
	return p, nil
}

// switchNeed is what a switch needs of the Deployments its selectors pick.
const switchNeed = "a switch needs exactly one on each side"

// selectedDeployment returns the one Deployment whose pods selector selects;
// when and need are the words of the errors.
func selectedDeployment(ds []appsv1.Deployment, selector map[string]string, when, need string) (string, error) {
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
	return "", fmt.Errorf("%s selects the pods of %d deployments (%s): %s; %s", sel, len(names), when, strings.Join(names, ", "), need)
}

// notFoundIsConfig marks a NotFound from the API as bad input.
func notFoundIsConfig(err error) error {
	if apierrors.IsNotFound(err) {
		return ConfigError{err}
	}
	return err
}

// warnings are what the user should know before the plan changes anything:
// a switch to pods that are not ready, a canary the Service does not send
// traffic to.
func (p *Plan) warnings(ctx context.Context, client kubernetes.Interface) []string {
	var out []string
	if sw := p.cfg.Switch; sw != nil {
		d := p.Primary.Deployment()
		if want := int32(workload.Read(d).Replicas); d.Status.ReadyReplicas < want {
			out = append(out, fmt.Sprintf("deployment/%s has %d of %d replicas ready: switching service %s to it now will send traffic to pods that cannot serve it",
				d.Name, d.Status.ReadyReplicas, want, sw.Service))
		}
	}
	if p.cfg.Canary != nil {
		canary := p.Drivers[1].Deployment()
		for _, name := range p.Primary.Services() {
			svc, err := client.CoreV1().Services(p.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
			if err == nil && !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(canary.Spec.Template.Labels)) {
				out = append(out, fmt.Sprintf("service %s does not select the pods of deployment/%s: the canary gets none of its traffic", name, canary.Name))
			}
		}
	}
	return out
}

// checkAccess asks for every permission the plan uses, before any change.
func (p *Plan) checkAccess(ctx context.Context, client kubernetes.Interface) error {
	var names []string
	for _, d := range p.Drivers {
		names = append(names, d.Name())
	}
	return rollout.CheckPermissions(ctx, client, p.cfg.Permissions(names...))
}

func (p *Plan) start(ctx context.Context) error {
	for _, w := range p.Drivers {
		if err := w.Start(ctx); err != nil {
			return fmt.Errorf("watching %s: %w", w.Ref(), err)
		}
	}
	return nil
}

func (p *Plan) stop() {
	for _, w := range p.Drivers {
		w.Stop()
	}
}

// events merges the timelines of every Driver, ordered by time.
func (p *Plan) events() []rollout.Event {
	var out []rollout.Event
	for _, w := range p.Drivers {
		out = append(out, w.Events()...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// services are the Services whose endpoints were watched.
func (p *Plan) services() []string {
	var out []string
	for _, w := range p.Drivers {
		out = append(out, w.Services()...)
	}
	return out
}

// waitDrained waits, up to the rollout timeout, until every pod the plan
// removed is gone, and returns when the last was.
func (p *Plan) waitDrained(ctx context.Context) (time.Time, error) {
	deadline := time.Now().Add(p.timeout())
	var last time.Time
	for _, d := range p.Drivers {
		t, err := d.WaitDrained(ctx, max(time.Until(deadline), time.Millisecond))
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", d.Ref(), err)
		}
		if t.After(last) {
			last = t
		}
	}
	return last, nil
}

// primarySettings reads the primary workload's settings through the
// workload model, as Prepare read the object: the one reader of what the
// plan, the diagnosis and lint know about it.
func (p *Plan) primarySettings() workload.Deployment {
	return workload.ReadObject(p.Primary.Object())
}

// timeout is the configured rollout timeout, or what kubectl rollout status
// would wait: the primary workload's progress deadline (the model's, with
// the API default of 600 s) plus 30 s. A StatefulSet or DaemonSet has no
// deadline (kubectl would wait for ever): a Deployment's default then
// bounds the wait.
func (p *Plan) timeout() time.Duration {
	if p.cfg.RolloutTimeout > 0 {
		return p.cfg.RolloutTimeout
	}
	deadline := p.primarySettings().ProgressDeadline
	if deadline <= 0 {
		deadline = workload.DefaultProgressDeadline
	}
	return deadline + 30*time.Second
}
