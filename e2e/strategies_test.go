package e2e

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/internal/headless"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

// Issue 8: every strategy of the seeds on the lab, each from the example
// shipped in scenarios/, with the same load, watch and report.

// strategyLab replaces deployment/demo with the Deployments of a strategy's
// manifest and removes them when the test ends, so that the next test's
// resetDemo starts from the usual demo.
func strategyLab(t *testing.T, manifestText string, steady []string, extra ...string) {
	t.Helper()
	deleteDemo(t)
	all := append(append([]string{}, steady...), extra...)
	t.Cleanup(func() {
		args := append([]string{"delete", "deployment", "--ignore-not-found", "--wait", "--timeout", "90s"}, all...)
		kubectl(t, args...)
	})
	kubectlApply(t, manifestText)
	waitSteadyOn(t, "X-Pod-Name", steady...)
}

// fast shortens a shipped scenario's phases for the test suite.
var fast = []string{"--baseline", "3s", "--settle", "5s", "--step-hold", "3s"}

func runScenario(t *testing.T, scenario string, extra ...string) result {
	t.Helper()
	args := append([]string{"-f", "../scenarios/" + scenario, "--target", lab.lbURL + "/"}, fast...)
	return rollcheck(t, append(args, extra...)...)
}

func wantVerdict(t *testing.T, r result, code int, verdict report.Verdict) {
	t.Helper()
	if r.code != code || r.report.Verdict != verdict {
		t.Fatalf("exit %d verdict %q, want %d %s\nstdout:\n%s\nstderr:\n%s", r.code, r.report.Verdict, code, verdict, r.stdout, r.stderr)
	}
}

// lastPods are the pods that answered in the last bucket with a success.
func lastPods(r result) []string {
	bs := r.report.Buckets
	for i := len(bs) - 1; i >= 0; i-- {
		pods := bs[i].Pods
		if len(pods) == 0 {
			continue
		}
		var out []string
		for p := range pods {
			out = append(out, p)
		}
		sort.Strings(out)
		return out
	}
	return nil
}

func allPrefixed(names []string, prefix string) bool {
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) {
			return false
		}
	}
	return len(names) > 0
}

func TestBlueGreenSwitchToReadyPodsPasses(t *testing.T) {
	needLab(t)
	strategyLab(t, manifest(t, "blue-green.yaml"), []string{"demo-blue", "demo-green"})
	r := runScenario(t, "blue-green.scenario.yaml")
	wantVerdict(t, r, exitcode.Pass, report.Pass)
	if got := r.report.Rollout.Deployment; got != "demo-green" {
		t.Errorf("report is about deployment %q, want demo-green (the one switched to)", got)
	}
	if a := r.report.Rollout.Action; !strings.Contains(a, "switch-service demo color=green (from deployment/demo-blue)") {
		t.Errorf("action %q", a)
	}
	var switched bool
	for _, e := range events(r, rollout.RolloutTriggered) {
		switched = switched || strings.Contains(e.Detail, "app=demo,color=blue -> app=demo,color=green")
	}
	if !switched {
		t.Errorf("no rollout-triggered event with the selector change: %s", eventTypes(r))
	}
	if pods := lastPods(r); !allPrefixed(pods, "demo-green-") {
		t.Errorf("after the switch and settle, answers came from %v, want demo-green pods only", pods)
	}
	svc, err := lab.client.CoreV1().Services("default").Get(context.Background(), "demo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Selector["color"] != "green" {
		t.Errorf("service selector after the run %v", svc.Spec.Selector)
	}
}

