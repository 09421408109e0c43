package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// spareTaint keeps the process lab's extra Nodes free of every test's pods
// but the drain tests', which lift it (spareNodes).
const spareTaint = "lab.rollcheck.dev/spare=true"

// spareNodes makes the lab's spare Nodes schedulable for the test and
// returns every Node, the first the one the other tests use. They are
// tainted and uncordoned again when the test ends. The lab of three real
// nodes has no spare one: its nodes are only uncordoned.
func spareNodes(t *testing.T) []string {
	t.Helper()
	if len(lab.nodes) < 3 {
		t.Skipf("needs a lab of 3 Nodes (the process lab's, up --nodes 3); this one has %d", len(lab.nodes))
	}
	if lab.node == "nodes" {
		t.Cleanup(func() {
			for _, n := range lab.nodes {
				kubectl(t, "uncordon", n)
			}
		})
		return lab.nodes
	}
	key, _, _ := strings.Cut(spareTaint, "=")
	for _, n := range lab.nodes[1:] {
		kubectl(t, "taint", "nodes", n, key+":NoSchedule-")
	}
	t.Cleanup(func() {
		for _, n := range lab.nodes {
			kubectl(t, "uncordon", n)
		}
		for _, n := range lab.nodes[1:] {
			kubectl(t, "taint", "nodes", n, spareTaint+":NoSchedule", "--overwrite")
		}
	})
	return lab.nodes
}

// drainDemo is deployment/demo for the drain tests: 3 replicas of an app
// that drains well (readiness, a preStop over the balancer's lag, graceful
// on SIGTERM) but starts slowly, as real apps do (a replacement serves
// 4 s after it starts), and answers at most drainCapacity requests/s,
// shedding the rest with 503: the drains' 50/s need 2 of them.
func drainDemo() string {
	return diagDeployment{replicas: 3, grace: 20, args: []string{"--shutdown=graceful", "--startup=4s", fmt.Sprintf("--capacity=%d", drainCapacity)}, readiness: true, preStop: "4"}.manifest()
}

const drainCapacity = 30

// placeOn puts n of deployment/demo's pods on node and the rest on the
// other nodes, moving as few as it can: with the nodes they must leave
// cordoned, it deletes pods and lets the ReplicaSet replace them.
func placeOn(t *testing.T, node string, n int, nodes []string) {
	t.Helper()
	list := func() (on, off []string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pods, err := lab.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": "demo"}.String()})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			switch {
			case p.DeletionTimestamp != nil:
			case p.Spec.NodeName == node:
				on = append(on, p.Name)
			default:
				off = append(off, p.Name)
			}
		}
		return on, off
	}
	on, off := list()
	var move []string
	switch {
	case len(on) < n:
		for _, o := range nodes {
			if o != node {
				kubectl(t, "cordon", o)
			}
		}
		move = off[:min(n-len(on), len(off))]
	case len(on) > n:
		kubectl(t, "cordon", node)
		move = on[:len(on)-n]
	}
	if len(move) > 0 {
		kubectl(t, append([]string{"delete", "pod", "--wait=false"}, move...)...)
		// The ReplicaSet's replacements ready, the deleted pods gone, then
		// the balancer serving only the pods left.
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			pods, err := lab.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": "demo"}.String()})
			if err != nil {
				return false, nil
			}
			ready := 0
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil {
					return false, nil
				}
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
			return ready == len(on)+len(off), nil
		})
		if err != nil {
			t.Fatalf("the replacements of %v were not all ready: %v", move, err)
		}
		waitSteady(t)
	}
	for _, o := range nodes {
		kubectl(t, "uncordon", o)
	}
	on, off = list()
	if len(on) != n {
		t.Fatalf("pods %v on %s and %v elsewhere, want %d on it", on, node, off, n)
	}
	t.Logf("pods on %s: %v; elsewhere: %v", node, on, off)
}

// drainRun drains node under 50 requests/s through the lab's balancer
// (the suite runs it beside timing-sensitive tests: half their rate).
func drainRun(t *testing.T, node string, extra ...string) result {
	t.Helper()
	args := append([]string{"deployment/demo", "--drain", node, "--target", lab.lbURL + "/",
		"--rate", "50/s", "--timeout", "5s", "--baseline", "2s", "--settle", "2s",
		"--max-failures", "0", "--pod-header", diagPodHeaders}, extra...)
	return rollcheck(t, args...)
}

func nodeCordoned(t *testing.T, node string) bool {
	t.Helper()
	n, err := lab.client.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Spec.Unschedulable
}

