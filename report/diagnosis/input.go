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
	// Front is what carried the load to the pods (alb, nlb, kube-proxy,
	// ingress, gateway; "" unknown), for the rules that depend on it.
	Front string
	// Options tune the attribution windows; zero values take defaults.
	Options Options
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

	set     settings
	slowest time.Duration
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
	if in.SwitchService != "" && in.Spec != nil {
		set.switchService, set.switchTo, set.readyBefore = in.SwitchService, in.Spec.Name, int(in.Spec.Status.ReadyReplicas)
	}
	pre := preStops{serving: set.servingPreStop(), byContainer: set.preStopsByContainer(), known: set.known && !set.unknownPreStop()}
	d := diagnose(in, a, pre, in.Options)
	d.set, d.slowest = set, a.Max
	return d
}

// Recommend lists the settings to change for the causes (the Result's own,
// as annotated since) and the measurements.
func (r *Result) Recommend(causes []Cause) []Recommendation {
	return recommend(r.set, causes, r.Measurements, r.slowest)
}
