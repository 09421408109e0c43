package preflight

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// asStatefulSet turns good()'s Deployment into a StatefulSet with the same
// pod template and replicas.
func asStatefulSet(in *Input) {
	d := in.Deployment
	in.StatefulSet = &appsv1.StatefulSet{ObjectMeta: d.ObjectMeta, Spec: appsv1.StatefulSetSpec{
		Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: d.Spec.Template, ServiceName: "web",
	}}
	in.Deployment = nil
}

// asDaemonSet turns good()'s Deployment into a DaemonSet with the same pod
// template and strategy ru (nil: the defaults, maxSurge 0 and
// maxUnavailable 1), running on 3 nodes.
func asDaemonSet(ru *appsv1.RollingUpdateDaemonSet) func(*Input) {
	return func(in *Input) {
		d := in.Deployment
		in.DaemonSet = &appsv1.DaemonSet{ObjectMeta: d.ObjectMeta, Spec: appsv1.DaemonSetSpec{
			Selector: d.Spec.Selector, Template: d.Spec.Template,
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: ru},
		}, Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3}}
		in.Deployment = nil
	}
}

func findingsOf(fs []Finding, rule string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

func TestWorkloadKindRules(t *testing.T) {
	local := corev1.ServiceInternalTrafficPolicyLocal
	tests := []struct {
		name     string
		in       func(*Input)
		rule     string
		sev      Severity // "" wants no finding of rule
		path     string
		obj      string
		contains string
	}{
		{"a DaemonSet with maxSurge 0 on one node leaves the Service no endpoint", all(asDaemonSet(nil), func(in *Input) { in.DaemonSet.Status.DesiredNumberScheduled = 1 }),
			RuleDaemonSetNoSurge, Error, "spec.updateStrategy.rollingUpdate.maxSurge", "daemonset/web", "0 (default)"},
		{"a DaemonSet with maxSurge 0 behind an internalTrafficPolicy Local Service is an error", all(asDaemonSet(nil), func(in *Input) { in.Services[0].Spec.InternalTrafficPolicy = &local }),
			RuleDaemonSetNoSurge, Error, "spec.updateStrategy.rollingUpdate.maxSurge", "daemonset/web", "0 (default)"},
		{"a DaemonSet with maxSurge 1 and maxUnavailable 0 is quiet", asDaemonSet(&appsv1.RollingUpdateDaemonSet{MaxSurge: ptr(intstr.FromInt32(1)), MaxUnavailable: ptr(intstr.FromInt32(0))}),
			RuleDaemonSetNoSurge, "", "", "", ""},
		{"a DaemonSet with no Service in front is quiet", all(asDaemonSet(nil), func(in *Input) { in.Services = nil }),
			RuleDaemonSetNoSurge, "", "", "", ""},
		{"an OnDelete DaemonSet rolls nothing: quiet", all(asDaemonSet(nil), func(in *Input) { in.DaemonSet.Spec.UpdateStrategy.Type = appsv1.OnDeleteDaemonSetStrategyType }),
			RuleDaemonSetNoSurge, "", "", "", ""},
		{"a DaemonSet's pods are one per node, not spec.replicas", all(asDaemonSet(nil), func(in *Input) { in.DaemonSet.Status.DesiredNumberScheduled = 1 }),
			RuleSingleReplica, "", "", "", ""},
		{"a DaemonSet with both maxSurge and maxUnavailable 0 names spec.updateStrategy", asDaemonSet(&appsv1.RollingUpdateDaemonSet{MaxSurge: ptr(intstr.FromInt32(0)), MaxUnavailable: ptr(intstr.FromInt32(0))}),
			RuleRollingUpdateInvalid, Error, "spec.updateStrategy.rollingUpdate", "daemonset/web", "maxSurge 0"},
		{"an OrderedReady StatefulSet without a readiness probe names the container's probe", all(func(in *Input) { container(in).ReadinessProbe = nil }, asStatefulSet),
			RuleOrderedReadyNoReadiness, Error, "spec.template.spec.containers[app].readinessProbe", "statefulset/web", "OrderedReady"},
		{"a Parallel StatefulSet is left to no-readiness-probe", all(func(in *Input) { container(in).ReadinessProbe = nil }, asStatefulSet, func(in *Input) {
			in.StatefulSet.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
		}), RuleOrderedReadyNoReadiness, "", "", "", ""},
		{"an OrderedReady StatefulSet with a readiness probe is quiet", asStatefulSet, RuleOrderedReadyNoReadiness, "", "", "", ""},
		{"a one-replica StatefulSet is a single replica", all(asStatefulSet, func(in *Input) { in.StatefulSet.Spec.Replicas = ptr[int32](1) }),
			RuleSingleReplica, Warning, "spec.replicas", "statefulset/web", "1"},
		{"a StatefulSet with maxUnavailable 3 of 3 names spec.updateStrategy", all(asStatefulSet, func(in *Input) {
			in.StatefulSet.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{MaxUnavailable: ptr(intstr.FromInt32(3))}
		}), RuleRollingUpdateNoReadyPods, Error, "spec.updateStrategy.rollingUpdate.maxUnavailable", "statefulset/web", "3 of 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := good()
			tt.in(&in)
			fs := findingsOf(Check(in, Options{}), tt.rule)
			if tt.sev == "" {
				if len(fs) > 0 {
					t.Fatalf("want no %s, got %+v", tt.rule, fs)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("want one %s, got %+v", tt.rule, fs)
			}
			f := fs[0]
			if tt.obj == "statefulset/web" && strings.Contains(f.Suggested, "maxSurge") {
				t.Errorf("a StatefulSet told to set maxSurge: %s", f.Suggested)
			}
			if f.Severity != tt.sev || f.Path != tt.path || f.Object != tt.obj || !contains(f.Current, tt.contains) {
				t.Errorf("got %s %s %s %s current %q; want %s %s %s with %q", f.Rule, f.Severity, f.Object, f.Path, f.Current, tt.sev, tt.obj, tt.path, tt.contains)
			}
		})
	}
}

func TestGoodStatefulSetAndDaemonSetWithSurgeAreQuiet(t *testing.T) {
	for name, conv := range map[string]func(*Input){
		"statefulset": asStatefulSet,
		"daemonset":   asDaemonSet(&appsv1.RollingUpdateDaemonSet{MaxSurge: ptr(intstr.FromInt32(1)), MaxUnavailable: ptr(intstr.FromInt32(0))}),
	} {
		t.Run(name, func(t *testing.T) {
			in := good()
			conv(&in)
			if fs := Check(in, Options{}); len(fs) > 0 {
				t.Errorf("findings on a good %s: %+v", name, fs)
			}
		})
	}
}

func contains(s, sub string) bool { return sub == "" || strings.Contains(s, sub) }
