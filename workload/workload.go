// Package workload is the one model of a workload: the one reader of the
// settings that decide how a rollout goes, for every kind (Kind). It reads
// a Deployment, a StatefulSet or a DaemonSet into a Deployment (the model
// is named after the first kind it read; it holds every kind): the pod
// template's containers the same way for all (their probes, whether each
// listens when Ready, the preStop length), the grace period, the rolling
// update parameters resolved against the replica count, minReadySeconds and
// the progress deadline, each with the API server's default when unset,
// and the fields of each kind (spec.strategy or spec.updateStrategy, a
// partition, a pod management policy) with their own paths. Lint
// (preflight), the diagnosis (report) and the run's plan (check) all read a
// workload through it, so they cannot disagree on what a manifest says.
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

// Deployment is what a workload's spec says about a rollout, with the API
// defaults filled in. Despite its name it reads every kind (Kind).
type Deployment struct {
	// Kind is KindDeployment, KindStatefulSet or KindDaemonSet.
	Kind Kind
	Name string
	// StrategyPath is the field path of the update strategy:
	// spec.strategy for a Deployment, spec.updateStrategy for the others.
	StrategyPath string
	// PodManagementPolicy is a StatefulSet's, OrderedReady when unset;
	// empty for other kinds.
	PodManagementPolicy appsv1.PodManagementPolicyType
	// Replicas is spec.replicas; ReplicasDefaulted is true when it is
	// unset and the API default of 1 applies. A DaemonSet has no
	// spec.replicas: its pods are one per node, status.
	// desiredNumberScheduled (1, defaulted, when the status is empty).
	Replicas          int
	ReplicasDefaulted bool
	// Grace is terminationGracePeriodSeconds; GraceDefaulted is true when
	// it is unset and the API default of 30 s applies.
	Grace          time.Duration
	GraceDefaulted bool
	// MinReady is spec.minReadySeconds (0 when unset, as the API).
	MinReady time.Duration
	// ProgressDeadline is a Deployment's spec.progressDeadlineSeconds,
	// DefaultProgressDeadline when unset; 0 for the kinds that have none
	// (StatefulSet, DaemonSet: kubectl rollout status waits without end).
	ProgressDeadline time.Duration
	Strategy         Strategy
	// Containers are the pod template's containers (not the init
	// containers), in their order. Native sidecars (init containers with
	// restartPolicy Always) are not read yet; they will be Containers too,
	// read by readContainer and told apart by a field of their own.
	Containers []Container
	// PodAnnotations are the pod template's annotations, where meshes
	// read their per-pod settings (Istio's proxy.istio.io/config).
	PodAnnotations map[string]string
}

// Strategy is spec.strategy (spec.updateStrategy). Surge and Unavailable
// are resolved against the replica count as the controllers resolve them:
// a percentage of maxSurge rounds up, of maxUnavailable down.
type Strategy struct {
	// Type is RollingUpdate when unset: RollingUpdate, Recreate (a
	// Deployment) or OnDelete (a StatefulSet or DaemonSet).
	Type appsv1.DeploymentStrategyType
	// MaxSurge and MaxUnavailable are the values as written, or the kind's
	// default when unset (then MaxSurgeSet or MaxUnavailableSet is false):
	// 25% each for a Deployment; maxUnavailable 1 and maxSurge 0 for a
	// DaemonSet and a StatefulSet (which has no maxSurge).
	MaxSurge, MaxUnavailable       intstr.IntOrString
	MaxSurgeSet, MaxUnavailableSet bool
	Surge, Unavailable             int
	// Invalid is set when a value is neither an integer nor a percentage,
	// which the API server rejects; that value resolves to 0.
	Invalid error
	// Partition is a StatefulSet's rollingUpdate.partition: pods with a
	// lower ordinal are not updated.
	Partition int
}

// OnDelete is the update strategy of a StatefulSet or DaemonSet that
// replaces a pod only when someone deletes it.
const OnDelete appsv1.DeploymentStrategyType = "OnDelete"

