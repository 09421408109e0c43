package preflight

// PodDisruptionBudgets: what a node drain or any eviction does to the
// workload (issue 22). A drain evicts every pod on the node at once unless
// a budget holds it back; a budget that allows no disruption blocks the
// drain for good (Kubernetes issue 48307 and the cluster upgrades that
// stall on it).

import (
	"fmt"
	"math"
	"sort"
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
	RulePDBSelectsNone  = "pdb-selects-no-pod"
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

// TemplateOf is the pod template of in's workload (the first set of
// Deployment, StatefulSet and DaemonSet, as Check takes it), as budgets
// select it.
func TemplateOf(in Input) PodTemplate {
	switch {
	case in.Deployment != nil:
		d := in.Deployment
		return PodTemplate{Object: workload.KindDeployment.Ref(d.Name), Namespace: d.Namespace, Labels: d.Spec.Template.Labels}
	case in.StatefulSet != nil:
		s := in.StatefulSet
		return PodTemplate{Object: workload.KindStatefulSet.Ref(s.Name), Namespace: s.Namespace, Labels: s.Spec.Template.Labels}
	case in.DaemonSet != nil:
		d := in.DaemonSet
		return PodTemplate{Object: workload.KindDaemonSet.Ref(d.Name), Namespace: d.Namespace, Labels: d.Spec.Template.Labels}
	}
	return PodTemplate{}
}

// strayPDB is a budget that selects no pod, with what it selects.
type strayPDB struct {
	pdb      *policyv1.PodDisruptionBudget
	selector string
}

// strayBudgets are the budgets of in that select no pod (none of the
// known pod templates, or, in a cluster, none by their status) and look
// meant for this workload: they name a label key of its pod template, and
// no other template of the namespace shares more of their keys (a typo in
// a value, a label renamed in the template and not in the budget).
func strayBudgets(in Input, this PodTemplate) []strayPDB {
	var out []strayPDB
	for i := range in.PDBs {
		p := &in.PDBs[i]
		if !sameNamespace(p.Namespace, this.Namespace) || p.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || sel.Empty() || sel.Matches(labels.Set(this.Labels)) {
			continue
		}
		mine := sharedKeys(p.Spec.Selector, this.Labels)
		if mine == 0 || !meantFor(p, this) {
			continue
		}
		if in.PodTemplates == nil {
			// In a cluster: the disruption controller counts the pods it
			// selects once it has seen the budget's latest spec.
			if p.Generation == 0 || p.Status.ObservedGeneration < p.Generation || p.Status.ExpectedPods > 0 {
				continue
			}
		} else if !strayAmong(p, sel, mine, this, in.PodTemplates) {
			continue
		}
		out = append(out, strayPDB{pdb: p, selector: sel.String()})
	}
	return out
}

// strayAmong: the budget selects none of the namespace's templates, and
// none shares more of its keys than this one (mine).
func strayAmong(p *policyv1.PodDisruptionBudget, sel labels.Selector, mine int, this PodTemplate, templates []PodTemplate) bool {
	for _, o := range templates {
		if !sameNamespace(o.Namespace, p.Namespace) {
			continue
		}
		if sel.Matches(labels.Set(o.Labels)) {
			return false
		}
		if o.Object != this.Object && sharedKeys(p.Spec.Selector, o.Labels) > mine {
			return false
		}
	}
	return true
}

// meantFor: the budget's name, or the value it wants of one of the
// template's label keys, is near the workload's name or that label's value
// (a typo, a suffix added or dropped), so that a budget of another app
// ("app=db" beside "app=web") is not taken for this one's.
func meantFor(p *policyv1.PodDisruptionBudget, this PodTemplate) bool {
	_, name, _ := strings.Cut(this.Object, "/")
	if near(p.Name, name) {
		return true
	}
	for k, v := range p.Spec.Selector.MatchLabels {
		if mine, ok := this.Labels[k]; ok && near(v, mine) {
			return true
		}
	}
	return false
}

// near: one contains the other (3 characters or more), or they are one
// edit apart (two when both have 6 or more characters), a swap of two
// neighbours counting as one.
func near(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if min(len(a), len(b)) >= 3 && (strings.Contains(a, b) || strings.Contains(b, a)) {
		return true
	}
	limit := 1
	if min(len(a), len(b)) >= 6 {
		limit = 2
	}
	return editDistance(a, b) <= limit
}

// editDistance is the optimal string alignment distance of a and b
// (insertions, deletions, substitutions and swaps of neighbours).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// sharedKeys counts the keys of sel that the labels have.
func sharedKeys(sel *metav1.LabelSelector, l map[string]string) int {
	n := 0
	for k := range sel.MatchLabels {
		if _, ok := l[k]; ok {
			n++
		}
	}
	for _, r := range sel.MatchExpressions {
		if _, ok := l[r.Key]; ok {
			n++
		}
	}
	return n
}

// checkPDBSelectsNone: a budget that selects no pod protects nothing, so a
// drain evicts the replicas it was written for all at once.
func checkPDBSelectsNone(t *target) []Finding {
	if t.w.Kind == workload.KindDaemonSet {
		return nil // a drain leaves a DaemonSet's pods
	}
	var out []Finding
	for _, s := range t.strayPDBs {
		own := make([]string, 0, len(s.pdb.Spec.Selector.MatchLabels))
		for k := range s.pdb.Spec.Selector.MatchLabels {
			if v, ok := t.podLabels[k]; ok {
				own = append(own, k+"="+v)
			}
		}
		sort.Strings(own)
		current := fmt.Sprintf("%s (selects no pod; %s's pods are labelled %s)", s.selector, t.obj, t.podLabels.String())
		suggested := "a selector on the pod template's labels"
		if len(own) > 0 {
			suggested += ": " + strings.Join(own, ",")
		}
		out = append(out, t.finding(RulePDBSelectsNone, Warning, "poddisruptionbudget/"+s.pdb.Name, "spec.selector", current, suggested,
			fmt.Sprintf("A budget whose selector matches no pod allows every eviction: a node drain evicts the %d replicas of %s on that node at once, as if there were no budget.", t.w.Replicas, t.obj)))
	}
	return out
}
