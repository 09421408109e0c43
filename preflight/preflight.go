// Package preflight finds, before any load is sent, the settings of a
// Deployment and of what routes traffic to it (Services, Ingresses, the
// Namespace) that are known to drop requests during a rollout: a missing
// readiness probe or preStop hook, grace-period arithmetic that ends in
// SIGKILL, load balancer draining shorter than the pod's, a rollout strategy
// that can leave no ready pod, and so on.
//
// Check is a pure function over typed objects: it never talks to a cluster,
// so the same rules serve `rollcheck lint -f` on files, `rollcheck lint
// deployment/NAME` on a live cluster and the start of `rollcheck run`.
package preflight

import (
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/rollcheck/rollcheck/workload"
)

// Severity ranks a finding. Error means the setting drops requests during an
// ordinary rollout; warning means it can, depending on timing or load; info
// is advice.
type Severity string

// Severities, lowest first.
const (
	Info    Severity = "info"
	Warning Severity = "warning"
	Error   Severity = "error"
)

// Rank orders severities: info 1, warning 2, error 3; anything else 0.
func (s Severity) Rank() int {
	switch s {
	case Info:
		return 1
	case Warning:
		return 2
	case Error:
		return 3
	}
	return 0
}

// ParseSeverity accepts info, warning or error (any case).
func ParseSeverity(s string) (Severity, error) {
	v := Severity(strings.ToLower(strings.TrimSpace(s)))
	if v.Rank() == 0 {
		return "", fmt.Errorf("severity %q: want info, warning or error", s)
	}
	return v, nil
}

// Finding is one broken rule.
type Finding struct {
	// Rule is the stable id of the rule, e.g. "no-readiness-probe".
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Object is the object that holds the field: "deployment/web",
	// "service/web", "ingress/web" or "namespace/shop".
	Object string `json:"object"`
	// Path is the field inside Object, e.g.
	// "spec.template.spec.containers[app].readinessProbe" (spelt by
	// workload.ContainerPath, as the report's recommendations spell it).
	Path      string `json:"path"`
	Current   string `json:"current"`
	Suggested string `json:"suggested"`
	Why       string `json:"why"`
}

// Input is one Deployment and what may route traffic to it. Services and
// Ingresses may hold more than the ones in front of the Deployment (for
// example every Service of the namespace): Check keeps the Services whose
// selector matches the pod template and the Ingresses that route to one of
// them.
type Input struct {
	Deployment *appsv1.Deployment
	// StatefulSet or DaemonSet is the workload instead of Deployment (the
	// first one set of the three is checked).
	StatefulSet *appsv1.StatefulSet
	DaemonSet   *appsv1.DaemonSet
	Services    []corev1.Service
	Ingresses   []networkingv1.Ingress
	// Namespace of the Deployment; nil when unknown (a manifest without the
	// Namespace, or no permission to read it).
	Namespace *corev1.Namespace
	// PDBs are the PodDisruptionBudgets of the namespace (or of the
	// files); Check keeps those that select the workload's pods.
	// PDBsUnknown: they could not be read, so a missing one is not a
	// finding.
	PDBs        []policyv1.PodDisruptionBudget
	PDBsUnknown bool
	// PodTemplates are the pod templates of every workload the caller
	// knows, this one included (lint's files), for budgets that select
	// none of them. Nil in a cluster, where a budget's status says
	// whether it selects any pod.
	PodTemplates []PodTemplate
}

// PodTemplate is a workload's pod template as budgets select it.
type PodTemplate struct {
	// Object is the workload: "deployment/web".
	Object    string
	Namespace string
	Labels    map[string]string
}

// DefaultShutdownTime is how long an application is assumed to take to
// finish in-flight requests after SIGTERM when nothing says otherwise.
const DefaultShutdownTime = 5 * time.Second

// Options tune Check.
type Options struct {
	// ShutdownTime is the expected time from SIGTERM to exit; 0 means
	// DefaultShutdownTime. A container's Spring Boot
	// SPRING_LIFECYCLE_TIMEOUT_PER_SHUTDOWN_PHASE overrides it.
	ShutdownTime time.Duration
	// Disable lists rule ids to skip.
	Disable []string
	// MinSeverity drops findings below it; "" keeps all.
	MinSeverity Severity
}

// Rule describes one check.
type Rule struct {
	ID string `json:"id"`
	// Severity is the highest severity the rule reports.
	Severity Severity `json:"severity"`
	Summary  string   `json:"summary"`
	check    func(*target) []Finding
}

// Rules returns every rule in the order Check runs them.
func Rules() []Rule {
	out := slices.Clone(rules)
	for i := range out {
		out[i].check = nil
	}
	return out
}