// StrategyField is the path of field in the update strategy, such as
// spec.updateStrategy.rollingUpdate.maxUnavailable.
func (d Deployment) StrategyField(field string) string {
	p := d.StrategyPath
	if p == "" {
		p = d.Kind.info().strategyPath
	}
	return p + "." + field
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
	// ListensWhenReady is true when the readiness probe connects to a port
	// the container declares (httpGet, tcpSocket or grpc; a named port by
	// its name): the pod is then Ready only once that listener answered
	// the kubelet. No probe, an exec probe, or a probe on a port the
	// container does not declare proves nothing about the listener.
	ListensWhenReady bool
	// Server is the known server the container runs whose graceful stop
	// is not SIGTERM (nginx, Apache httpd; nil: none known), and
	// StopsAtOnce is true when nothing makes it stop gracefully: no
	// lifecycle.stopSignal of its graceful signal, no preStop that asks
	// it to quit (StopsGracefully).
	Server      *Server
	StopsAtOnce bool
	// BySignal is true when only lifecycle.stopSignal stops the server
	// gracefully (no preStop asks it to quit): that holds only where the
	// cluster and the runtime apply the field (StopSignalGraceful).
	BySignal bool
	// Proxy names the known proxy the container runs (ProxyOf; "": none),
	// a sidecar when the pod has other containers.
	Proxy string
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

// defaults is a workload of kind with the API defaults and no container.
func defaults(kind Kind) Deployment {
	info := kind.info()
	w := Deployment{
		Kind: kind, StrategyPath: info.strategyPath,
		Replicas: 1, ReplicasDefaulted: true,
		Grace: DefaultGrace, GraceDefaulted: true,
	}
	if info.progressDeadline {
		w.ProgressDeadline = DefaultProgressDeadline
	}
	return w
}

// Read reads d. A nil d reads as the API defaults with no container.
func Read(d *appsv1.Deployment) Deployment {
	w := defaults(KindDeployment)
	if d == nil {
		w.Strategy = readStrategy(appsv1.DeploymentStrategy{}, w.Replicas)
		return w
	}
	w.Name = d.Name
	if d.Spec.Replicas != nil {
		w.Replicas, w.ReplicasDefaulted = int(*d.Spec.Replicas), false
	}
	w.MinReady = time.Duration(d.Spec.MinReadySeconds) * time.Second
	if d.Spec.ProgressDeadlineSeconds != nil {
		w.ProgressDeadline = time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
	}
	w.Strategy = readStrategy(d.Spec.Strategy, w.Replicas)
	w.readPod(&d.Spec.Template.Spec)
	w.PodAnnotations = d.Spec.Template.Annotations
	return w
}

// ReadStatefulSet reads s (nil: the API defaults). A StatefulSet replaces
// its pods one at a time, highest ordinal first, with no surge: its
// maxUnavailable is 1 unless set (the MaxUnavailableStatefulSet feature).
func ReadStatefulSet(s *appsv1.StatefulSet) Deployment {
	w := defaults(KindStatefulSet)
	w.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	var us appsv1.StatefulSetUpdateStrategy
	if s != nil {
		w.Name = s.Name
		if s.Spec.Replicas != nil {
			w.Replicas, w.ReplicasDefaulted = int(*s.Spec.Replicas), false
		}
		if s.Spec.PodManagementPolicy != "" {
			w.PodManagementPolicy = s.Spec.PodManagementPolicy
		}
		w.MinReady = time.Duration(s.Spec.MinReadySeconds) * time.Second
		us = s.Spec.UpdateStrategy
		w.readPod(&s.Spec.Template.Spec)
		w.PodAnnotations = s.Spec.Template.Annotations
	}
	ds := appsv1.DeploymentStrategy{Type: appsv1.DeploymentStrategyType(us.Type), RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptrIntOrString(intstr.FromInt32(0))}}
	if ru := us.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		ds.RollingUpdate.MaxUnavailable = ru.MaxUnavailable
	}
	w.Strategy = readStrategy(ds, w.Replicas, defaultOne)
	w.Strategy.MaxSurgeSet = false
	if ru := us.RollingUpdate; ru != nil && ru.Partition != nil {
		w.Strategy.Partition = int(*ru.Partition)
	}
	return w
}

