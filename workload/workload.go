// Package workload is the one reader of a Deployment's settings that decide
// how a rollout goes: the preStop length of each container, the grace
// period, the probes, the rolling update parameters resolved against the
// replica count, minReadySeconds and progressDeadlineSeconds, each with the
// API server's default when unset. Lint (preflight) and the run report
// (report) both read a Deployment through it, so they cannot disagree on
// what a manifest says.
package workload

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Defaults of the Kubernetes API for unset fields.
const (
	DefaultGrace            = 30 * time.Second
	DefaultProgressDeadline = 600 * time.Second
	DefaultProbePeriod      = 10 * time.Second
	// DefaultMaxSurgeOrUnavailable is the default of both maxSurge and
	// maxUnavailable.
	DefaultMaxSurgeOrUnavailable = "25%"
)

// Deployment is what a Deployment's spec says about a rollout, with the API
// defaults filled in.
type Deployment struct {
	Name string
	// Replicas is spec.replicas; ReplicasDefaulted is true when it is
	// unset and the API default of 1 applies.
	Replicas          int
	ReplicasDefaulted bool
	// Grace is terminationGracePeriodSeconds; GraceDefaulted is true when
	// it is unset and the API default of 30 s applies.
	Grace            time.Duration
	GraceDefaulted   bool
	MinReady         time.Duration
	ProgressDeadline time.Duration
	Strategy         Strategy
	// Containers are the pod template's containers (not the init
	// containers), in their order.
	Containers []Container
}

// Strategy is spec.strategy. Surge and Unavailable are resolved against the
// replica count as the Deployment controller resolves them: a percentage
// of maxSurge rounds up, of maxUnavailable down.
type Strategy struct {
	// Type is RollingUpdate when unset.
	Type appsv1.DeploymentStrategyType
	// MaxSurge and MaxUnavailable are the values as written, or 25% when
	// unset (then MaxSurgeSet or MaxUnavailableSet is false).
	MaxSurge, MaxUnavailable       intstr.IntOrString
	MaxSurgeSet, MaxUnavailableSet bool
	Surge, Unavailable             int
	// Invalid is set when a value is neither an integer nor a percentage,
	// which the API server rejects; that value resolves to 0.
	Invalid error
}

// Rolling reports whether the strategy is RollingUpdate (the default).
func (s Strategy) Rolling() bool { return s.Type == appsv1.RollingUpdateDeploymentStrategyType }

// Container is one container of the pod template.
type Container struct {
	Name string
	// Ports is true when the container declares a port.
	Ports   bool
	PreStop PreStop
	// Readiness, Liveness and Startup are the probes; nil when unset.
	Readiness, Liveness, Startup *corev1.Probe
	// Spec is the container itself, for what no field here reads.
	Spec *corev1.Container
}

// Path is the field path of field ("" for the container itself) in this
// container, as findings and recommendations spell it.
func (c Container) Path(field string) string { return ContainerPath(c.Name, field) }

// ContainerPath is the field path of field in the pod template's container
// named name: spec.template.spec.containers[NAME].field. It is the one
// spelling of a container's fields in lint findings and in the report's
// recommendations.
func ContainerPath(name, field string) string {
	p := "spec.template.spec.containers[" + name + "]"
	if field != "" {
		p += "." + field
	}
	return p
}

// Read reads d. A nil d reads as the API defaults with no container.
func Read(d *appsv1.Deployment) Deployment {
	w := Deployment{
		Replicas: 1, ReplicasDefaulted: true,
		Grace: DefaultGrace, GraceDefaulted: true,
		ProgressDeadline: DefaultProgressDeadline,
	}
	if d == nil {
		w.Strategy = readStrategy(appsv1.DeploymentStrategy{}, w.Replicas)
		return w
	}
	w.Name = d.Name
	if d.Spec.Replicas != nil {
		w.Replicas, w.ReplicasDefaulted = int(*d.Spec.Replicas), false
	}
	pod := &d.Spec.Template.Spec
	if pod.TerminationGracePeriodSeconds != nil {
		w.Grace, w.GraceDefaulted = time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second, false
	}
	w.MinReady = time.Duration(d.Spec.MinReadySeconds) * time.Second
	if d.Spec.ProgressDeadlineSeconds != nil {
		w.ProgressDeadline = time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
	}
	w.Strategy = readStrategy(d.Spec.Strategy, w.Replicas)
	for i := range pod.Containers {
		c := &pod.Containers[i]
		wc := Container{Name: c.Name, Ports: len(c.Ports) > 0, Readiness: c.ReadinessProbe, Liveness: c.LivenessProbe, Startup: c.StartupProbe, Spec: c}
		if c.Lifecycle != nil {
			wc.PreStop = ReadPreStop(c.Lifecycle.PreStop)
		} else {
			wc.PreStop = ReadPreStop(nil)
		}
		w.Containers = append(w.Containers, wc)
	}
	return w
}

func readStrategy(s appsv1.DeploymentStrategy, replicas int) Strategy {
	out := Strategy{Type: s.Type, MaxSurge: intstr.FromString(DefaultMaxSurgeOrUnavailable), MaxUnavailable: intstr.FromString(DefaultMaxSurgeOrUnavailable)}
	if out.Type == "" {
		out.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if ru := s.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			out.MaxSurge, out.MaxSurgeSet = *ru.MaxSurge, true
		}
		if ru.MaxUnavailable != nil {
			out.MaxUnavailable, out.MaxUnavailableSet = *ru.MaxUnavailable, true
		}
	}
	// Each value resolves on its own, so that a bad maxSurge leaves the
	// resolved maxUnavailable readable; Invalid names the first bad one.
	var errU error
	out.Unavailable, errU = intstr.GetScaledValueFromIntOrPercent(&out.MaxUnavailable, replicas, false)
	if errU != nil {
		out.Unavailable, out.Invalid = 0, fmt.Errorf("maxUnavailable %s: %w", out.MaxUnavailable.String(), errU)
	}
	surge, err := intstr.GetScaledValueFromIntOrPercent(&out.MaxSurge, replicas, true)
	if err != nil {
		surge, out.Invalid = 0, fmt.Errorf("maxSurge %s: %w", out.MaxSurge.String(), err)
	}
	out.Surge = surge
	return out
}

// Serving returns the containers that take traffic: those that declare a
// port, or every container when none does (a Service may target a port
// that is not declared).
func (d Deployment) Serving() []Container {
	var out []Container
	for _, c := range d.Containers {
		if c.Ports {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return d.Containers
	}
	return out
}

// PeriodSeconds is the probe's periodSeconds with the API default of 10.
func PeriodSeconds(p *corev1.Probe) int32 {
	if p == nil || p.PeriodSeconds == 0 {
		return int32(DefaultProbePeriod / time.Second)
	}
	return p.PeriodSeconds
}
