package diagnosis

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/workload"
)

func TestNoReadyEndpointsAdviceNamesEachKindsField(t *testing.T) {
	one, three := int32(1), int32(3)
	zero := 0
	causes := []Cause{{Code: NoReadyEndpoints, Failures: 10, Confidence: ConfidenceHigh}}
	tests := []struct {
		name, field, suggested, current string
		w                               workload.Deployment
	}{
		{"a Deployment's maxUnavailable", "spec.strategy.rollingUpdate.maxUnavailable", "0 (with maxSurge", "25%",
			workload.Read(&appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &three}})},
		{"a DaemonSet's maxSurge under spec.updateStrategy", "spec.updateStrategy.rollingUpdate.maxSurge", "1 with maxUnavailable 0", "maxSurge 0, maxUnavailable 1",
			workload.ReadDaemonSet(&appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}}})},
		{"a StatefulSet's replicas, since it has no surge", "spec.replicas", "2 or more", "1",
			workload.ReadStatefulSet(&appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: &one}})},
		{"a DaemonSet already surging is satisfied but for the zero", "spec.updateStrategy.rollingUpdate.maxSurge", "1 with maxUnavailable 0", "maxSurge 1, maxUnavailable 0",
			workload.ReadDaemonSet(&appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: ptrIOS(intstr.FromInt32(1)), MaxUnavailable: ptrIOS(intstr.FromInt32(0))}}}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := recommend(settingsOf(tt.w, true), causes, Measurements{MinReadyEndpoints: &zero}, 0, nil)
			for _, r := range recs {
				if r.Field == tt.field {
					if !strings.HasPrefix(r.Suggested, tt.suggested) || r.Current != tt.current {
						t.Errorf("%s: current %q suggested %q; want %q and %q...", r.Field, r.Current, r.Suggested, tt.current, tt.suggested)
					}
					if strings.Contains(r.Field, "spec.strategy") && tt.w.Kind != workload.KindDeployment {
						t.Errorf("a %s named %s", tt.w.Kind, r.Field)
					}
					return
				}
			}
			t.Errorf("no recommendation on %s: %+v", tt.field, recs)
		})
	}
}

func ptrIOS(v intstr.IntOrString) *intstr.IntOrString { return &v }

func TestADrainThatEmptiedTheServiceAsksForABudgetAndSpread(t *testing.T) {
	two := int32(2)
	zero := 0
	causes := []Cause{{Code: NoReadyEndpoints, Failures: 308, Confidence: ConfidenceHigh}}
	w := workload.Read(&appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &two}})
	w.Name = "web"
	fields := func(d *Drain) map[string]Recommendation {
		s := settingsOf(w, true)
		s.drain = d
		out := map[string]Recommendation{}
		for _, r := range recommend(s, causes, Measurements{MinReadyEndpoints: &zero}, 0, nil) {
			out[r.Field] = r
		}
		return out
	}
	got := fields(&Drain{Node: "node-2", Evicted: 2})
	pdb, ok := got["PodDisruptionBudget (policy/v1) selecting deployment/web's pods"]
	if !ok || pdb.Current != "none" || !strings.HasPrefix(pdb.Suggested, "maxUnavailable: 1") || !strings.Contains(pdb.Why, "evicted 2 of 2 replicas") {
		t.Errorf("budget advice %+v (of %v)", pdb, got)
	}
	if sp, ok := got["spec.template.spec.topologySpreadConstraints"]; !ok || sp.Current != "2 of 2 replicas on node/node-2" {
		t.Errorf("spread advice %+v", sp)
	}
	for f := range got {
		if strings.HasPrefix(f, "spec.strategy") {
			t.Errorf("a drain told to change %s: the rollout strategy plays no part", f)
		}
	}
	// One replica on the node: no spread advice; a budget that let the
	// drain through is named as it is.
	got = fields(&Drain{Node: "node-2", Evicted: 1, PDBs: []string{"web: maxUnavailable 2"}})
	if _, ok := got["spec.template.spec.topologySpreadConstraints"]; ok {
		t.Errorf("spread advice for one replica on the node")
	}
	if pdb := got["PodDisruptionBudget (policy/v1) selecting deployment/web's pods"]; pdb.Current != "web: maxUnavailable 2" {
		t.Errorf("budget advice current %q, want the budget's rule", pdb.Current)
	}
}

