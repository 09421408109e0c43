package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// The acceptance of issue 4 on the lab: each case builds one kind of broken
// rollout and asserts the primary cause rollcheck names for it. Every case
// starts from no pods (the previous case's pods, still terminating, would
// otherwise be routed during the baseline), runs a short rollcheck and logs
// the verdict, the failures and the first cause as printed.

const diagLagAnnotation = "lab.rollcheck.dev/lb-deregister-lag"

// diagPodHeaders names the serving pod: the app's header, else the load
// balancer's target header on the errors it answers itself.
const diagPodHeaders = "X-Pod-Name,X-Lab-Target"

// diagService is the Service the lab load balancer serves, with the given
// deregistration lag.
func diagService(lag string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: demo
  namespace: default
  annotations:
    %s: %q
spec:
  selector: {app: demo}
  ports:
  - {name: http, port: 80, targetPort: 8080}
`, diagLagAnnotation, lag)
}

// diagDeployment describes deployment/demo for one case.
type diagDeployment struct {
	replicas  int
	strategy  string // the YAML of spec.strategy
	grace     int    // terminationGracePeriodSeconds; 0: unset
	args      []string
	readiness bool   // readinessProbe httpGet /healthz every 1s
	preStop   string // preStop exec sleep seconds; "": none
	image     string // "": the demo app
	probePath string // the readiness probe's path; "": /healthz
}

func (d diagDeployment) manifest() string {
	var b strings.Builder
	replicas := d.replicas
	if replicas == 0 {
		replicas = 4
	}
	strategy := d.strategy
	if strategy == "" {
		strategy = "{type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}"
	}
	fmt.Fprintf(&b, `apiVersion: apps/v1
kind: Deployment
metadata: {name: demo, namespace: default}
spec:
  replicas: %d
  strategy: %s
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
`, replicas, strategy)
	if d.grace > 0 {
		fmt.Fprintf(&b, "      terminationGracePeriodSeconds: %d\n", d.grace)
	}
	args := make([]string, len(d.args))
	for i, a := range d.args {
		args[i] = strconv.Quote(a)
	}
	image, probePath := d.image, d.probePath
	if image == "" {
		image = "rollcheck/demo-app:v1"
	}
	if probePath == "" {
		probePath = "/healthz"
	}
	fmt.Fprintf(&b, `      containers:
      - name: app
        image: %s
        args: [%s]
        ports: [{containerPort: 8080}]
`, image, strings.Join(args, ", "))
	if d.readiness {
		fmt.Fprintf(&b, `        readinessProbe:
          httpGet: {path: %s, port: 8080}
          periodSeconds: 1
          failureThreshold: 1
`, probePath)
	}
	if d.preStop != "" {
		fmt.Fprintf(&b, `        lifecycle:
          preStop:
            exec:
              command: ["sh", "-c", "sleep %s"]
`, d.preStop)
	}
	return b.String()
}

// diagFreshDemo removes deployment/demo and its pods, applies manifest and
// waits for the steady state a baseline needs.
func diagFreshDemo(t *testing.T, manifest string) {
	t.Helper()
	kubectl(t, "delete", "deployment", "demo", "--ignore-not-found", "--cascade=foreground", "--wait", "--timeout", "120s")
	kubectlApply(t, manifest)
	waitSteady(t)
}

// diagWaitSteadyPath is waitSteady through path: the app serves /healthz
// without its --latency, so a slow app can be checked quickly.
func diagWaitSteadyPath(t *testing.T, path string) {
	t.Helper()
	diagWaitSteadyOn(t, path, "X-Pod-Name")
}

// diagWaitSteadyOn is diagWaitSteadyPath for a workload whose serving pod
// the answers name in header.
func diagWaitSteadyOn(t *testing.T, path, header string) {
	t.Helper()
	kubectl(t, "rollout", "status", "deployment/demo", "--timeout", "120s")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for streak := 0; streak < 40; {
		if ctx.Err() != nil {
			t.Fatalf("the lab did not settle: %d successes in a row", streak)
		}
		pods, err := lab.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": "demo"}.String()})
		if err != nil {
			t.Fatal(err)
		}
		current, terminating := map[string]bool{}, false
		for _, p := range pods.Items {
			terminating = terminating || p.DeletionTimestamp != nil
			current[p.Name] = true
		}
		resp, err := client.Get(lab.lbURL + path)
		ok := err == nil && resp.StatusCode == 200 && current[resp.Header.Get(header)] && !terminating
		if resp != nil {
			resp.Body.Close()
		}
		if ok {
			streak++
		} else {
			streak = 0
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// diagSetLag sets the Service's deregistration lag annotation (the load
// balancer reads it live).
func diagSetLag(t *testing.T, lag string) {
	t.Helper()
	kubectl(t, "annotate", "service", "demo", "--overwrite", diagLagAnnotation+"="+lag)
}

// diagRun runs rollcheck with --restart on deployment/demo through the lab
// load balancer: 100/s, 3s of baseline, settle as given.
func diagRun(t *testing.T, settle string, extra ...string) result {
	t.Helper()
	args := append([]string{"deployment/demo", "--restart", "--target", lab.lbURL + "/",
		"--rate", "100/s", "--timeout", "5s", "--baseline", "3s", "--settle", settle,
		"--max-failures", "0", "--pod-header", diagPodHeaders}, extra...)
	return rollcheck(t, args...)
}

// diagCause returns causes[i] of the report, or nil.
func diagCause(r result, i int) *report.Cause {
	if i >= len(r.report.Causes) {
		return nil
	}
	return &r.report.Causes[i]
}

func diagCauseCodes(r result) []string {
	var out []string
	for _, c := range r.report.Causes {
		out = append(out, string(c.Code))
	}
	return out
}

// diagPrintedCause returns the first cause as the text report prints it:
// the line with the code, counts and pods, and the evidence line below it.
func diagPrintedCause(r result) string {
	c := diagCause(r, 0)
	if c == nil {
		return "(no cause)"
	}
	code := string(c.Code)
	lines := strings.Split(r.details, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "  "+code+"  ") {
			out := strings.TrimSpace(l)
			if i+1 < len(lines) {
				out += " | " + strings.TrimSpace(lines[i+1])
			}
			return out
		}
	}
	return fmt.Sprintf("%s %v failed: %v", code, c.Failures, c.Evidence)
}

// diagLog logs the line the closing note quotes.
func diagLog(t *testing.T, name string, r result) {
	t.Helper()
	t.Logf("CASE %s: verdict %s (exit %d), %v failures of %v requests; causes %v; first cause: %s",
		name, r.report.Verdict, r.code, r.report.Load.Failures, r.report.Load.Requests, diagCauseCodes(r), diagPrintedCause(r))
}

// diagWantPrimary fails unless the first cause has one of codes.
func diagWantPrimary(t *testing.T, r result, codes ...string) *report.Cause {
	t.Helper()
	if r.code != exitcode.Fail || r.report.Verdict != report.Fail {
		t.Errorf("exit %d verdict %q, want 1 FAIL\n%s", r.code, r.report.Verdict, r.stderr)
	}
	c := diagCause(r, 0)
	if c == nil {
		t.Fatalf("the report names no cause; want %s", strings.Join(codes, " or "))
	}
	for _, code := range codes {
		if string(c.Code) == code {
			return c
		}
	}
	t.Fatalf("primary cause %v (all: %v), want %s\n%s", c.Code, diagCauseCodes(r), strings.Join(codes, " or "), r.stdout)
	return nil
}

// diagRecommendation returns the first recommendation whose field contains
// field, or nil.
func diagRecommendation(r result, field string) *report.Recommendation {
	for i, rec := range r.report.Recommendations {
		if strings.Contains(rec.Field, field) {
			return &r.report.Recommendations[i]
		}
	}
	return nil
}

var diagSleepRe = regexp.MustCompile(`^sleep (\d+)\b`)

// diagSuggestedPreStop parses the seconds of the preStop recommendation
// ("sleep N (...)").
func diagSuggestedPreStop(t *testing.T, r result) int {
	t.Helper()
	rec := diagRecommendation(r, "lifecycle.preStop")
	if rec == nil {
		t.Fatalf("no preStop recommendation\n%s", r.stdout)
	}
	m := diagSleepRe.FindStringSubmatch(rec.Suggested)
	if m == nil {
		t.Fatalf("preStop recommendation %q is not \"sleep N ...\"", rec.Suggested)
	}
	n, _ := strconv.Atoi(m[1])
	if rec.Satisfied {
		t.Errorf("preStop recommendation %q marked satisfied by the current %q", rec.Suggested, rec.Current)
	}
	return n
}

// Case 1: the app dies at once on SIGTERM, no preStop, no readiness probe,
// LB deregistration lag 2s (the as-is of seed 002).
func TestDiagnosisExitAtOnceNoPreStop(t *testing.T) {
	needLab(t)
	diagFreshDemo(t, diagService("2s")+"---\n"+diagDeployment{args: []string{"--shutdown=immediate"}, readiness: true}.manifest())
	r := diagRun(t, "3s")
	diagLog(t, "1 exit at once, no preStop, lag 2s", r)
	diagWantPrimary(t, r, "TERMINATING_POD_STILL_ROUTED", "LB_DEREGISTRATION_LAG")
	lag := orNone(r.report.Measurements.MaxRoutingLag)
	if lag < 1.5 || lag > 3 {
		t.Errorf("measured routing lag %.2fs, want about the 2s configured", lag)
	}
	if n := diagSuggestedPreStop(t, r); float64(n) < lag {
		t.Errorf("recommended preStop sleep %d < measured lag %.2fs", n, lag)
	}
}

// Case 2: the app drains (graceful shutdown, readiness probe) behind a
// preStop sleep of 1s, shorter than the 3s deregistration lag; then the
// recommended preStop, applied, makes the next run pass.
func TestDiagnosisPreStopShorterThanLag(t *testing.T) {
	needLab(t)
	const configured = 3.0
	t.Cleanup(func() {
		// Other tests expect the 2s of the scenarios.
		if lab.client != nil {
			diagSetLag(t, "2s")
		}
	})
	spec := diagDeployment{args: []string{"--shutdown=graceful"}, readiness: true, preStop: "1", grace: 15}
	diagFreshDemo(t, diagService("3s")+"---\n"+spec.manifest())
	r := diagRun(t, "4s")
	diagLog(t, "2 drains, preStop 1s < lag 3s", r)
	diagWantPrimary(t, r, "LB_DEREGISTRATION_LAG")
	lag := orNone(r.report.Measurements.MaxRoutingLag)
	if lag < configured*0.75 || lag > configured*1.25 {
		t.Errorf("measured routing lag %.2fs, want within 25%% of the %.0fs configured", lag, configured)
	}
	n := diagSuggestedPreStop(t, r)
	t.Logf("measured lag %.2fs; recommended preStop sleep %d", lag, n)
	if float64(n) < lag {
		t.Fatalf("recommended preStop sleep %d < measured lag %.2fs", n, lag)
	}

	spec.preStop = strconv.Itoa(n)
	if grace := n + 4; grace > spec.grace {
		spec.grace = grace
	}
	kubectlApply(t, spec.manifest())
	waitSteady(t)
	r = diagRun(t, "3s")
	diagLog(t, fmt.Sprintf("2 fixed: preStop %ds, lag 3s", n), r)
	if r.code != exitcode.Pass || r.report.Verdict != report.Pass || r.report.Load.Failures != 0 {
		t.Fatalf("with the recommended preStop sleep %d: exit %d verdict %q, %v failures; want PASS with 0\n%s",
			n, r.code, r.report.Verdict, r.report.Load.Failures, r.stderr)
	}
}

// Case 3: the app ignores SIGTERM and every request takes 3s; the grace
// period (3s) ends while requests are in flight, so the kubelet SIGKILLs the
// container (137) and cuts them. A readiness probe keeps the new pods good
// and a preStop sleep as long as the 2s lag keeps the routed requests from
// being refused: the only failures are the cuts.
func TestDiagnosisIgnoresSIGTERMInflightCut(t *testing.T) {
	needLab(t)
	spec := diagDeployment{args: []string{"--ignore-sigterm", "--latency=3s"}, readiness: true, preStop: "2", grace: 3}
	kubectl(t, "delete", "deployment", "demo", "--ignore-not-found", "--cascade=foreground", "--wait", "--timeout", "120s")
	kubectlApply(t, diagService("2s")+"---\n"+spec.manifest())
	diagWaitSteadyPath(t, "/healthz") // / takes 3s
	// The last old pod is killed 3s after the rollout completes: settle
	// past that; give requests more than their 3s, and the baseline time to
	// complete some.
	r := diagRun(t, "6s", "--rate", "50/s", "--timeout", "8s", "--baseline", "6s")
	diagLog(t, "3 ignores SIGTERM, 3s requests, grace 3s", r)
	c := diagWantPrimary(t, r, "INFLIGHT_CUT")
	if ev := c.Evidence; !strings.Contains(ev, "137") {
		t.Errorf("INFLIGHT_CUT evidence lacks exit code 137: %s", ev)
	}
	if rec := diagRecommendation(r, "terminationGracePeriodSeconds"); rec == nil || rec.Satisfied {
		t.Errorf("no unsatisfied terminationGracePeriodSeconds recommendation: %+v", rec)
	}
}

// Case 4: the Recreate strategy stops every pod before it starts new ones;
// the load balancer answers 503 with no target.
func TestDiagnosisRecreateNoReadyEndpoints(t *testing.T) {
	needLab(t)
	spec := diagDeployment{strategy: "{type: Recreate}", args: []string{"--shutdown=graceful"}, readiness: true, preStop: "3", grace: 10}
	diagFreshDemo(t, diagService("2s")+"---\n"+spec.manifest())
	r := diagRun(t, "3s")
	diagLog(t, "4 Recreate", r)
	diagWantPrimary(t, r, "NO_READY_ENDPOINTS")
	if v := orNone(r.report.Measurements.MinReadyEndpoints); v != 0 {
		t.Errorf("min ready endpoints %v, want 0", v)
	}
	if !hasRecommendation(r, "spec.strategy") {
		t.Error("no strategy recommendation")
	}
}

// Case 5: no readiness probe and an app that opens its listener 2s after
// start: the new pods are Ready at once, the load balancer is refused and
// answers 502.
func TestDiagnosisSlowStartNoReadiness(t *testing.T) {
	needLab(t)
	spec := diagDeployment{args: []string{"--shutdown=graceful", "--startup=2s"}, preStop: "3", grace: 10}
	diagFreshDemo(t, diagService("2s")+"---\n"+spec.manifest())
	r := diagRun(t, "3s")
	diagLog(t, "5 no readiness, startup 2s", r)
	diagWantPrimary(t, r, "NEW_POD_NOT_SERVING")
	if !hasRecommendation(r, "readinessProbe") {
		t.Error("no readinessProbe recommendation")
	}
}

// Case 6: the to-be of seed 002 passes with no cause, ten runs in a row.
func TestDiagnosisToBeTenRuns(t *testing.T) {
	needLab(t)
	diagFreshDemo(t, manifest(t, "to-be.yaml"))
	start := time.Now()
	for i := 1; i <= 10; i++ {
		if i > 1 {
			waitSteady(t)
		}
		r := rollcheck(t, "-f", "../scenarios/to-be.scenario.yaml", "--target", lab.lbURL+"/",
			"--rate", "100/s", "--baseline", "3s", "--settle", "3s", "--pod-header", diagPodHeaders)
		diagLog(t, fmt.Sprintf("6 to-be run %d/10", i), r)
		if r.code != exitcode.Pass || r.report.Verdict != report.Pass {
			t.Fatalf("run %d: exit %d verdict %q, want 0 PASS (a false FAIL)\n%s", i, r.code, r.report.Verdict, r.stderr)
		}
		if cs := diagCauseCodes(r); len(cs) != 0 {
			t.Fatalf("run %d: causes %v, want none", i, cs)
		}
	}
	t.Logf("ten to-be runs passed in %.0fs", time.Since(start).Seconds())
}
