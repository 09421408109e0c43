// Package e2e runs rollcheck against the lab: a real kube-apiserver,
// controller-manager and scheduler with the process kubelet and the lab load
// balancer. It needs the binaries built by `make lab build`; `make e2e` sets
// the environment. Without ROLLCHECK_E2E=1 every test is skipped.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/render"
)

// labDepartures is the file in the lab's directory where its load balancer
// appends each target that left a target group (lb --departures).
const labDepartures = "lb-departures.ndjson"

// lab is the cluster shared by the tests of this package.
var lab struct {
	dir        string
	kubeconfig string
	lbURL      string
	client     kubernetes.Interface
	rollcheck  string
	labBin     string
	kubectl    string
	// node is the lab's node: "process" (the lab's process kubelet) or
	// "real" (upstream kubelet, containerd and kube-proxy in a network
	// namespace), from $ROLLCHECK_E2E_NODE.
	node string
	// kubeProxyURL is the kube-proxy front of Service default/demo (real
	// node only): traffic through its ClusterIP and kube-proxy's rules.
	kubeProxyURL string
	// kubeProxyURLs are every kube-proxy front, by NS/NAME[@NODE].
	kubeProxyURLs map[string]string
	// ingressURL is the ingress front (real node only): Traefik in the
	// node's namespace, configured by Ingress objects (up --ingress).
	ingressURL string
	// nodes are the lab's Nodes, the first the one every test uses (a
	// process lab has two spare ones, tainted: spareNodes).
	nodes []string
	// gatewayURL is the Gateway API front (real node only): the same
	// Traefik, configured by Gateway API objects (up --gateway), and
	// traefikAccessLog its access log, for both fronts.
	gatewayURL       string
	traefikAccessLog string
	// lbInstanceURL is the ALB-like balancer in instance mode (real node
	// only) for Service default/demo-nodes (instanceService), which the
	// tests that use it create: its targets are the nodes' NodePorts.
	lbInstanceURL string
}

