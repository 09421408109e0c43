package preflight

// PodDisruptionBudgets: what a node drain or any eviction does to the
// workload (issue 22). A drain evicts every pod on the node at once unless
// a budget holds it back; a budget that allows no disruption blocks the
// drain for good (Kubernetes issue 48307 and the cluster upgrades that
// stall on it).

import (
	"fmt"
	"math"
	"strings"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rollcheck/rollcheck/workload"
)

// Rule ids of the budget rules.
const (
	RuleNoPDB           = "no-pod-disruption-budget"
	RulePDBBlocksEvicts = "pdb-blocks-eviction"
)

// selectingPDBs are the budgets in the workload's namespace whose selector
// matches its pod template's labels.
func selectingPDBs(pdbs []policyv1.PodDisruptionBudget, namespace string, podLabels labels.Set) []policyv1.PodDisruptionBudget {
	var out []policyv1.PodDisruptionBudget
	for _, p := range pdbs {
		if !sameNamespace(p.Namespace, namespace) || p.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || sel.Empty() {
			// An empty selector selects every pod of the namespace in
			// policy/v1; it is unusual enough to leave to the budget's
			// author.
			continue
		}
		if sel.Matches(podLabels) {
			out = append(out, p)
		}
	}
	return out
}

// checkNoPDB: two or more replicas behind a Service and no budget: a drain
// evicts every replica on the node at once, and replicas often share one.
func checkNoPDB(t *target) []Finding {
	if !t.pdbsKnown || len(t.pdbs) > 0 || len(t.services) == 0 || t.w.Kind == workload.KindDaemonSet || t.w.Replicas < 2 {
		// A DaemonSet's pod is its node's own: a drain leaves it (kubectl
		// drain --ignore-daemonsets).
		return nil
	}
	return []Finding{t.finding(RuleNoPDB, Warning, t.obj, "(a PodDisruptionBudget selecting its pods)", "none",
		"a PodDisruptionBudget (policy/v1) with maxUnavailable: 1 and the pod template's labels as its selector",
		fmt.Sprintf("Without a budget a node drain (a cluster upgrade, node rotation) evicts every one of the %d replicas on that node at once, and the Service has no ready endpoint while their replacements start when they shared it.", t.w.Replicas))}
}

// checkPDBBlocksEvictions: a budget that allows no disruption when every
// replica is healthy refuses every eviction, so a drain never finishes.
func checkPDBBlocksEvictions(t *target) []Finding {
	if t.w.Kind == workload.KindDaemonSet {
		return nil
	}
	var out []Finding
	for _, p := range t.pdbs {
		path, current, blocks := blocksAll(p.Spec, t.w.Replicas)
		if !blocks {
			continue
		}
		out = append(out, t.finding(RulePDBBlocksEvicts, Error, "poddisruptionbudget/"+p.Name, path, current,
			"maxUnavailable: 1 (or minAvailable below the replicas)",
			fmt.Sprintf("With %d replicas this budget allows no disruption even when every pod is healthy: the Eviction API refuses every eviction, so a node drain never finishes (kubectl drain retries until its timeout, a cluster upgrade stalls) until someone deletes the pods by hand.", t.w.Replicas)))
	}
	return out
}

// blocksAll says whether spec allows no disruption with replicas healthy
// pods, and the field that decides it.
func blocksAll(spec policyv1.PodDisruptionBudgetSpec, replicas int) (path, current string, blocks bool) {
	switch {
	case spec.MaxUnavailable != nil:
		n, ok := scaled(*spec.MaxUnavailable, replicas)
		return "spec.maxUnavailable", spec.MaxUnavailable.String(), ok && n == 0
	case spec.MinAvailable != nil:
		n, ok := scaled(*spec.MinAvailable, replicas)
		return "spec.minAvailable", fmt.Sprintf("%s of %d replicas", spec.MinAvailable.String(), replicas), ok && replicas > 0 && n >= replicas
	}
	return "", "", false
}

// scaled resolves an int or percentage against replicas, rounding up as
// the disruption controller does for both fields.
func scaled(v intstr.IntOrString, replicas int) (int, bool) {
	if v.Type == intstr.Int {
		return int(v.IntVal), true
	}
	s, ok := strings.CutSuffix(v.StrVal, "%")
	if !ok {
		return 0, false
	}
	var pct int
	if _, err := fmt.Sscanf(s, "%d", &pct); err != nil {
		return 0, false
	}
	return int(math.Ceil(float64(pct) * float64(replicas) / 100)), true
}
