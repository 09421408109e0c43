package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

func manifest(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("../scenarios/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// waitSteady waits until deployment/demo has rolled out, no pod of it is
// terminating, and the load balancer answers 40 requests in a row with 200
// from current pods only: the state a baseline needs.
func waitSteady(t *testing.T) {
	t.Helper()
	waitSteadyHeader(t, "X-Pod-Name")
}

// waitSteadyHeader is waitSteady for a workload that names itself in header.
func waitSteadyHeader(t *testing.T, header string) {
	t.Helper()
	waitSteadyOn(t, header, "demo")
}

// waitSteadyOn is waitSteady for the pods (app=demo) of these Deployments.
func waitSteadyOn(t *testing.T, header string, deployments ...string) {
	t.Helper()
	for _, d := range deployments {
		kubectl(t, "rollout", "status", "deployment/"+d, "--timeout", "120s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	streak := 0
	for attempt := 0; attempt < 3000 && streak < 40; attempt++ {
		if ctx.Err() != nil {
			t.Fatalf("the lab did not settle: %d successes in a row", streak)
		}
		pods, err := lab.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": "demo"}.String()})
		if err != nil {
			t.Fatal(err)
		}
		current := map[string]bool{}
		terminating := false
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				terminating = true
			}
			current[p.Name] = true
		}
		resp, err := client.Get(lab.lbURL + "/")
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

// TestSeedPair is the seed-002 pair on the lab, in order: as-is fails with
// failures attributed to pods, to-be passes with none, `rollcheck compare`
// of the two reports calls the fix no regression and its undoing one, a
// set-image rollout through rollcheck passes too, and plain `kubectl
// rollout restart` works.
func TestSeedPair(t *testing.T) {
	needLab(t)
	var asIs, toBe result
	t.Run("as-is fails with 5xx or connection errors attributed to pods", func(t *testing.T) {
		kubectlApply(t, manifest(t, "as-is.yaml"))
		waitSteady(t)
		junit := filepath.Join(t.TempDir(), "junit.xml")
		html := filepath.Join(t.TempDir(), "report.html")
		r := rollcheck(t, "-f", "../scenarios/as-is.scenario.yaml", "--target", lab.lbURL+"/", "--report-junit", junit, "--report-html", html)
		asIs = r
		checkHTMLReport(t, r, html, 8) // 4 old pods and 4 new ones
		if x, err := os.ReadFile(junit); err != nil || !strings.Contains(string(x), `<testcase name="max-failures" classname="rollcheck.checks">`) || !strings.Contains(string(x), "<failure") {
			t.Errorf("JUnit report lacks a failed max-failures case (%v):\n%s", err, x)
		}
		if r.code != exitcode.Fail || r.report.Verdict != report.Fail {
			t.Fatalf("exit %d verdict %q, want 1 FAIL\n%s", r.code, r.report.Verdict, r.stderr)
		}
		if f := r.report.Load.Failures; f <= 0 {
			t.Errorf("as-is failures = %v, want > 0", f)
		}
		if len(r.report.FailuresByPod) == 0 {
			t.Errorf("no failure attributed to a pod")
		}
		if !hasEvent(r, rollout.DeletionRequested) || !hasEvent(r, rollout.EndpointChanged) {
			t.Errorf("timeline lacks deletion or endpoint events")
		}
		if len(r.report.Causes) == 0 {
			t.Fatal("as-is report names no cause")
		}
		primary := r.report.Causes[0].Code
		if primary != report.TerminatingPodStillRouted && primary != report.LBDeregistrationLag {
			t.Errorf("primary cause %v, want TERMINATING_POD_STILL_ROUTED or LB_DEREGISTRATION_LAG", primary)
		}
		if lag := orNone(r.report.Measurements.MaxRoutingLag); lag < 1.5 || lag > 3 {
			t.Errorf("measured routing lag %.2fs, want about the 2s configured", lag)
		}
		if !hasRecommendation(r, "preStop") {
			t.Error("no preStop recommendation")
		}
		for _, rule := range []string{"no-readiness-probe", "no-prestop"} {
			if !hasFinding(r, rule) {
				t.Errorf("preflight lacks %s", rule)
			}
		}
		t.Logf("as-is: %v requests, %v failed, success %.4f, disrupted %.1fs", r.report.Load.Requests, r.report.Load.Failures, r.report.Load.SuccessRatio, r.report.DisruptedSeconds)
	})
	t.Run("to-be passes with zero failures of at least 2000 requests", func(t *testing.T) {
		kubectlApply(t, manifest(t, "to-be.yaml"))
		waitSteady(t)
		results := filepath.Join(t.TempDir(), "results.bin")
		r := rollcheck(t, "-f", "../scenarios/to-be.scenario.yaml", "--target", lab.lbURL+"/", "--results", results)
		toBe = r
		if r.code != exitcode.Pass || r.report.Verdict != report.Pass {
			t.Fatalf("exit %d verdict %q, want 0 PASS\n%s", r.code, r.report.Verdict, r.stderr)
		}
		if n := countVegetaResults(t, results); n != r.report.Load.Requests {
			t.Errorf("--results holds %d vegeta results, the report counts %v requests", n, r.report.Load.Requests)
		}
		if n := vegetaReportRequests(t, results); n != r.report.Load.Requests {
			t.Errorf("vegeta report counts %d requests, rollcheck's report %v", n, r.report.Load.Requests)
		}
		if f, n := r.report.Load.Failures, r.report.Load.Requests; f != 0 || n < 2000 {
			t.Errorf("to-be: %v failures of %v requests, want 0 of >= 2000", f, n)
		}
	})
	t.Run("compare calls the fix no regression and its undoing one", func(t *testing.T) {
		checkCompareJudgesTheFix(t, asIs, toBe)
	})
	t.Run("set-image through rollcheck changes the image and passes", func(t *testing.T) {
		waitSteady(t)
		r := rollcheck(t, "deployment/demo", "--set-image", "app=rollcheck/demo-app:v2", "--target", lab.lbURL+"/",
			"--rate", "100/s", "--baseline", "3s", "--settle", "3s", "--pod-header", "X-Pod-Name")
		if r.code != exitcode.Pass {
			t.Fatalf("exit %d, want 0\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		d, err := lab.client.AppsV1().Deployments("default").Get(context.Background(), "demo", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "rollcheck/demo-app:v2" {
			t.Errorf("image = %s, want rollcheck/demo-app:v2", img)
		}
	})
	t.Run("kubectl rollout restart works against the lab", func(t *testing.T) {
		waitSteady(t)
		kubectl(t, "rollout", "restart", "deployment/demo")
		out := kubectl(t, "rollout", "status", "deployment/demo", "--timeout", "120s")
		if !strings.Contains(out, "successfully rolled out") {
			t.Errorf("rollout status: %s", out)
		}
		out = kubectl(t, "get", "pods,endpointslices", "-o", "wide")
		podNet := "198.51.100." // the process kubelet's labels
		if lab.node == "real" {
			podNet = "10.244." // the real node's CNI range
		}
		if !strings.Contains(out, podNet) {
			t.Errorf("kubectl get shows no pod IP in %s*:\n%s", podNet, out)
		}
	})
}

// TestPreStopLongerThanLagRemovesFailures keeps the as-is app (exits at once
// on SIGTERM) and the 2s deregistration lag, and adds a preStop sleep longer
// than the lag (and a readiness probe, without which new pods take traffic
// before they listen): the failures must vanish.
func TestPreStopLongerThanLagRemovesFailures(t *testing.T) {
	needLab(t)
	m := manifest(t, "as-is.yaml")
	m = strings.Replace(m, `        ports:
        - containerPort: 8080`, `        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
        lifecycle:
          preStop:
            exec:
              command: ["sh", "-c", "sleep 4"]`, 1)
	if !strings.Contains(m, "sleep 4") {
		t.Fatal("could not add preStop to the as-is manifest")
	}
	kubectlApply(t, m)
	waitSteady(t)
	r := rollcheck(t, "-f", "../scenarios/as-is.scenario.yaml", "--target", lab.lbURL+"/")
	if r.code != exitcode.Pass || r.report.Load.Failures != 0 {
		t.Fatalf("exit %d, %v failures; want PASS with 0", r.code, r.report.Load.Failures)
	}
}

// TestPodIgnoringSIGTERMIsKilledAtTheGracePeriod checks the process kubelet:
// SIGTERM first, SIGKILL when terminationGracePeriodSeconds runs out, exit 137.
func TestPodIgnoringSIGTERMIsKilledAtTheGracePeriod(t *testing.T) {
	needLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods := lab.client.CoreV1().Pods("default")
	grace := int64(2)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stubborn"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "app", Image: "rollcheck/demo-app:v1", Args: []string{"--ignore-sigterm"},
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				// Ready means the app listens, so it has set up its signal
				// handling: a SIGTERM before that would kill any process.
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
					PeriodSeconds: 1,
				},
			}},
		},
	}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=stubborn"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var deletedAt time.Time
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		if deletedAt.IsZero() && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready {
			deletedAt = time.Now()
			if err := pods.Delete(ctx, "stubborn", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if deletedAt.IsZero() || len(p.Status.ContainerStatuses) == 0 {
			continue
		}
		if term := p.Status.ContainerStatuses[0].State.Terminated; term != nil {
			took := time.Since(deletedAt)
			if term.ExitCode != 137 {
				t.Errorf("exit code %d, want 137 (SIGKILL after the grace period)", term.ExitCode)
			}
			if took < 1500*time.Millisecond || took > 15*time.Second {
				t.Errorf("killed %.1fs after delete, want about the 2s grace period", took.Seconds())
			}
			t.Logf("killed %.2fs after delete with exit %d", took.Seconds(), term.ExitCode)
			return
		}
	}
	t.Fatal("watch ended before the container terminated")
}

func hasEvent(r result, typ rollout.EventType) bool {
	return len(events(r, typ)) > 0
}

// TestAgnhostNetexecRollsOutCleanly runs the Kubernetes e2e test server,
// agnhost netexec, unmodified as the workload behind the lab load balancer:
// --delay-shutdown keeps it serving past the 2s deregistration lag, so a
// restart drops nothing.
func TestAgnhostNetexecRollsOutCleanly(t *testing.T) {
	needLab(t)
	kubectlApply(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: demo, namespace: default}
spec:
  replicas: 3
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: app
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        args: ["netexec", "--http-port=8080", "--delay-shutdown=4"]
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /hostname, port: 8080}
          periodSeconds: 1
`)
	kubectl(t, "rollout", "status", "deployment/demo", "--timeout", "120s")
	waitSteadyHeader(t, "X-Lab-Target")
	r := rollcheck(t, "deployment/demo", "--restart", "--target", lab.lbURL+"/hostname", "--rate", "50/s",
		"--baseline", "3s", "--settle", "3s", "--pod-header", "X-Lab-Target")
	if r.code != exitcode.Pass || r.report.Load.Failures != 0 {
		t.Fatalf("exit %d, %v failures; want PASS with 0\n%s", r.code, r.report.Load.Failures, r.stderr)
	}
}

func hasRecommendation(r result, field string) bool {
	for _, rec := range r.report.Recommendations {
		if strings.Contains(rec.Field, field) && !rec.Satisfied {
			return true
		}
	}
	return false
}

func hasFinding(r result, rule string) bool {
	for _, f := range r.report.Preflight {
		if f.Rule == rule {
			return true
		}
	}
	return false
}

// countVegetaResults decodes a --results file with vegeta's own decoder.
func countVegetaResults(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := vegeta.NewDecoder(f)
	n := 0
	for {
		var res vegeta.Result
		if err := dec.Decode(&res); err != nil {
			if errors.Is(err, io.EOF) {
				return n
			}
			t.Fatalf("decoding %s after %d results: %v", path, n, err)
		}
		n++
	}
}

// vegetaReportRequests runs vegeta's own CLI (the version rollcheck links)
// on a --results file and returns the request count of its JSON report.
func vegetaReportRequests(t *testing.T, path string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "github.com/tsenart/vegeta/v12@v12.13.0", "report", "-type=json", path)
	cmd.Dir = t.TempDir() // outside this module: go run pkg@version
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("vegeta report: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("vegeta report: %v", err)
	}
	var m struct {
		Requests int `json:"requests"`
	}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("vegeta report output: %v\n%s", err, out)
	}
	return m.Requests
}

// TestWatchOnlyVerifiesARolloutStartedByKubectl wraps a plain
// `kubectl set image` with rollcheck --watch-only, as a CI job wraps helm.
func TestWatchOnlyVerifiesARolloutStartedByKubectl(t *testing.T) {
	needLab(t)
	resetDemo(t)
	gen := demoGeneration(t)
	r := startRollcheck(t, lab.kubeconfig, "deployment/demo", "--watch-only", "--watch-timeout", "2m",
		"--target", lab.lbURL+"/", "--rate", "100/s", "--baseline", "3s", "--settle", "3s", "--pod-header", "X-Pod-Name,X-Lab-Target")
	r.waitWatching(t)
	if demoGeneration(t) != gen {
		t.Fatal("rollcheck --watch-only changed the deployment")
	}
	kubectl(t, "set", "image", "deployment/demo", "app=rollcheck/demo-app:v3")
	res := r.wait(t, 3*time.Minute)
	if res.code != exitcode.Pass || res.report.Verdict != report.Pass {
		t.Fatalf("exit %d verdict %q, want 0 PASS\n%s", res.code, res.report.Verdict, res.stderr)
	}
	if !hasEvent(res, rollout.RolloutTriggered) || !res.report.Rollout.Completed {
		t.Errorf("the rollout started by kubectl was not followed to completion")
	}
}
