package main

// The run command's action: the one change to the cluster it makes, and
// the flags that go with it, parsed into the check's Config.

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rollcheck/rollcheck/check"
	"github.com/rollcheck/rollcheck/rollout"
)

// validateAction parses the deployment and the one action that changes the
// cluster, with the settings that go with it, into cfg.
func (o *RunOptions) validateAction(cfg *check.Config) error {
	actions := []string{}
	for name, set := range map[string]bool{
		"--restart": o.Restart, "--set-image": len(o.SetImage) > 0, "--watch-only": o.WatchOnly,
		"--apply": o.Apply != "", "--switch-service": o.SwitchService != "", "--canary-steps": o.CanarySteps != "",
		"--canary-weights": o.CanaryWeights != "", "--drain": o.Drain != "",
	} {
		if set {
			actions = append(actions, name)
		}
	}
	sort.Strings(actions)
	if len(actions) > 1 {
		return fmt.Errorf("%s are exclusive: choose one action", strings.Join(actions, " and "))
	}
	if len(actions) == 0 {
		return errors.New("no rollout action: give --restart, --set-image CONTAINER=IMAGE, --apply FILE, --watch-only, --switch-service NAME --selector k=v, --canary NAME --canary-steps S/C,..., --canary-route NAME --canary-service NAME --canary-weights S/C,... or --drain NODE")
	}
	if o.CanaryWeights == "" {
		for flag, set := range map[string]bool{"--canary-route": o.CanaryRoute != "", "--canary-service": o.CanaryService != "", "--canary-keep": o.CanaryKeep} {
			if set {
				return fmt.Errorf("%s goes with --canary-weights STABLE/CANARY,...", flag)
			}
		}
	}
	if o.Uncordon && o.Drain == "" {
		return errors.New("--uncordon goes with --drain NODE")
	}
	if o.Selector != "" && o.SwitchService == "" {
		return errors.New("--selector goes with --switch-service")
	}
	if o.CanaryDeployment != "" && o.CanarySteps == "" && o.CanaryWeights == "" {
		return errors.New("--canary needs --canary-steps STABLE/CANARY,... (or --canary-weights, where it names the canary Service's Deployment)")
	}
	if o.Repeat < 1 {
		return fmt.Errorf("--repeat must be 1 or more, got %d", o.Repeat)
	}
	if o.Repeat > 1 && !o.Restart {
		return fmt.Errorf("--repeat goes with --restart only: %s a second time would not change the pod template, so nothing would roll out", actions[0])
	}
	if o.StepHold < 0 {
		return fmt.Errorf("--step-hold must not be negative, got %s", o.StepHold)
	}
	if o.Deployment != "" {
		kind, name, err := rollout.ParseWorkload(o.Deployment)
		if err != nil {
			return err
		}
		cfg.Kind, cfg.Deployment = kind, name
	}
	if cfg.Kind != "" && cfg.Kind != rollout.KindDeployment && (o.SwitchService != "" || o.CanarySteps != "" || o.CanaryWeights != "") {
		return fmt.Errorf("%s: --switch-service, --canary-steps and --canary-weights move traffic between Deployments; a %s takes --restart, --set-image, --apply or --watch-only", cfg.Kind.Ref(cfg.Deployment), cfg.Kind.Title())
	}
	switch {
	case o.Drain != "":
		if errs := validation.IsDNS1123Subdomain(o.Drain); len(errs) > 0 {
			return fmt.Errorf("--drain %q: not a node name: %s", o.Drain, strings.Join(errs, "; "))
		}
		cfg.Action = rollout.Action{Kind: rollout.ActionDrain}
		cfg.Drain = &check.Drain{Node: o.Drain, Uncordon: o.Uncordon}
	case o.WatchOnly:
		if o.WatchWait < 0 {
			return fmt.Errorf("--watch-timeout must not be negative, got %s", o.WatchWait)
		}
		cfg.Action = rollout.Action{Kind: rollout.ActionWatch}
	case o.Restart:
		cfg.Action = rollout.Action{Kind: rollout.ActionRestart}
	case len(o.SetImage) > 0:
		images, err := rollout.ParseImages(o.SetImage)
		if err != nil {
			return err
		}
		cfg.Action = rollout.Action{Kind: rollout.ActionSetImage, Images: images}
	case o.Apply != "":
		data, err := os.ReadFile(o.Apply)
		if err != nil {
			return fmt.Errorf("--apply: %w", err)
		}
		m, err := rollout.ParseManifest(o.Apply, data)
		if err != nil {
			return err
		}
		switch {
		case cfg.Deployment == "":
			cfg.Kind, cfg.Deployment = m.Kind, m.Name
		case cfg.Deployment != m.Name || (o.Deployment != "" && cfg.Kind != m.Kind):
			return fmt.Errorf("%s is %s, not %s", o.Apply, m.Kind.Ref(m.Name), cfg.Kind.Ref(cfg.Deployment))
		}
		cfg.Kind = m.Kind
		cfg.Action = rollout.Action{Kind: rollout.ActionApply, Manifest: m.JSON, Source: o.Apply}
	case o.SwitchService != "":
		if o.Selector == "" {
			return errors.New("--switch-service needs --selector key=value: the labels that pick the pods to switch to")
		}
		sel, err := rollout.ParseSelector(o.Selector)
		if err != nil {
			return err
		}
		if o.Service != "" && o.Service != o.SwitchService {
			return fmt.Errorf("--service %s and --switch-service %s: the endpoints watched are those of the switched Service", o.Service, o.SwitchService)
		}
		cfg.Action = rollout.Action{Kind: rollout.ActionSwitch}
		cfg.Switch = &check.Switch{Service: o.SwitchService, Selector: sel}
		return nil // the Deployments are found from the Service
	case o.CanarySteps != "":
		if o.CanaryDeployment == "" {
			return errors.New("--canary-steps needs --canary NAME: the canary Deployment")
		}
		name, err := rollout.ParseDeploymentName(o.CanaryDeployment)
		if err != nil {
			return fmt.Errorf("--canary: %w", err)
		}
		steps, err := rollout.ParseCanarySteps(o.CanarySteps)
		if err != nil {
			return err
		}
		if cfg.Deployment == name {
			return fmt.Errorf("the stable and the canary Deployment are both %q", name)
		}
		cfg.Action = rollout.Action{Kind: rollout.ActionScale}
		cfg.Canary = &check.Canary{Deployment: name, Steps: steps}
	case o.CanaryWeights != "":
		w, err := o.weights()
		if err != nil {
			return err
		}
		cfg.Action = rollout.Action{Kind: rollout.ActionWeights}
		cfg.Weights = w
		return nil // the Deployments are found from the Services
	}
	if cfg.Deployment == "" {
		return errors.New("no deployment: give deployment/NAME (or statefulset/NAME, daemonset/NAME) or --deployment NAME")
	}
	return nil
}

