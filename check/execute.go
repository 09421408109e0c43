package check

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/preflight"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

// Execute runs cfg: it builds the plan, checks the caller's permissions,
// reads the Deployment's settings, starts the watches and the load, holds
// the baseline, runs the steps, holds the settle, and returns what the
// report is built from. An error means there is no report; when it comes
// before the first change (bad input for the cluster, a missing
// permission, a first change refused) the cluster is as it was.
func Execute(ctx context.Context, clients Clients, cfg Config) (report.Input, error) {
	client := clients.Kube
	rep := newReporter(cfg.Progress)
	p, err := NewPlan(ctx, clients, &cfg)
	if err != nil {
		return report.Input{}, err
	}
	if !cfg.SkipAccess {
		if err := p.checkAccess(ctx, client); err != nil {
			return report.Input{}, err
		}
	}
	pin, warnings, err := preflight.FetchWorkload(ctx, client, p.Primary.Kind(), cfg.Namespace, p.Primary.Name())
	if errors.Is(err, preflight.ErrNotFound) {
		return report.Input{}, ConfigError{err}
	}
	if err != nil {
		return report.Input{}, err
	}
	for _, w := range append(warnings, p.Warnings...) {
		rep.warning(w)
	}
	findings := preflight.Check(pin, preflight.Options{})
	fr := resolveFront(ctx, clients, &cfg, p.services(), rep.warning)
	nt := nodeTargets(ctx, clients, cfg.Namespace, fr, p.services(), rep.warning)
	if err := inClusterTargets(ctx, client, &cfg); err != nil {
		return report.Input{}, err
	}
	if err := probeTargets(ctx, &cfg); err != nil {
		return report.Input{}, err
	}
	if w := portShortage(&cfg, hostSourcePorts); w != "" {
		rep.warning(w)
	}
	defer p.stop()
	if err := p.start(ctx); err != nil {
		return report.Input{}, err
	}
	var proxies *proxyWatch
	if followsKubeProxy(cfg.KubeProxyLags, fr, cfg.Attack) {
		proxies = startProxyWatch(ctx, client, cfg.now)
		defer proxies.stop()
	}
	atkCfg := cfg.Attack
	atkCfg.NoLocal = cfg.Attackers != nil
	atk, err := attack.New(atkCfg)
	if err != nil {
		return report.Input{}, ConfigError{err}
	}
	fleet, err := startFleet(ctx, clients, &cfg, p, rep)
	if err != nil {
		return report.Input{}, err
	}
	defer fleet.remove()
	// The attackers' load ends when loadCtx does; their results are fed
	// until the Attack's Stop.
	loadCtx, endLoad := context.WithCancel(ctx)
	defer endLoad()
	atk.Start(loadCtx)
	if err := fleet.goLoad(ctx, atk); err != nil {
		atk.Stop()
		return report.Input{}, err
	}
	rep.start(ctx, atk, p, cfg.ProgressEvery)
	defer rep.stop()

	ph, err := runPhases(ctx, &cfg, p, atk, rep)
	rep.stop()
	if cfg.Attackers != nil {
		endLoad()
		fleet.stop()
	}
	res := atk.Stop()
	kubeProxies := proxies.stop()
	if p.finish != nil {
		p.finish(ctx, &ph, rep)
	}
	if err != nil {
		return report.Input{}, err
	}
	if err := atk.Err(); err != nil {
		rep.warning(fmt.Sprintf("writing the results: %v", err))
	}
	outcome := ph.outcome
	if outcome.StartedAt.IsZero() {
		outcome.Triggered = false
	}
	switchService := ""
	if cfg.Switch != nil {
		switchService = cfg.Switch.Service
	}
	settings := p.primarySettings()
	return report.Input{
		Namespace:     cfg.Namespace,
		Kind:          p.Primary.Kind(),
		Deployment:    p.Primary.Name(),
		Settings:      &settings,
		Action:        p.Action,
		Services:      p.services(),
		Spec:          p.Primary.Deployment(),
		Steps:         ph.steps,
		SwitchService: switchService,
		Timeout:       cfg.Attack.Timeout,
		Preflight:     findings,
		Targets:       redacted(cfg.Attack.Targets),
		Attack:        res,
		Events:        p.events(),
		Outcome:       outcome,
		Thresholds:    cfg.Thresholds,
		Interrupted:   ph.interrupted,
		Skipped:       ph.skipped,
		Replaces:      cfg.Switch == nil && cfg.Canary == nil && cfg.Weights == nil,
		Weights:       ph.weights,
		Drain:         ph.drain,
		Drained:       ph.drained,
		NotDrained:    ph.notDrained,
		Attackers:     fleet.inputs(),
		TLS:           targetTLS(cfg.Attack),
		Front:         fr,
		KubeProxy:     kubeProxies,
		NodeTargets:   nt,
	}, nil
}

