// Package check runs one rollcheck check: a constant load, a baseline, the
// steps of a rollout strategy (restart ×N, set-image, apply, watch-only,
// a blue/green switch, canary steps), the settle, and returns everything the
// report needs. It is the engine behind `rollcheck run`, driven by a plain
// Config: no flags, no files, no writers. Progress goes to a callback.
package check

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/attackers"
	"github.com/rollcheck/rollcheck/front"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

// Clients are the connections a run uses.
type Clients struct {
	Kube kubernetes.Interface
	// Attackers reaches attacker pods (logs, port-forward); needed with
	// Config.Attackers.
	Attackers attackers.Transport
	// Dynamic reads the Gateway API's HTTPRoutes when the front is
	// inferred; nil: none are looked for.
	Dynamic dynamic.Interface
}

// Config is one run, parsed and checked by the caller. Durations are as the
// user gave them; zero RolloutTimeout means the Deployment's own deadline.
type Config struct {
	Namespace string
	// Kind is the kind of the workload rolled out (Deployment when unset);
	// a StatefulSet or DaemonSet takes restart, set-image, apply and
	// watch-only, not a switch or canary steps.
	Kind rollout.Kind
	// Deployment is the one rolled out (its name, whatever Kind); for
	// canary steps the stable one; for a switch, optional: the Deployment
	// the Service switches to (checked).
	Deployment string
	// Service whose EndpointSlices are watched; "" finds every Service that
	// selects the pods.
	Service string
	// Action starts each rollout: restart, set-image, apply or watch-only.
	// Switch and Canary, when set, take its place.
	Action rollout.Action
	// WatchTimeout bounds the wait for a rollout started elsewhere
	// (watch-only).
	WatchTimeout time.Duration
	Switch       *Switch
	Canary       *Canary
	// Weights, when set, shifts an HTTPRoute's weights between the stable
	// Service (Service, or the route's other backendRef) and a canary one.
	Weights *Weights
	// Drain, when set, drains a node under the load instead of rolling
	// the workload out; the workload is only watched.
	Drain *Drain
	// Repeat rolls out this many times under the same load (restart only).
	Repeat int

	Baseline       time.Duration
	Settle         time.Duration
	StepHold       time.Duration
	RolloutTimeout time.Duration

	Attack     attack.Config
	Thresholds report.Thresholds
	// Front is what carries the load to the pods as the user named it
	// (--front); "" or front.Auto infers it before the rollout.
	Front front.Name
	// KubeProxyLags says whether to read each node's kube-proxy syncs
	// (kubeproxy.go): KubeProxyAuto when the front goes through
	// kube-proxy, KubeProxyOn, KubeProxyOff.
	KubeProxyLags string
	// Attackers, when set, sends the load from pods in the cluster
	// (check/attackers.go) instead of from this process.
	Attackers *Attackers
	// SkipAccess skips the RBAC check before any change.
	SkipAccess bool
	// InCluster says the run itself is in a pod of the cluster, so that
	// targets only reachable from inside it (a ClusterIP, a Service name)
	// are allowed without attackers.
	InCluster bool

	// Now is the clock of the run (time.Now when nil).
	Now func() time.Time
	// Progress receives what the run is doing, serialized (nil: nothing).
	Progress func(Progress)
	// ProgressEvery is how often a ProgressTick is sent (default 5s).
	ProgressEvery time.Duration
}

// Switch is blue/green: merge Selector into Service's selector.
type Switch struct {
	Service  string
	Selector map[string]string
}

// Canary shifts replicas from the stable Deployment to Deployment in Steps.
type Canary struct {
	Deployment string
	Steps      []rollout.CanaryStep
}

// Weights is a weighted canary: the weights of the stable and the canary
// Service's backendRefs in one HTTPRoute, shifted in Steps. The
// Deployments are the ones the Services select, found at run time.
type Weights struct {
	Route         string
	CanaryService string
	// CanaryDeployment, when set, must be the Deployment CanaryService
	// selects (checked before any change).
	CanaryDeployment string
	Steps            []rollout.WeightStep
	// Keep leaves the last step's weights on the route when every step
	// ran; otherwise, and whenever the run stops early, the run puts back
	// the weights the route had.
	Keep bool
}

// Ref names the rolled-out workload as kubectl does: kind/name.
func (c *Config) Ref() string { return c.Kind.Ref(c.Deployment) }

// ConfigError is input that is well formed but wrong for the cluster (a
// Deployment that does not exist, a Service that already selects the
// target): nothing in the cluster was changed.
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return e.Err.Error() }
func (e ConfigError) Unwrap() error { return e.Err }

func (c *Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// actionName names the run's action in the report: one change, times
// Repeat.
func (c *Config) actionName() string {
	if c.Repeat > 1 {
		return fmt.Sprintf("%s x%d", c.stepAction(), c.Repeat)
	}
	return c.stepAction()
}

// stepAction names one change of the run, as a step's detail.
func (c *Config) stepAction() string {
	if c.Drain != nil {
		return "drain node/" + c.Drain.Node
	}
	if w := c.Weights; w != nil {
		steps := make([]string, len(w.Steps))
		for i, s := range w.Steps {
			steps[i] = s.String()
		}
		return fmt.Sprintf("canary-weights %s to service/%s on httproute/%s", strings.Join(steps, ","), w.CanaryService, w.Route)
	}
	if c.Canary != nil {
		steps := make([]string, len(c.Canary.Steps))
		for i, s := range c.Canary.Steps {
			steps[i] = s.String()
		}
		return fmt.Sprintf("canary-steps %s to deployment/%s", strings.Join(steps, ","), c.Canary.Deployment)
	}
	switch c.Action.Kind {
	case rollout.ActionSetImage:
		var images []string
		for _, name := range slices.Sorted(maps.Keys(c.Action.Images)) {
			images = append(images, name+"="+c.Action.Images[name])
		}
		return "set-image " + strings.Join(images, ",")
	case rollout.ActionApply:
		return "apply " + c.Action.Source
	}
	return string(c.Action.Kind)
}