func TestMain(m *testing.M) {
	if os.Getenv("ROLLCHECK_E2E") != "1" {
		os.Exit(m.Run())
	}
	code, err := withLab(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// withLab runs the tests on a lab. There are three ways, chosen by the
// environment, so that the lab's options are written once (startLab):
//   - by default the test binary starts its own lab, runs the tests and
//     takes the lab down;
//   - ROLLCHECK_E2E_LAB=DIR: the tests use the lab already running in DIR
//     (the suite runner, e2e/runner, runs many test binaries on a few labs);
//   - ROLLCHECK_E2E_HOLD=1: no test runs; the binary starts a lab, prints
//     "lab ready DIR" and keeps it until its standard input closes (the
//     runner holds it, so the lab goes down when the runner ends, however).
func withLab(m *testing.M) (int, error) {
	lab.rollcheck = mustEnv("ROLLCHECK_BIN")
	lab.labBin = mustEnv("ROLLCHECK_LAB_BIN")
	lab.kubectl = mustEnv("KUBECTL")
	lab.node = os.Getenv("ROLLCHECK_E2E_NODE")
	if lab.node == "" {
		lab.node = "process"
	}
	if dir := os.Getenv("ROLLCHECK_E2E_LAB"); dir != "" {
		if err := attachLab(dir); err != nil {
			return 1, err
		}
		return m.Run(), nil
	}
	stop, err := startLab()
	if err != nil {
		return 1, err
	}
	defer stop()
	if err := attachLab(lab.dir); err != nil {
		return 1, err
	}
	if os.Getenv("ROLLCHECK_E2E_HOLD") == "1" {
		fmt.Printf("lab ready %s\n", lab.dir)
		_, _ = io.Copy(io.Discard, os.Stdin)
		return 0, nil
	}
	return m.Run(), nil
}

// startLab starts a lab in a new directory (lab.dir) and waits until it is
// ready. stop takes it down and removes the directory.
func startLab() (stop func(), err error) {
	dir, err := os.MkdirTemp("", "rollcheck-e2e-")
	if err != nil {
		return nil, err
	}
	lab.dir = dir
	logf, err := os.Create(filepath.Join(dir, "up.log"))
	if err != nil {
		return nil, err
	}
	// --name-pods: the load balancer names the target pod (X-Lab-Target) on
	// proxied responses and on its own 502/504, which these tests were
	// written to attribute failures by (--pod-header X-Pod-Name,X-Lab-Target).
	// A real load balancer names no pod, and by default neither does the
	// lab's; diagnosing without the pod's identity is issue 14.
	// --departures: the balancer records when it really stopped routing
	// to each target, which TestDiagnosisNoHeader1-3 compare the measured
	// routing lag with (labDepartures).
	args := []string{"up", "--dir", dir, "--lb-arg=--name-pods", "--lb-arg=--departures=" + filepath.Join(dir, labDepartures)}
	switch lab.node {
	case "process":
		// Two spare Nodes, tainted so that no test's pods land there
		// unless it asks (the drain tests: spareNodes).
		args = append(args, "--nodes", "3", "--extra-node-taint", spareTaint+":NoSchedule")
	case "real":
		// One real node: two more (up --nodes 3) load 2 cores enough to
		// starve the load of timing-sensitive tests (CI run ci18: an
		// in-cluster run INCONCLUSIVE for want of rate, a routing lag
		// measured 0.9 s long on a process lab beside it). The drain test
		// runs on the process labs; on 3 real nodes, alone.
		// Logs rotated at labLogMaxSize: TestAttackerLogSurvivesRotation.
		args = append(args, "--node", "real", "--kube-proxy", "default/demo", "--ingress", "--gateway", "--lb-instance", instanceService,
			"--container-log-max-size", labLogMaxSize)
	case "nodes":
		// Three real nodes, the third's kube-proxy slowed (its
		// minSyncPeriod slowSync), the balancer in instance mode before
		// them: the many-nodes tests (needNodes), run alone, as three real
		// nodes load 2 cores too much to run beside the others.
		args = append(args, "--node", "real", "--nodes", "3", "--kube-proxy-min-sync", slowNode+"="+slowSync.String(), "--lb-instance", instanceService,
			"--kube-proxy", instanceService+"@"+slowNode)
	default:
		return nil, fmt.Errorf("ROLLCHECK_E2E_NODE=%q: want process, real or nodes", lab.node)
	}
	// The lab runs at a lower CPU priority than rollcheck: on one machine
	// of 2 cores, the cluster (a real node above all: containerd, the
	// kubelet, kube-proxy) would otherwise starve the load generator for
	// whole seconds, which rollcheck rightly calls INCONCLUSIVE. In real
	// use the two are on different machines.
	up := exec.Command("nice", append([]string{"-n", "10", lab.labBin}, args...)...)
	up.Stdout, up.Stderr = logf, logf
	start := time.Now()
	if err := up.Start(); err != nil {
		return nil, fmt.Errorf("starting the lab: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	stop = func() {
		down := exec.Command(lab.labBin, "down", "--dir", dir)
		out, err := down.CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: rollcheck-lab down: %v\n%s", err, out)
		}
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			_ = up.Process.Kill()
			fmt.Fprintln(os.Stderr, "e2e: the lab did not stop within 60s; killed")
		}
		if os.Getenv("ROLLCHECK_E2E_KEEP") == "" {
			os.RemoveAll(dir)
		}
	}
	if err := waitFile(filepath.Join(dir, "ready"), 3*time.Minute, exited); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "up.log"))
		stop()
		return nil, fmt.Errorf("lab not ready: %w\n%s", err, log)
	}
	fmt.Fprintf(os.Stderr, "e2e: lab (node %s) ready in %.1fs\n", lab.node, time.Since(start).Seconds())
	return stop, nil
}