func TestBlueGreenSwitchToUnreadyPodsFailsWithNoReadyEndpoints(t *testing.T) {
	needLab(t)
	// The green pods never open their listener: their readiness probe
	// fails and the Deployment stays at 0 ready replicas.
	m := manifest(t, "blue-green.yaml")
	i := strings.Index(m, "name: demo-green")
	m = m[:i] + strings.Replace(m[i:], `args: ["--shutdown=graceful"]`, `args: ["--shutdown=graceful", "--startup=1h"]`, 1)
	strategyLab(t, m, []string{"demo-blue"}, "demo-green")
	waitUntil(t, time.Minute, "the green pods to exist", func() (bool, error) {
		d, err := lab.client.AppsV1().Deployments("default").Get(context.Background(), "demo-green", metav1.GetOptions{})
		return err == nil && d.Status.Replicas == 3 && d.Status.ReadyReplicas == 0, err
	})
	r := runScenario(t, "blue-green.scenario.yaml")
	wantVerdict(t, r, exitcode.Fail, report.Fail)
	if !strings.Contains(r.stderr, "deployment/demo-green has 0 of 3 replicas ready") {
		t.Errorf("no warning before switching to unready pods:\n%s", r.stderr)
	}
	codes := diagCauseCodes(r)
	if len(codes) == 0 || codes[0] != "NO_READY_ENDPOINTS" {
		t.Errorf("causes %v, want NO_READY_ENDPOINTS first", codes)
	}
	down := orNone(r.report.Measurements.NoReadySeconds)
	if down <= 0 {
		t.Errorf("no_ready_endpoints_seconds %v, want the time after the switch", down)
	}
	if v := orNone(r.report.Measurements.MinReadyEndpoints); v != 0 {
		t.Errorf("min ready endpoints %v, want 0", v)
	}
	if !hasRecommendation(r, "service/demo selector") || hasRecommendation(r, "spec.strategy.rollingUpdate.maxUnavailable") {
		t.Errorf("the advice is not about the switch: %+v", r.report.Recommendations)
	}
	t.Logf("switch to unready pods: %v of %v requests failed, no ready endpoint for %.1fs", r.report.Load.Failures, r.report.Load.Requests, down)
}

func TestCanaryStepsReportEachStep(t *testing.T) {
	needLab(t)
	strategyLab(t, manifest(t, "canary.yaml"), []string{"demo-stable", "demo-canary"})
	page := filepath.Join(t.TempDir(), "canary.html")
	r := runScenario(t, "canary.scenario.yaml", "--report-html", page)
	wantVerdict(t, r, exitcode.Pass, report.Pass)
	dom := headless.DOM(t, page)
	if !strings.Contains(dom, `data-ok="1"`) || strings.Count(dom, `<td class="PASS">PASS</td>`) != 4 {
		t.Errorf("the HTML report in Chromium lacks its script's mark or the 4 passed steps")
	}
	steps := r.report.Steps
	want := []string{"1/4 3/1", "2/4 2/2", "3/4 1/3", "4/4 0/4"}
	if len(steps) != len(want) {
		t.Fatalf("%d steps in the report, want %d", len(steps), len(want))
	}
	stepRequests := 0
	for i, st := range steps {
		if st.Name != want[i] || !st.Completed || !st.Passed || st.Requests <= 0 {
			t.Errorf("step %d: %+v", i, st)
		}
		stepRequests += st.Requests
	}
	if len(r.report.Phases) == 0 {
		t.Fatal("the report has no phases")
	}
	if base := r.report.Phases[0].Requests; base+stepRequests != r.report.Load.Requests {
		t.Errorf("baseline %v + steps %v requests != %v in all: the steps do not cover the run", base, stepRequests, r.report.Load.Requests)
	}
	if ss := r.report.StepSummary; ss == nil || ss.Passed != 4 {
		t.Errorf("step_summary %+v", ss)
	}
	for name, want := range map[string]int32{"demo-stable": 0, "demo-canary": 4} {
		d, err := lab.client.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != want {
			t.Errorf("deployment/%s has %d replicas after the steps, want %d", name, *d.Spec.Replicas, want)
		}
	}
	if pods := lastPods(r); !allPrefixed(pods, "demo-canary-") {
		t.Errorf("after the last step, answers came from %v, want demo-canary pods only", pods)
	}
	for _, s := range []string{"step", "1/4 3/1", "4/4 0/4", "Steps     4: 4 completed, 4 passed"} {
		if !strings.Contains(r.details, s) {
			t.Errorf("the printed report lacks %q", s)
		}
	}
}