// A node drain under load (issue 22), on three Nodes (the lab of three real
// nodes in make test, else the process lab's): the Deployment's 3 replicas,
// each good for drainCapacity requests/s of the 50/s. Without a
// PodDisruptionBudget the drain evicts every pod on the node at once: all
// 3 on it, the Service has no ready endpoint until a slow-starting
// replacement is ready (DRAIN_NO_READY_ENDPOINTS); 2 of 3 on it, the one
// left sheds what it cannot carry (DRAIN_TOO_FEW_READY_PODS, a budget
// sized by what it served). FAIL both, with a budget and spread as the
// fix. With maxUnavailable 1 the Eviction API holds the second eviction
// until the first replacement serves: PASS. A budget that allows no
// eviction stops the drain: FAIL naming it, and the node the run cordoned
// is schedulable again.
func TestDrainUnderAPodDisruptionBudget(t *testing.T) {
	needLab(t)
	if len(lab.nodes) < 3 {
		t.Skipf("needs a lab of 3 Nodes (the process lab's, up --nodes 3); this one has %d", len(lab.nodes))
	}
	// Cleanups run last first: the spare Nodes are tainted again before
	// the to-be comes back, so that its pods are all on the first Node.
	t.Cleanup(func() { resetDemo(t) })
	nodes := spareNodes(t)
	drained := nodes[1]
	kubectlApply(t, diagService("2s"))
	kubectl(t, "delete", "pdb", "demo", "--ignore-not-found") // the to-be's (resetDemo puts it back)
	diagFreshDemo(t, drainDemo())

	t.Run("no budget: all 3 replicas evicted at once", func(t *testing.T) {
		placeOn(t, drained, 3, nodes)
		r := drainRun(t, drained, "--uncordon")
		diagLog(t, "drain without a budget", r)
		wantVerdict(t, r, exitcode.Fail, report.Fail)
		c := diagWantPrimary(t, r, "DRAIN_NO_READY_ENDPOINTS")
		if !strings.Contains(c.Evidence, "drain of node/"+drained+" evicted 3") || !slices.Contains(c.PredictedBy, "no-pod-disruption-budget") {
			t.Errorf("cause %s: evidence %q, predicted by %v; want the drain's 3 evictions, foreseen by no-pod-disruption-budget", c.Code, c.Evidence, c.PredictedBy)
		}
		d := r.report.Drain
		if d == nil || !d.Drained || len(d.Evicted) != 3 || len(d.PDBs) != 0 {
			t.Fatalf("drain %+v, want 3 pods evicted and no budget", d)
		}
		for _, p := range d.Replacements {
			if p.Node == drained || p.Node == "" || p.ReadyAt == nil {
				t.Errorf("replacement %+v: want it ready on another node than %s", p, drained)
			}
		}
		if len(d.Replacements) != 3 {
			t.Errorf("%d replacements, want 3: %+v", len(d.Replacements), d.Replacements)
		}
		if !hasFinding(r, "no-pod-disruption-budget") {
			t.Errorf("the preflight did not foresee it: no no-pod-disruption-budget finding")
		}
		for _, field := range []string{"PodDisruptionBudget", "topologySpreadConstraints"} {
			if !hasRecommendation(r, field) {
				t.Errorf("no recommendation on %s\n%s", field, r.stdout)
			}
		}
		if hasRecommendation(r, "spec.strategy.") {
			t.Errorf("a drain told to change the rollout strategy\n%s", r.stdout)
		}
		if !strings.Contains(r.stdout, "Drain     node/"+drained) {
			t.Errorf("the report has no Drain line\n%s", r.stdout)
		}
		if nodeCordoned(t, drained) {
			t.Errorf("--uncordon: node %s is still cordoned", drained)
		}
		t.Logf("no budget, 3 of 3: %d of %d failed, evicted %v, replacements %+v", r.report.Load.Failures, r.report.Load.Requests, d.Evicted, d.Replacements)
	})

	t.Run("no budget: 2 of 3 replicas evicted at once, the third overloaded", func(t *testing.T) {
		placeOn(t, drained, 2, nodes)
		r := drainRun(t, drained, "--uncordon")
		diagLog(t, "drain of 2 of 3 without a budget", r)
		wantVerdict(t, r, exitcode.Fail, report.Fail)
		c := diagWantPrimary(t, r, "DRAIN_TOO_FEW_READY_PODS")
		d := r.report.Drain
		if d == nil || !d.Drained || len(d.Evicted) != 2 {
			t.Fatalf("drain %+v, want 2 pods evicted", d)
		}
		// The pod left was the one not on the drained node, and only it
		// shed: every failure under the cause names it.
		for _, p := range c.Pods {
			if slices.Contains(d.Evicted, p) {
				t.Errorf("cause %s names %s, which the drain evicted: want only the pod left", c.Code, p)
			}
		}
		if c.Failures*10 < r.report.Load.Failures*8 || !slices.Contains(c.PredictedBy, "no-pod-disruption-budget") {
			t.Errorf("cause %s has %d of %d failures, predicted by %v: want most, foreseen by no-pod-disruption-budget", c.Code, c.Failures, r.report.Load.Failures, c.PredictedBy)
		}
		// What the pod served while it shed is its capacity: the evidence
		// must say so within a sixth, and size the budget by it.
		m := regexp.MustCompile(`they answered ([0-9.]+) requests/s each`).FindStringSubmatch(c.Evidence)
		if m == nil {
			t.Fatalf("evidence %q measures no capacity", c.Evidence)
		}
		perPod, _ := strconv.ParseFloat(m[1], 64)
		if perPod < drainCapacity*5/6.0 || perPod > drainCapacity*7/6.0 {
			t.Errorf("capacity measured %.1f/s, the app's is %d/s", perPod, drainCapacity)
		}
		var pdb *report.Recommendation
		for i, rec := range r.report.Recommendations {
			if strings.HasPrefix(rec.Field, "PodDisruptionBudget") {
				pdb = &r.report.Recommendations[i]
			}
		}
		if pdb == nil || pdb.Suggested != "maxUnavailable: 1 (or minAvailable: 2)" {
			t.Errorf("budget advice %+v, want maxUnavailable 1: 50/s at %d/s a pod needs 2 of the 3\n%s", pdb, drainCapacity, r.stdout)
		}
		if !hasRecommendation(r, "topologySpreadConstraints") || hasRecommendation(r, "spec.strategy.") {
			t.Errorf("want spread advice and none on the rollout strategy\n%s", r.stdout)
		}
		t.Logf("no budget, 2 of 3: %d of %d failed, %d under %s; measured %.1f/s a pod", r.report.Load.Failures, r.report.Load.Requests, c.Failures, c.Code, perPod)
	})

	t.Run("maxUnavailable 1: one eviction at a time", func(t *testing.T) {
		kubectlApply(t, "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: demo, namespace: default}\nspec: {maxUnavailable: 1, selector: {matchLabels: {app: demo}}}\n")
		placeOn(t, drained, 2, nodes)
		r := drainRun(t, drained, "--uncordon")
		diagLog(t, "drain with maxUnavailable 1", r)
		wantVerdict(t, r, exitcode.Pass, report.Pass)
		d := r.report.Drain
		if d == nil || !d.Drained || len(d.Evicted) != 2 || !slices.Equal(d.PDBs, []string{"demo: maxUnavailable 1"}) {
			t.Fatalf("drain %+v, want 2 pods evicted under budget demo", d)
		}
		t.Logf("maxUnavailable 1, 2 of 3: %d of %d failed, rollout %.1fs", r.report.Load.Failures, r.report.Load.Requests, r.report.Rollout.Duration)
	})

	t.Run("a budget that allows no eviction stops the drain", func(t *testing.T) {
		kubectlApply(t, "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: demo, namespace: default}\nspec: {minAvailable: 3, selector: {matchLabels: {app: demo}}}\n")
		placeOn(t, drained, 3, nodes)
		r := drainRun(t, drained, "--rollout-timeout", "8s")
		diagLog(t, "drain refused", r)
		wantVerdict(t, r, exitcode.Fail, report.Fail)
		d := r.report.Drain
		if d == nil || d.Drained || len(d.Evicted) != 0 {
			t.Fatalf("drain %+v, want none evicted", d)
		}
		want := "default/demo (allows 0 disruptions)"
		if !slices.Contains(d.BlockingPDBs, want) {
			t.Errorf("blocking budgets %v, want %s", d.BlockingPDBs, want)
		}
		if !strings.Contains(r.stdout, "PodDisruptionBudget default/demo") {
			t.Errorf("the report does not name the budget\n%s", r.stdout)
		}
		if !hasFinding(r, "pdb-blocks-eviction") {
			t.Errorf("the preflight did not foresee it: no pdb-blocks-eviction finding")
		}
		if nodeCordoned(t, drained) || d.LeftCordoned {
			t.Errorf("node %s left cordoned after a drain that did not finish (report: %t)", drained, d.LeftCordoned)
		}
	})
}