// attachLab points the tests at the lab running in dir, from its lab.json.
func attachLab(dir string) error {
	lab.dir = dir
	var info struct {
		Kubeconfig string            `json:"kubeconfig"`
		LBURL      string            `json:"lb_url"`
		KubeProxy  map[string]string `json:"kube_proxy"`
		IngressURL string            `json:"ingress_url"`
		GatewayURL string            `json:"gateway_url"`
		AccessLog  string            `json:"traefik_access_log"`
		Nodes      []string          `json:"nodes"`
		LBInstance map[string]string `json:"lb_instance"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "lab.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return fmt.Errorf("lab.json: %w", err)
	}
	lab.kubeconfig, lab.lbURL = info.Kubeconfig, info.LBURL
	lab.kubeProxyURL = info.KubeProxy["default/demo"]
	lab.kubeProxyURLs = info.KubeProxy
	lab.ingressURL = info.IngressURL
	lab.nodes = info.Nodes
	lab.gatewayURL, lab.traefikAccessLog = info.GatewayURL, info.AccessLog
	lab.lbInstanceURL = info.LBInstance[instanceService]
	if lab.node == "real" && !strings.HasPrefix(lab.kubeProxyURL, "http://127.0.0.1:") {
		return fmt.Errorf("lab kube-proxy front %q is not on 127.0.0.1", lab.kubeProxyURL)
	}
	if lab.node == "real" && !strings.HasPrefix(lab.ingressURL, "http://127.0.0.1:") {
		return fmt.Errorf("lab ingress front %q is not on 127.0.0.1", lab.ingressURL)
	}
	if lab.node == "real" && !strings.HasPrefix(lab.lbInstanceURL, "http://127.0.0.1:") {
		return fmt.Errorf("lab balancer in instance mode %q is not on 127.0.0.1", lab.lbInstanceURL)
	}
	if lab.node == "real" && !strings.HasPrefix(lab.gatewayURL, "http://127.0.0.1:") {
		return fmt.Errorf("lab Gateway API front %q is not on 127.0.0.1", lab.gatewayURL)
	}
	if !strings.HasPrefix(lab.lbURL, "http://127.0.0.1:") {
		return fmt.Errorf("lab load balancer %q is not on 127.0.0.1", lab.lbURL)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", lab.kubeconfig)
	if err != nil {
		return err
	}
	lab.client, err = kubernetes.NewForConfig(cfg)
	return err
}

func mustEnv(k string) string {
	v := os.Getenv(k)
	if v == "" {
		fmt.Fprintf(os.Stderr, "e2e: %s is not set (run through `make e2e`)\n", k)
		os.Exit(2)
	}
	return v
}

// waitFile waits for path to exist, failing early if the lab exits.
func waitFile(path string, timeout time.Duration, exited <-chan error) error {
	deadline := time.After(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("rollcheck-lab up exited: %v", err)
		case <-deadline:
			return fmt.Errorf("%s did not appear within %s", path, timeout)
		case <-tick.C:
		}
	}
}

func needLab(t *testing.T) {
	t.Helper()
	if lab.client == nil {
		t.Skip("end-to-end test: set ROLLCHECK_E2E=1 (make e2e)")
	}
}

// kubectl runs the lab's kubectl and fails the test on error.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(lab.kubectl, append([]string{"--kubeconfig", lab.kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// kubectlApply applies a manifest given as text.
func kubectlApply(t *testing.T, manifest string) {
	t.Helper()
	// Not in t.TempDir(): a subtest's name may have a comma, which
	// kubectl apply -f takes for a list of files.
	dir, err := os.MkdirTemp("", "rollcheck-e2e-manifest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := filepath.Join(dir, "manifest.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "-f", f)
}

// result is one rollcheck run.
type result struct {
	code   int
	stdout string
	stderr string
	// wrote says the run wrote its JSON report; report is that report in
	// the project's own type (the zero Report when none was written), and
	// json its bytes as written, for commands that read the file.
	wrote  bool
	report report.Report
	// details is the report's whole text, every table (as `rollcheck
	// report --details` prints it), with no width limit; stdout has the
	// summary a run prints by default.
	details string
	json    []byte
}

// rollcheck runs the rollcheck binary against the lab and reads its JSON report.
func rollcheck(t *testing.T, args ...string) result {
	t.Helper()
	r := rollcheckOnce(t, args...)
	for try := 2; try <= 3 && loadStarvedOnly(r) && repeatable(args); try++ {
		t.Logf("the run is INCONCLUSIVE only because this machine did not drive the load at its rate (%v): it measured nothing, so it is run again (%d of 3)", r.report.Reasons, try)
		r = rollcheckOnce(t, args...)
	}
	return r
}

// loadStarvedOnly: the run is INCONCLUSIVE, saw no failure, and every
// check it failed is about the load generator's own rate (a shared CI
// machine starving the generator for a moment). Such a run observed too
// little to judge; anything else (a FAIL, another reason) is never re-run.
func loadStarvedOnly(r result) bool {
	if r.code != exitcode.Inconclusive || r.report.Verdict != report.Inconclusive || r.report.Load.Failures != 0 {
		return false
	}
	starved := false
	for _, c := range failedChecks(r) {
		switch c.Code {
		case report.CheckRateWindows, report.CheckRate:
			starved = true
		default:
			return false
		}
	}
	return starved
}

// checkNames are the display names of the checks these tests look for,
// for reports whose checks do not carry their code in the JSON yet.
var checkNames = map[string]report.CheckCode{
	"load kept its rate in every window": report.CheckRateWindows,
	"load reached its rate":              report.CheckRate,
}

// failedChecks returns the checks of r's report that did not pass, each
// with its Code: the one the JSON report gives, else the one its display
// name stands for ("" for a check not in checkNames).
func failedChecks(r result) []report.Check {
	var out []report.Check
	for _, c := range r.report.Checks {
		if c.Passed {
			continue
		}
		if c.Code == "" {
			c.Code = checkNames[c.Name]
		}
		out = append(out, c)
	}
	return out
}

// repeatable: running the same arguments again makes the same rollout (a
// restart), not a no-op (--set-image to what now runs, --apply of what is
// now applied).
func repeatable(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--set-image" || a == "--apply" || a == "--watch-only" || a == "--switch-service" || a == "--canary":
			return false
		case a == "-f" && i+1 < len(args):
			data, err := os.ReadFile(args[i+1])
			if err != nil || !regexp.MustCompile(`(?m)^action:\s*\n\s+restart: true`).Match(data) {
				return false
			}
		}
	}
	return true
}

