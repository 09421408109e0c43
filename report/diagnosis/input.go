package diagnosis

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
	"github.com/rollcheck/rollcheck/workload"
)

// Input is what the diagnosis reads of a run: the load as the cluster saw
// it, the pods' timeline and the workload's settings.
type Input struct {
	// Attack is the load without the client's own failures (they never
	// tested the cluster); nil is no load.
	Attack   *attack.Result
	Events   []rollout.Event
	Outcome  rollout.Outcome
	Services []string
	// Spec is the Deployment as it was before the rollout (nil: unknown);
	// recommendations compare their values with its settings.
	Spec *appsv1.Deployment
	// Settings are the workload's settings as the workload model read them
	// (nil: read from Spec).
	Settings *workload.Deployment
	// SwitchService names the Service of a blue/green switch to Spec's
	// Deployment ("" for other actions): advice is about the switch then.
	SwitchService string
	// Front is what carried the load to the pods (alb, alb-instance, nlb,
	// kube-proxy, ingress, gateway; "" unknown), for the rules that depend
	// on it.
	Front string
	// Backends are the Services a weighted route sends the load to beside
	// the primary one, with their weights over time (nil for other runs):
	// a backend with weight and no ready endpoint fails its share.
	Backends []Backend
	// Drain is a node drain's node and what it evicted (nil for other
	// runs): advice is about disruption budgets and spread then.
	Drain *Drain
	// ProxyLags are when each node's kube-proxy applied each pod's removal
	// (nil: not read).
	ProxyLags []ProxyLag
	// NodeTargets is the front's node targets, when they are nodes in
	// front of a Service with externalTrafficPolicy Local (nil otherwise).
	NodeTargets *NodeTargets
	// Options tune the attribution windows; zero values take defaults.
	Options Options
}

// Drain is what the advice needs of a node drain.
type Drain struct {
	Node string
	// Evicted counts the workload's pods the drain evicted from the node.
	Evicted int
	// PDBs are the PodDisruptionBudgets that select the workload's pods,
	// with their rule ("default/web: maxUnavailable 1"); none: it has none.
	PDBs []string
}

// Backend is one Service of a weighted route and its weight from each time
// on (At ascending; before the first, its weight is unknown and taken as
// none).
type Backend struct {
	Service string
	At      []time.Time
	Weight  []int32
}

// weightAt returns the backend's weight at t.
func (b Backend) weightAt(t time.Time) int32 {
	w := int32(0)
	for i, at := range b.At {
		if at.After(t) {
			break
		}
		w = b.Weight[i]
	}
	return w
}

// weightWithin returns the backend's largest weight in [t-d, t]: a front
// applies a route's new weights some time after they are set.
func (b Backend) weightWithin(t time.Time, d time.Duration) int32 {
	w := b.weightAt(t.Add(-d))
	for i, at := range b.At {
		if at.After(t.Add(-d)) && !at.After(t) {
			w = max(w, b.Weight[i])
		}
	}
	return w
}

// Result is the diagnosis of a run. The causes may still be annotated (by
// the lint findings that foresaw them, the watch gaps that blur them)
// before Recommend reads them.
type Result struct {
	// Causes are ordered by failures, UNATTRIBUTED last.
	Causes []Cause
	// Attributed counts the failures by pod, phase and cause.
	Attributed []Attributed
	// Attribution says how failures were tied to pods: pod-header,
	// time-window or mixed; "" when no failure was tied to a pod.
	Attribution  string
	Measurements Measurements

	set           settings
	slowest       time.Duration
	emptyBackends []emptyBackend
	nodeTargets   *NodeTargets
	overload      *overload
}

// Diagnose ties every failure of the run to a pod and a phase, names the
// causes and measures the lifecycle.
func Diagnose(in Input) *Result {
	a := in.Attack
	if a == nil {
		a = &attack.Result{}
	}
	set := readSettings(in.Spec)
	if in.Settings != nil {
		set = settingsOf(*in.Settings, true)
	}
	set.drain, set.stopSignals, set.seen = in.Drain, startedStopSignals(in.Events), containersSeen(in.Events)
	if in.SwitchService != "" && in.Spec != nil {
		set.switchService, set.switchTo, set.readyBefore = in.SwitchService, in.Spec.Name, int(in.Spec.Status.ReadyReplicas)
	}
	pre := preStops{serving: set.servingPreStop(), byContainer: set.preStopsByContainer(), known: set.known && !set.unknownPreStop(), stopsAtOnce: set.stopsAtOnce(), containers: set.sidecarsOf()}
	d := diagnose(in, a, pre, in.Options)
	set.emptyBackends, set.overload = d.emptyBackends, d.overload
	d.set, d.slowest, d.nodeTargets = set, a.Max, in.NodeTargets
	return d
}

// Recommend lists the settings to change for the causes (the Result's own,
// as annotated since) and the measurements.
func (r *Result) Recommend(causes []Cause) []Recommendation {
	return recommend(r.set, causes, r.Measurements, r.slowest, r.nodeTargets)
}