// Issue 22: a drain evicted both replicas at 10 s; the Service had no
// ready endpoint until the first replacement at 14 s, and the front
// answered 503 for itself meanwhile. That is the drain's cause, with the
// evictions in its evidence; the same run as a rollout is
// NO_READY_ENDPOINTS.
func TestADrainThatEmptiedTheServiceIsTheDrainsCause(t *testing.T) {
	tl := newTimeline()
	for _, p := range []string{"web-a", "web-b"} {
		tl.Running(p)
		tl.Deleted(p, 10, 10.02, 10.3, 0, 10.4)
	}
	tl.Started("web-c", 10.05, 10.5, 14)
	tl.Started("web-d", 10.05, 10.5, 14.2)
	tl.Fails(10.1, 14.0, 0.1, attack.Class503, "")
	in := tl.input(deployment())
	in.Drain = &Drain{Node: "node-2", Evicted: 2}
	r := build(in)
	c := r.Causes[0]
	if c.Code != DrainNoReadyEndpoints || c.Failures != r.Failures || len(r.Causes) != 1 {
		t.Fatalf("causes %+v: want every failure DRAIN_NO_READY_ENDPOINTS", r.Causes)
	}
	if !strings.Contains(c.Evidence, "(minimum during the drain: 0)") || !strings.Contains(c.Evidence, "the drain of node/node-2 evicted 2 of the workload's pods from it, and no PodDisruptionBudget") {
		t.Errorf("evidence %q does not say what the drain evicted", c.Evidence)
	}
	if rec, ok := findRec(r, "PodDisruptionBudget (policy/v1) selecting deployment/web's pods"); !ok || !slices.Contains(rec.Causes, DrainNoReadyEndpoints) {
		t.Errorf("recommendations %+v: want a budget, for the drain's cause", r.Recommendations)
	}
	in.Drain.PDBs = []string{"default/web: maxUnavailable 2"}
	if c := build(in).Causes[0]; !strings.Contains(c.Evidence, "under PodDisruptionBudget default/web: maxUnavailable 2") {
		t.Errorf("evidence %q does not name the budget that let the drain through", c.Evidence)
	}
	in.Drain = nil
	if c := build(in).Causes[0]; c.Code != NoReadyEndpoints {
		t.Errorf("as a rollout: cause %s, want NO_READY_ENDPOINTS", c.Code)
	}
}

// Issue 22: a drain evicted 2 of 3 replicas at 10 s (a preStop kept them
// serving until the front let go), and web-c, left alone with a load of
// 100/s, shed 40/s with its own 503 from 12 s until the replacements were
// ready at 17 s, answering 60/s. That is DRAIN_TOO_FEW_READY_PODS, with
// the capacity measured from web-c's answers and a budget sized by it:
// 100/s at 60/s a pod needs 2 ready pods, maxUnavailable 1 of 3. The same
// failures in a rollout are not a drain's.
func TestADrainThatLeftTooFewPodsForTheLoad(t *testing.T) {
	tl := newTimeline()
	for _, p := range []string{"web-a", "web-b", "web-c"} {
		tl.Running(p)
		tl.A.FirstByPod[p] = at(0)
	}
	for _, p := range []string{"web-a", "web-b"} {
		tl.Deleted(p, 10, 10.02, 14.5, 0, 14.6)
		tl.A.LastByPod[p] = at(12)
	}
	tl.Started("web-d", 10.05, 10.5, 17)
	tl.Started("web-e", 10.05, 10.5, 17.2)
	tl.Fails(12, 16.975, 0.025, attack.Class503, "web-c")
	for s := 12; s < 17; s++ {
		tl.A.Buckets[s].Pods = map[string]int{"web-c": 60}
	}
	spec := deployment()
	spec.Spec.Replicas = ptrTo(int32(3))
	in := tl.input(spec)
	in.Drain = &Drain{Node: "node-2", Evicted: 2}
	r := build(in)
	c := r.Causes[0]
	if c.Code != DrainTooFewReadyPods || c.Failures != r.Failures || len(r.Causes) != 1 {
		t.Fatalf("causes %+v: want every failure DRAIN_TOO_FEW_READY_PODS", r.Causes)
	}
	for _, want := range []string{"web-c (200)", "the Service had 1 ready endpoints then, 3 when the load began", "they answered 60.0 requests/s each (over 4.00 s), against a load of 100.0/s: it needs 2 ready pods", "evicted 2 of the workload's pods"} {
		if !strings.Contains(c.Evidence, want) {
			t.Errorf("evidence %q lacks %q", c.Evidence, want)
		}
	}
	pdb, ok := findRec(r, "PodDisruptionBudget (policy/v1) selecting deployment/web's pods")
	if !ok || pdb.Suggested != "maxUnavailable: 1 (or minAvailable: 2)" || !slices.Contains(pdb.Causes, DrainTooFewReadyPods) {
		t.Errorf("budget advice %+v (of %+v)", pdb, r.Recommendations)
	}
	if _, ok := findRec(r, "spec.template.spec.topologySpreadConstraints"); !ok {
		t.Errorf("no spread advice for 2 of 3 replicas on the node: %+v", r.Recommendations)
	}
	n := 0
	for _, rec := range r.Recommendations {
		if strings.HasPrefix(rec.Field, "PodDisruptionBudget") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d budget recommendations, want 1: %+v", n, r.Recommendations)
	}

	// Slower pods: 100/s at 30/s a pod needs 4, more than the 3 replicas.
	for s := 12; s < 17; s++ {
		tl.A.Buckets[s].Pods = map[string]int{"web-c": 30}
	}
	r = build(in)
	if rec, ok := findRec(r, "spec.replicas"); !ok || rec.Suggested != "at least 5, with a PodDisruptionBudget of maxUnavailable: 1" {
		t.Errorf("replicas advice %+v (of %+v)", rec, r.Recommendations)
	}

	in.Drain = nil
	if c := build(in).Causes[0]; c.Code == DrainTooFewReadyPods {
		t.Errorf("as a rollout: cause %s, want none of a drain's", c.Code)
	}
}