func TestRepeatThreeRollouts(t *testing.T) {
	needLab(t)
	resetDemo(t)
	gen := demoGeneration(t)
	r := runScenario(t, "repeat.scenario.yaml")
	wantVerdict(t, r, exitcode.Pass, report.Pass)
	if n := len(events(r, rollout.RolloutTriggered)); n != 3 {
		t.Errorf("%d rollouts triggered, want 3", n)
	}
	if n := len(events(r, rollout.RolloutComplete)); n != 3 {
		t.Errorf("%d rollouts completed, want 3", n)
	}
	if g := demoGeneration(t); g != gen+3 {
		t.Errorf("generation %d -> %d, want 3 template changes", gen, g)
	}
	if ss := r.report.StepSummary; ss == nil || ss.Steps != 3 || ss.Completed != 3 || ss.TotalFailures != r.report.Load.Failures {
		t.Errorf("step_summary %+v with %v failures in all", ss, r.report.Load.Failures)
	}
	if !strings.Contains(r.report.Rollout.Action, "restart x3") {
		t.Errorf("action %q", r.report.Rollout.Action)
	}
}

func TestRepeatFindsTheFailuresOfEachRollout(t *testing.T) {
	needLab(t)
	deleteDemo(t)
	kubectlApply(t, manifest(t, "as-is.yaml"))
	waitSteady(t)
	r := rollcheck(t, append([]string{"deployment/demo", "--restart", "--repeat", "2", "--target", lab.lbURL + "/", "--rate", "100/s", "--pod-header", "X-Pod-Name,X-Lab-Target"}, fast...)...)
	wantVerdict(t, r, exitcode.Fail, report.Fail)
	steps := r.report.Steps
	if len(steps) != 2 {
		t.Fatalf("%d steps, want 2", len(steps))
	}
	for i, st := range steps {
		if st.Failures == 0 || st.Passed {
			t.Errorf("as-is rollout %d: %v failures, passed %v; want failures in each", i+1, st.Failures, st.Passed)
		}
	}
	worst := ""
	if ss := r.report.StepSummary; ss != nil {
		worst = ss.WorstStep
	}
	if w := worst; w != "1/2" && w != "2/2" {
		t.Errorf("worst step %q", w)
	}
}

func TestApplyManifestRollsOut(t *testing.T) {
	needLab(t)
	resetDemo(t)
	r := runScenario(t, "apply.scenario.yaml")
	wantVerdict(t, r, exitcode.Pass, report.Pass)
	d, err := lab.client.AppsV1().Deployments("default").Get(context.Background(), "demo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "rollcheck/demo-app:v2" {
		t.Errorf("image after the apply %s", img)
	}
	var applied bool
	for _, mf := range d.ManagedFields {
		applied = applied || (mf.Manager == "rollcheck" && mf.Operation == metav1.ManagedFieldsOperationApply)
	}
	if !applied {
		t.Error("no server-side apply by field manager rollcheck in managedFields")
	}
	// Applying the same manifest again changes nothing: refused before load.
	again := rollcheck(t, append([]string{"--apply", "../scenarios/to-be-v2.yaml", "--target", lab.lbURL + "/"}, fast...)...)
	if again.code != exitcode.Usage || !strings.Contains(again.stderr, "starts no rollout") || again.wrote {
		t.Errorf("re-applying: exit %d, stderr:\n%s", again.code, again.stderr)
	}
}

func TestRecreateScenarioMeasuresItsDowntime(t *testing.T) {
	needLab(t)
	deleteDemo(t)
	kubectlApply(t, manifest(t, "recreate.yaml"))
	waitSteady(t)
	r := runScenario(t, "recreate.scenario.yaml")
	wantVerdict(t, r, exitcode.Fail, report.Fail)
	if codes := diagCauseCodes(r); len(codes) == 0 || codes[0] != "NO_READY_ENDPOINTS" {
		t.Errorf("causes %v, want NO_READY_ENDPOINTS first", codes)
	}
	down := orNone(r.report.Measurements.NoReadySeconds)
	if down <= 0 {
		t.Errorf("no_ready_endpoints_seconds %v", down)
	}
	t.Logf("Recreate: %v of %v requests failed; no ready endpoint for %.1fs", r.report.Load.Failures, r.report.Load.Requests, down)
}