func rollcheckOnce(t *testing.T, args ...string) result {
	t.Helper()
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	args = append([]string{"run", "--kubeconfig", lab.kubeconfig, "--report-json", jsonPath}, args...)
	r := execRollcheck(t, 5*time.Minute, args...)
	t.Logf("rollcheck %s → exit %d\n%s", strings.Join(args, " "), r.code, r.stdout)
	if data, err := os.ReadFile(jsonPath); err == nil {
		keepReport(t, data)
		r.decodeReport(t, data)
		r.json = data
		if err := report.Validate(data); err != nil {
			t.Errorf("the JSON report does not match its schema: %v", err)
		}
	}
	return r
}

// execRollcheck runs the rollcheck binary with args, for at most timeout,
// and returns its exit code and output; only failing to run it fails the
// test.
func execRollcheck(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, lab.rollcheck, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("rollcheck %s: %v", args[0], err)
	}
	return r
}

// decodeReport reads a run's JSON report into r.
func (r *result) decodeReport(t *testing.T, data []byte) {
	t.Helper()
	if err := json.Unmarshal(data, &r.report); err != nil {
		t.Fatalf("report JSON: %v", err)
	}
	r.wrote = true
	var details strings.Builder
	if err := (render.TextOptions{Details: true}).Write(&r.report, &details); err != nil {
		t.Fatalf("report details: %v", err)
	}
	r.details = details.String()
}

// keepReport copies a run's JSON report into $ROLLCHECK_E2E_REPORTS (when
// set), named after the test, to study a run after the lab is gone.
func keepReport(t *testing.T, data []byte) {
	dir := os.Getenv("ROLLCHECK_E2E_REPORTS")
	if dir == "" {
		return
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.json", name, time.Now().UnixNano()))
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		t.Logf("keeping the report: %v", err)
	}
}

// orNone gives a measurement the report may leave out, or -1 when it did
// (no measurement these tests read is negative).
func orNone[T int | float64](v *T) float64 {
	if v == nil {
		return -1
	}
	return float64(*v)
}

// processAlive reports whether pid still runs (and is not a zombie).
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat))
	return len(fields) > 2 && fields[2] != "Z"
}