// KnownRule reports whether id names a rule.
func KnownRule(id string) bool {
	return slices.ContainsFunc(rules, func(r Rule) bool { return r.ID == id })
}

// Check runs every enabled rule over in and returns the findings, errors
// first, in rule order within a severity. An Input without a workload has
// no findings.
func Check(in Input, opts Options) []Finding {
	if in.Deployment == nil && in.StatefulSet == nil && in.DaemonSet == nil {
		return nil
	}
	t := newTarget(in, opts)
	var out []Finding
	for _, r := range rules {
		if slices.Contains(opts.Disable, r.ID) {
			continue
		}
		for _, f := range r.check(t) {
			if f.Severity.Rank() >= opts.MinSeverity.Rank() {
				out = append(out, f)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return b.Severity.Rank() - a.Severity.Rank() })
	return out
}

// HasErrors reports whether any finding is an error.
func HasErrors(fs []Finding) bool {
	return slices.ContainsFunc(fs, func(f Finding) bool { return f.Severity == Error })
}

// target is the workload with what Check derived from the Input.
type target struct {
	// d is the Deployment, ds the DaemonSet; nil for other kinds.
	d  *appsv1.Deployment
	ds *appsv1.DaemonSet
	// w is the workload's settings, read once for every rule.
	w         workload.Deployment
	namespace string
	obj       string
	pod       *corev1.PodSpec
	services  []corev1.Service
	ingresses []networkingv1.Ingress
	ns        *corev1.Namespace
	shutdown  time.Duration
	fronts    []front
	// pdbs select the workload's pods; pdbsKnown: the budgets were read.
	pdbs      []policyv1.PodDisruptionBudget
	pdbsKnown bool
	podLabels labels.Set
	// podAnnotations are the pod template's annotations.
	podAnnotations map[string]string
	// strayPDBs are the namespace's budgets that select no pod and look
	// meant for this workload (strayBudgets).
	strayPDBs []strayPDB
}

func newTarget(in Input, opts Options) *target {
	t := &target{ns: in.Namespace, shutdown: opts.ShutdownTime}
	var (
		tmpl *corev1.PodTemplateSpec
		meta *metav1.ObjectMeta
	)
	switch {
	case in.Deployment != nil:
		d := in.Deployment
		t.d, t.w, meta, tmpl = d, workload.Read(d), &d.ObjectMeta, &d.Spec.Template
	case in.StatefulSet != nil:
		s := in.StatefulSet
		t.w, meta, tmpl = workload.ReadStatefulSet(s), &s.ObjectMeta, &s.Spec.Template
	default:
		d := in.DaemonSet
		t.ds, t.w, meta, tmpl = d, workload.ReadDaemonSet(d), &d.ObjectMeta, &d.Spec.Template
	}
	t.obj, t.namespace = t.w.Kind.Ref(meta.Name), meta.Namespace
	t.pod = &tmpl.Spec
	if t.shutdown <= 0 {
		t.shutdown = DefaultShutdownTime
	}
	podLabels := labels.Set(tmpl.Labels)
	t.podLabels = podLabels
	t.podAnnotations = tmpl.Annotations
	names := map[string]bool{}
	for _, s := range in.Services {
		if !sameNamespace(s.Namespace, t.namespace) || len(s.Spec.Selector) == 0 {
			// A Service without a selector has hand-made endpoints: not in
			// front of the Deployment by construction.
			continue
		}
		if labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			t.services = append(t.services, s)
			names[s.Name] = true
		}
	}
	for _, ing := range in.Ingresses {
		if sameNamespace(ing.Namespace, t.namespace) && routesTo(&ing, names) {
			t.ingresses = append(t.ingresses, ing)
		}
	}
	t.fronts = findFronts(t)
	t.pdbs, t.pdbsKnown = selectingPDBs(in.PDBs, t.namespace, podLabels), !in.PDBsUnknown
	t.strayPDBs = strayBudgets(in, PodTemplate{Object: t.obj, Namespace: t.namespace, Labels: podLabels})
	return t
}

// sameNamespace treats an empty namespace (a manifest without one) as a
// match: the caller has already decided where such objects go.
func sameNamespace(a, b string) bool { return a == "" || b == "" || a == b }

// routesTo reports whether ing sends traffic to one of the named Services.
func routesTo(ing *networkingv1.Ingress, services map[string]bool) bool {
	for _, name := range ingressServices(ing) {
		if services[name] {
			return true
		}
	}
	return false
}

// ingressServices lists the Service backends of ing.
func ingressServices(ing *networkingv1.Ingress) []string {
	var out []string
	if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil {
		out = append(out, b.Service.Name)
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service != nil {
				out = append(out, p.Backend.Service.Name)
			}
		}
	}
	return out
}

// seconds prints d as whole or fractional seconds, as manifests spell them.
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return d.String()
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