// phases is what the baseline, the steps and the settle produced.
type phases struct {
	outcome     rollout.Outcome // of the whole plan: first trigger to last completion
	steps       []report.StepInput
	interrupted bool
	skipped     string
	// drained is when every pod the plan removed was gone; notDrained why
	// the run did not see that.
	drained    time.Time
	notDrained string
	// weights is what a weighted canary's report needs beyond the steps.
	weights *report.WeightsInput
	drain   *report.DrainInput
}

// runPhases holds the baseline, runs the plan's steps unless the baseline
// already failed, and holds the settle after a completed rollout.
func runPhases(ctx context.Context, cfg *Config, p *Plan, atk *attack.Attack, rep *reporter) (phases, error) {
	rep.SetPhase("baseline")
	if !sleepCtx(ctx, cfg.Baseline) {
		return phases{interrupted: true}, nil
	}
	snap := atk.Snapshot()
	switch {
	case snap.Failures > 0:
		return phases{skipped: fmt.Sprintf("rollout not triggered: %d of %d requests already failed in the baseline", snap.Failures, snap.Requests)}, nil
	case snap.Requests == 0:
		return phases{skipped: "rollout not triggered: no request completed in the baseline"}, nil
	}
	ph, err := runSteps(ctx, cfg, p, rep)
	if err != nil {
		return ph, err
	}
	ph.interrupted = ph.interrupted || ctx.Err() != nil
	if ph.skipped != "" || ph.interrupted || !ph.outcome.Completed {
		return ph, nil
	}
	// kubectl's "complete" comes while the old pods are still in their
	// preStop and drain: the load runs on until they are gone, and the
	// settle counts from there.
	rep.SetPhase("drain")
	if ph.drained, err = p.waitDrained(ctx); err != nil {
		ph.notDrained = err.Error()
		ph.interrupted = ctx.Err() != nil
		return ph, nil
	}
	rep.SetPhase("settle")
	if !sleepCtx(ctx, cfg.Settle) {
		ph.interrupted = true
	}
	return ph, nil
}

// runSteps runs the steps in order, holding the load for StepHold between
// them. It stops at the first step that does not complete. A refused change
// in the first step is returned as an error (nothing changed: no report); a
// later one ends the plan as a failed step.
func runSteps(ctx context.Context, cfg *Config, p *Plan, rep *reporter) (phases, error) {
	var ph phases
	timeout := p.timeout()
	for i, s := range p.Steps {
		if i > 0 && !sleepCtx(ctx, cfg.StepHold) {
			ph.interrupted = true
			break
		}
		phase := "rollout"
		if len(p.Steps) > 1 {
			phase = "step " + s.Name
		}
		rep.SetPhase(phase)
		res := s.Run(ctx, timeout, rep)
		if res.Err != nil && ctx.Err() != nil {
			// Interrupted while making the change (its request cut
			// short): the run ends as any interrupted one does, with a
			// partial report, not as a refused change.
			ph.interrupted = true
			break
		}
		if res.Err != nil {
			if i == 0 {
				return ph, fmt.Errorf("triggering the rollout: %w", res.Err)
			}
			res.Outcome = rollout.Outcome{Triggered: true, StartedAt: cfg.now(), Reason: "change refused: " + res.Err.Error()}
		}
		if res.Skipped != "" {
			ph.skipped = res.Skipped
			break
		}
		ph.steps = append(ph.steps, report.StepInput{Name: s.Name, Detail: s.Detail, Outcome: res.Outcome, Weights: s.Weights})
		ph.outcome = joinOutcomes(ph.outcome, res.Outcome)
		if ctx.Err() != nil {
			ph.interrupted = true
			break
		}
		if !res.Outcome.Completed {
			break
		}
	}
	if !ph.outcome.Triggered {
		ph.outcome = rollout.Outcome{}
	}
	if len(ph.steps) < len(p.Steps) && ph.outcome.Completed {
		// Stopped early (interrupted during a hold): the plan as a whole
		// did not complete.
		ph.outcome.Completed, ph.outcome.Reason = false, "interrupted"
	}
	if !p.PerStep {
		ph.steps = nil
	}
	return ph, nil
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

// sleepCtx waits d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// redacted hides passwords in the target URLs before they reach the report.
func redacted(targets []attack.Target) []string {
	out := make([]string, len(targets))
	for i, t := range targets {
		out[i] = attack.RedactURL(t.URL)
	}
	return out
}