// weights parses a weighted canary's flags. The Services and the route are
// checked against the cluster before the first step (check.NewPlan).
func (o *RunOptions) weights() (*check.Weights, error) {
	if o.CanaryRoute == "" || o.CanaryService == "" {
		return nil, errors.New("--canary-weights needs --canary-route NAME (the HTTPRoute) and --canary-service NAME (the canary's Service, one of its backendRefs)")
	}
	route, err := rollout.ParseRouteName(o.CanaryRoute)
	if err != nil {
		return nil, fmt.Errorf("--canary-route: %w", err)
	}
	for flag, name := range map[string]string{"--canary-service": o.CanaryService, "--service": o.Service} {
		if name == "" {
			continue
		}
		if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
			return nil, fmt.Errorf("%s %q: not a Service name: %s", flag, name, strings.Join(errs, "; "))
		}
	}
	if o.Service == o.CanaryService {
		return nil, fmt.Errorf("--service and --canary-service are both %q: the stable and the canary Service must differ", o.Service)
	}
	steps, err := rollout.ParseCanaryWeights(o.CanaryWeights)
	if err != nil {
		return nil, err
	}
	w := &check.Weights{Route: route, CanaryService: o.CanaryService, Steps: steps, Keep: o.CanaryKeep}
	if o.CanaryDeployment != "" {
		if w.CanaryDeployment, err = rollout.ParseDeploymentName(o.CanaryDeployment); err != nil {
			return nil, fmt.Errorf("--canary: %w", err)
		}
	}
	return w, nil
}