// ReadDaemonSet reads d (nil: the API defaults). Its replicas are the
// nodes it runs on: status.desiredNumberScheduled.
func ReadDaemonSet(d *appsv1.DaemonSet) Deployment {
	w := defaults(KindDaemonSet)
	var us appsv1.DaemonSetUpdateStrategy
	if d != nil {
		w.Name = d.Name
		if n := d.Status.DesiredNumberScheduled; n > 0 {
			w.Replicas, w.ReplicasDefaulted = int(n), false
		}
		w.MinReady = time.Duration(d.Spec.MinReadySeconds) * time.Second
		us = d.Spec.UpdateStrategy
		w.readPod(&d.Spec.Template.Spec)
		w.PodAnnotations = d.Spec.Template.Annotations
	}
	ds := appsv1.DeploymentStrategy{Type: appsv1.DeploymentStrategyType(us.Type)}
	if ru := us.RollingUpdate; ru != nil {
		ds.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ru.MaxSurge, MaxUnavailable: ru.MaxUnavailable}
	}
	w.Strategy = readStrategy(ds, w.Replicas, defaultOne)
	return w
}

// ReadObject reads a *appsv1.Deployment, *appsv1.StatefulSet or
// *appsv1.DaemonSet; anything else reads as a Deployment's defaults.
func ReadObject(obj any) Deployment {
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		return ReadStatefulSet(o)
	case *appsv1.DaemonSet:
		return ReadDaemonSet(o)
	case *appsv1.Deployment:
		return Read(o)
	}
	return Read(nil)
}

func ptrIntOrString(v intstr.IntOrString) *intstr.IntOrString { return &v }

// readPod reads the pod template's grace period and containers.
func (w *Deployment) readPod(pod *corev1.PodSpec) {
	if pod.TerminationGracePeriodSeconds != nil {
		w.Grace, w.GraceDefaulted = time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second, false
	}
	for i := range pod.Containers {
		w.Containers = append(w.Containers, readContainer(&pod.Containers[i]))
	}
}

// readContainer reads one container of the pod template.
func readContainer(c *corev1.Container) Container {
	wc := Container{
		Name: c.Name, Ports: len(c.Ports) > 0,
		Readiness: c.ReadinessProbe, Liveness: c.LivenessProbe, Startup: c.StartupProbe,
		ListensWhenReady: probesDeclaredPort(c.ReadinessProbe, c.Ports),
		Server:           ServerOf(c),
		Proxy:            ProxyOf(c),
		Spec:             c,
	}
	wc.StopsAtOnce = wc.Server != nil && !StopsGracefully(c, wc.Server)
	wc.BySignal = StopSignalGraceful(c, wc.Server) && !QuitsInPreStop(c, wc.Server)
	if c.Lifecycle != nil {
		wc.PreStop = ReadPreStop(c.Lifecycle.PreStop)
	} else {
		wc.PreStop = ReadPreStop(nil)
	}
	return wc
}

// strategyDefaults are the unset maxSurge and maxUnavailable of a kind.
type strategyDefaults struct{ surge, unavailable intstr.IntOrString }

var (
	defaultQuarter = strategyDefaults{intstr.FromString(DefaultMaxSurgeOrUnavailable), intstr.FromString(DefaultMaxSurgeOrUnavailable)}
	// defaultOne is a DaemonSet's and a StatefulSet's: one pod at a time.
	defaultOne = strategyDefaults{intstr.FromInt32(0), intstr.FromInt32(1)}
)

func readStrategy(s appsv1.DeploymentStrategy, replicas int, def ...strategyDefaults) Strategy {
	d := defaultQuarter
	if len(def) > 0 {
		d = def[0]
	}
	out := Strategy{Type: s.Type, MaxSurge: d.surge, MaxUnavailable: d.unavailable}
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
