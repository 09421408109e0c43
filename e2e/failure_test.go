package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

// The failure tests of issue 7: each breaks one thing rollcheck depends on
// (the target, its permissions, the rollout, the process, the load
// generator, the API server) and checks that the run ends the way the
// README promises. Each starts from the to-be Deployment, rolled out and
// steady.

// TestFailureTargetUnreachable loads a closed port: every baseline request
// fails, so the run is INCONCLUSIVE (exit 3) and the Deployment is never
// patched.
func TestFailureTargetUnreachable(t *testing.T) {
	needLab(t)
	resetDemo(t)
	gen := demoGeneration(t)
	r := startRollcheck(t, lab.kubeconfig, "deployment/demo", "--restart", "--target", "http://"+closedAddr(t)+"/",
		"--rate", "50/s", "--timeout", "1s", "--baseline", "2s", "--settle", "1s").wait(t, 2*time.Minute)
	if r.code != exitcode.Inconclusive || r.report.Verdict != report.Inconclusive {
		t.Fatalf("exit %d verdict %q, want %d INCONCLUSIVE\n%s", r.code, r.report.Verdict, exitcode.Inconclusive, r.stderr)
	}
	if r.report.Rollout.Triggered {
		t.Error("report says the rollout was triggered")
	}
	if got := demoGeneration(t); got != gen {
		t.Errorf("deployment generation %d → %d: the rollout was triggered", gen, got)
	}
	if f := r.report.Load.Failures; f <= 0 {
		t.Errorf("failures = %v, want every baseline request to fail", f)
	}
	t.Logf("reasons: %v", r.report.Reasons)
}

// TestFailureCannotPatch runs rollcheck as a ServiceAccount that may read
// everything it watches but not patch the Deployment: exit 4 before any
// load, naming the verb and resource.
func TestFailureCannotPatch(t *testing.T) {
	needLab(t)
	resetDemo(t)
	gen := demoGeneration(t)
	kubeconfig := readOnlyKubeconfig(t, "rollcheck-readonly")

	// The token works for reading: otherwise the test would prove nothing.
	probe := exec.Command(lab.kubectl, "--kubeconfig", kubeconfig, "get", "deployment/demo")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Fatalf("the read-only kubeconfig cannot read: %v\n%s", err, out)
	}

	srv := countingServer(t)
	r := startRollcheck(t, kubeconfig, "deployment/demo", "--restart", "--target", srv.URL+"/",
		"--rate", "50/s", "--baseline", "2s", "--settle", "1s").wait(t, time.Minute)
	if r.code != exitcode.Runtime {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitcode.Runtime, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "patch deployments.apps") {
		t.Errorf("stderr does not name the missing permission (patch deployments.apps):\n%s", r.stderr)
	}
	if n := srv.requests(); n != 0 {
		t.Errorf("the target got %d requests, want none before the access check", n)
	}
	if r.wrote || strings.Contains(r.stdout, "Verdict") {
		t.Errorf("a report was written for a run that never started:\n%s", r.stdout)
	}
	if got := demoGeneration(t); got != gen {
		t.Errorf("deployment generation %d → %d", gen, got)
	}
	t.Logf("stderr: %s", strings.TrimSpace(r.stderr))
}

// TestFailureRolloutNeverCompletes sets an image no node can run, with a
// progress deadline of 8s: the old pods keep serving, the rollout stalls,
// and the run FAILs at the deadline with its reason and exits.
func TestFailureRolloutNeverCompletes(t *testing.T) {
	needLab(t)
	resetDemo(t)
	// The patch leaves the deadline on demo; remove demo so that later
	// tests that apply over it do not inherit it.
	t.Cleanup(func() { deleteDemo(t) })
	kubectl(t, "patch", "deployment/demo", "-p", `{"spec":{"progressDeadlineSeconds":8}}`)
	waitSteady(t)

	start := time.Now()
	rc := startRollcheck(t, lab.kubeconfig, "deployment/demo", "--set-image", "app=rollcheck/no-such-image:v1",
		"--target", lab.lbURL+"/", "--pod-header", "X-Pod-Name", "--rate", "50/s", "--baseline", "2s", "--settle", "2s")
	r := rc.wait(t, 2*time.Minute)
	took := time.Since(start)
	if r.code != exitcode.Fail || r.report.Verdict != report.Fail {
		t.Fatalf("exit %d verdict %q, want %d FAIL\n%s", r.code, r.report.Verdict, exitcode.Fail, r.stderr)
	}
	if reason := r.report.Rollout.Reason; reason != "ProgressDeadlineExceeded" {
		t.Errorf("rollout reason %q, want ProgressDeadlineExceeded", reason)
	}
	if !reasonsContain(r, "ProgressDeadlineExceeded") {
		t.Errorf("reasons %v do not name ProgressDeadlineExceeded", r.report.Reasons)
	}
	if !hasEvent(r, rollout.RolloutFailed) {
		t.Error("timeline lacks the rollout-failed event")
	}
	// The deadline is 8s after the last progress; the default rollout
	// timeout (deadline + 30s) must not be what ended the run.
	if took > 35*time.Second {
		t.Errorf("run took %s, want it to end soon after the 8s progress deadline", took.Round(time.Second))
	}
	if processAlive(rc.pid) {
		t.Errorf("rollcheck (pid %d) still runs after it exited", rc.pid)
	}
	t.Logf("FAIL after %s: %v requests, %v failed; reasons %v", took.Round(100*time.Millisecond), r.report.Load.Requests, r.report.Load.Failures, r.report.Reasons)
}

// TestFailureInterrupted sends SIGINT while the rollout runs: exit 130 and a
// partial JSON report marked interrupted.
func TestFailureInterrupted(t *testing.T) {
	needLab(t)
	resetDemo(t)
	gen := demoGeneration(t)
	rc := startRollcheck(t, lab.kubeconfig, "-f", "../scenarios/to-be.scenario.yaml", "--target", lab.lbURL+"/",
		"--baseline", "2s", "--settle", "5s")
	rc.waitRolloutStarted(t, gen)
	sent := time.Now()
	if err := rc.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	r := rc.wait(t, time.Minute)
	took := time.Since(sent)
	if r.code != exitcode.Interrupted {
		t.Fatalf("exit %d, want %d\n%s", r.code, exitcode.Interrupted, r.stderr)
	}
	if !r.wrote {
		t.Fatal("no JSON report written")
	}
	if !r.report.Interrupted {
		t.Error(`report lacks "interrupted": true`)
	}
	if v := r.report.Verdict; v != report.Inconclusive {
		t.Errorf("verdict %q, want INCONCLUSIVE", v)
	}
	if !r.report.Rollout.Triggered {
		t.Error("report says the rollout was not triggered, but SIGINT came after the patch")
	}
	if r.report.Load.Requests <= 0 {
		t.Error("the partial report has no requests")
	}
	if took > 10*time.Second {
		t.Errorf("exited %s after SIGINT, want promptly", took.Round(100*time.Millisecond))
	}
	t.Logf("exited %s after SIGINT with %v requests in the partial report", took.Round(time.Millisecond), r.report.Load.Requests)
}

// TestFailureSecondInterruptQuitsAtOnce: after a first SIGINT, rollcheck
// waits for the requests in flight before it writes the partial report. A
// target that never answers makes that wait last the whole request timeout
// (60 s here), so a second SIGINT must end the process by the signal itself,
// without a report, long before that.
func TestFailureSecondInterruptQuitsAtOnce(t *testing.T) {
	needLab(t)
	resetDemo(t)
	gen := demoGeneration(t)
	hung := make(chan struct{})
	var mu sync.Mutex
	received := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received++
		mu.Unlock()
		select {
		case <-hung:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hung)
	rc := startRollcheck(t, lab.kubeconfig, "deployment/demo", "--restart", "--target", srv.URL+"/",
		"--rate", "5/s", "--timeout", "60s", "--baseline", "5m")
	waitUntil(t, time.Minute, "requests to reach the hanging target", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return received >= 2, nil
	})
	if err := rc.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "rollcheck to acknowledge the first SIGINT", func() (bool, error) {
		select {
		case <-rc.done:
			return false, fmt.Errorf("rollcheck exited after the first SIGINT (%v) although requests were in flight:\n%s", rc.err, rc.stderr.String())
		default:
		}
		return strings.Contains(rc.stderr.String(), "Ctrl-C again to quit at once"), nil
	})
	sent := time.Now()
	if err := rc.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rc.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after the second SIGINT:\n%s", rc.stderr.String())
	}
	took := time.Since(sent)
	ws, ok := rc.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("process state %v, want killed by SIGINT (the default action), not a graceful exit", rc.cmd.ProcessState)
	}
	if _, err := os.Stat(rc.jsonPath); err == nil {
		t.Error("a report was written: the second SIGINT did not cut the graceful path")
	}
	if demoGeneration(t) != gen {
		t.Error("the deployment changed: the rollout was triggered during the baseline")
	}
	t.Logf("ended by the second SIGINT %s after it, with requests still in flight for up to 60s", took.Round(time.Millisecond))
}

// TestFailureLoadCannotKeepUp asks for far more than two cores can send: the
// run must not PASS, and must say what rate it reached. The target is a
// server in this process rather than the lab load balancer, so the limit is
// the load generator's and the lab stays usable.
func TestFailureLoadCannotKeepUp(t *testing.T) {
	needLab(t)
	resetDemo(t)
	srv := countingServer(t)
	const rate = 200000
	r := startRollcheck(t, lab.kubeconfig, "deployment/demo", "--restart", "--target", srv.URL+"/",
		"--rate", fmt.Sprintf("%d/s", rate), "--baseline", "3s", "--settle", "1s").wait(t, 3*time.Minute)
	if r.code == exitcode.Pass || r.report.Verdict == report.Pass {
		t.Fatalf("exit %d verdict PASS at %d/s asked and %.0f/s achieved", r.code, rate, r.report.Load.AchievedRate)
	}
	achieved := r.report.Load.AchievedRate
	if achieved <= 0 || achieved >= 0.95*rate {
		t.Errorf("achieved rate %.0f/s; want it reported and below 95%% of %d/s", achieved, rate)
	}
	// Without failures the run is INCONCLUSIVE, with the rate among its
	// reasons. A starved machine may also time out some of the requests
	// (this process's server gets no CPU either): those were seen, so the
	// verdict is FAIL, and the rate check still says the run saw only part.
	rateCheck := failedCheck(r, report.CheckRate)
	switch {
	case r.code == exitcode.Inconclusive && r.report.Verdict == report.Inconclusive:
		if !reasonsContain(r, "achieved") && !reasonsContain(r, fmt.Sprintf("%.1f/s", achieved)) {
			t.Errorf("reasons %v do not give the achieved rate", r.report.Reasons)
		}
	case r.code == exitcode.Fail && r.report.Verdict == report.Fail && r.report.Load.Failures > 0:
		if !strings.Contains(rateCheck, fmt.Sprintf("%.1f/s", achieved)) {
			t.Errorf("FAIL with %v failures, but the failed rate check %q does not give the achieved rate", r.report.Load.Failures, rateCheck)
		}
	default:
		t.Errorf("exit %d verdict %q, want %d INCONCLUSIVE (or FAIL with the failures it saw)", r.code, r.report.Verdict, exitcode.Inconclusive)
	}
	t.Logf("asked %d/s, achieved %.0f/s (%d served); reasons %v", rate, achieved, srv.requests(), r.report.Reasons)
}

// TestFailureAPIServerRestart kills the API server just after the trigger
// and keeps it down 3s: the informers reconnect, the rollout completes, the
// verdict is the undisturbed to-be's PASS, and the report notes the gap.
func TestFailureAPIServerRestart(t *testing.T) {
	needLab(t)
	resetDemo(t)
	gen := demoGeneration(t)
	rc := startRollcheck(t, lab.kubeconfig, "-f", "../scenarios/to-be.scenario.yaml", "--target", lab.lbURL+"/",
		"--baseline", "3s", "--settle", "5s")
	rc.waitRolloutStarted(t, gen)
	restart := exec.Command(lab.labBin, "restart-component", "--dir", lab.dir, "--signal", "KILL", "--down-for", "3s", "apiserver")
	began := time.Now()
	if out, err := restart.CombinedOutput(); err != nil {
		rc.kill()
		t.Fatalf("restart-component: %v\n%s", err, out)
	}
	t.Logf("apiserver back after %s", time.Since(began).Round(100*time.Millisecond))
	r := rc.wait(t, 3*time.Minute)
	if r.code != exitcode.Pass || r.report.Verdict != report.Pass {
		t.Fatalf("exit %d verdict %q reasons %v, want 0 PASS as without the restart\n%s", r.code, r.report.Verdict, r.report.Reasons, r.stderr)
	}
	if !r.report.Rollout.Completed {
		t.Error("report says the rollout did not complete")
	}
	if f := r.report.Load.Failures; f != 0 {
		t.Errorf("%v failures, want 0", f)
	}
	if !hasEvent(r, rollout.RolloutComplete) {
		t.Error("timeline lacks rollout-complete")
	}
	if !hasEvent(r, rollout.WatchGap) {
		t.Errorf("the report does not note the API server gap (no watch-gap event); events: %s", eventTypes(r))
	}
	resumed := false
	for _, e := range events(r, rollout.WatchGap) {
		resumed = resumed || strings.Contains(e.Detail, "resumed")
		t.Logf("watch-gap at %v: %v", e.Time.Format(time.RFC3339Nano), e.Detail)
	}
	if hasEvent(r, rollout.WatchGap) && !resumed {
		t.Error("the report notes the gap's start but not that the watches resumed")
	}
}

// TestLabRecoversFromAPIServerRestart: after the API server is killed and
// kept down for 3 s, the lab works as a cluster with several API servers
// would: a rollout restart right after it completes, and a foreground
// deletion finishes, each within 30 s (before the lab restarted the
// controllers that follow the API server, the rollout stalled for 15 s or
// more and a deletion once did not finish within 120 s). Three rounds in a
// row on the process lab, as the restarts pile up in a test run; one on
// the real node, whose kubelet and kube-proxy reconnect the same way each
// time (the suite's budget: its real lab is the longest queue).
func TestLabRecoversFromAPIServerRestart(t *testing.T) {
	needLab(t)
	rounds := 3
	if lab.node == "real" {
		rounds = 1
	}
	for round := 1; round <= rounds; round++ {
		resetDemo(t)
		restart := exec.Command(lab.labBin, "restart-component", "--dir", lab.dir, "--signal", "KILL", "--down-for", "3s", "apiserver")
		if out, err := restart.CombinedOutput(); err != nil {
			t.Fatalf("round %d: restart-component: %v\n%s", round, err, out)
		}
		back := time.Now()
		kubectl(t, "rollout", "restart", "deployment/demo")
		kubectl(t, "rollout", "status", "deployment/demo", "--timeout", "30s")
		rolled := time.Since(back)
		began := time.Now()
		kubectl(t, "delete", "deployment", "demo", "--cascade=foreground", "--wait", "--timeout", "30s")
		t.Logf("round %d: rollout restart complete %.1fs after the API server was back; foreground deletion %.1fs",
			round, rolled.Seconds(), time.Since(began).Seconds())
	}
	resetDemo(t)
}

// resetDemo replaces deployment/demo with the to-be one, rolled out and
// steady, so that each test starts from the same state whatever ran before.
func resetDemo(t *testing.T) {
	t.Helper()
	deleteDemo(t)
	kubectlApply(t, manifest(t, "to-be.yaml"))
	waitSteady(t)
}

func deleteDemo(t *testing.T) {
	t.Helper()
	kubectl(t, "delete", "deployment", "demo", "--ignore-not-found", "--cascade=foreground", "--wait", "--timeout", "90s")
}

func demoGeneration(t *testing.T) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := lab.client.AppsV1().Deployments("default").Get(ctx, "demo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Generation
}

// closedAddr returns a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// counting is a local target that counts the requests it serves.
type counting struct {
	*httptest.Server
	mu sync.Mutex
	n  int
}

func (c *counting) requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func countingServer(t *testing.T) *counting {
	t.Helper()
	c := &counting{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(c.Close)
	return c
}

// readOnlyKubeconfig creates ServiceAccount name with a Role that grants
// every read rollcheck does and no write, and returns a kubeconfig that
// authenticates with a token of it.
func readOnlyKubeconfig(t *testing.T, name string) string {
	t.Helper()
	return serviceAccountKubeconfig(t, name, []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods", "services"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
	})
}

// serviceAccountKubeconfig creates ServiceAccount default/NAME (and, with
// rules, a Role of them bound to it), removed at the end of the test, and
// returns a kubeconfig that acts as it with a token from the TokenRequest API.
func serviceAccountKubeconfig(t *testing.T, name string, rules []rbacv1.PolicyRule) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const ns = "default"
	cs := lab.client
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Rules: rules}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}},
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		errs := []error{cs.CoreV1().ServiceAccounts(ns).Delete(ctx, name, metav1.DeleteOptions{})}
		if rules != nil {
			errs = append(errs,
				cs.RbacV1().RoleBindings(ns).Delete(ctx, name, metav1.DeleteOptions{}),
				cs.RbacV1().Roles(ns).Delete(ctx, name, metav1.DeleteOptions{}))
		}
		for _, err := range errs {
			if err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	if rules != nil {
		if _, err := cs.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	expiry := int64(600) // the API server's minimum
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Same cluster and CA as the lab's admin kubeconfig; only the user
	// changes.
	admin, err := clientcmd.LoadFromFile(lab.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cur, ok := admin.Contexts[admin.CurrentContext]
	if !ok {
		t.Fatalf("lab kubeconfig has no current context %q", admin.CurrentContext)
	}
	cluster, ok := admin.Clusters[cur.Cluster]
	if !ok {
		t.Fatalf("lab kubeconfig has no cluster %q", cur.Cluster)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = cluster
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: name, Namespace: ns}
	cfg.CurrentContext = "lab"
	path := filepath.Join(t.TempDir(), "readonly.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncBuffer is a bytes.Buffer safe to read while the process writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runningRollcheck is a rollcheck run started in the background, for tests
// that act on the cluster or the process while it runs.
type runningRollcheck struct {
	cmd      *exec.Cmd
	pid      int
	args     []string
	jsonPath string
	stdout   syncBuffer
	stderr   syncBuffer
	done     chan struct{}
	err      error
}

// startRollcheck starts `rollcheck run` with kubeconfig and a JSON report.
// The process is killed when the test ends if it is still running.
func startRollcheck(t *testing.T, kubeconfig string, args ...string) *runningRollcheck {
	t.Helper()
	r := &runningRollcheck{jsonPath: filepath.Join(t.TempDir(), "report.json"), done: make(chan struct{})}
	r.args = append([]string{"run", "--kubeconfig", kubeconfig, "--report-json", r.jsonPath}, args...)
	r.cmd = exec.Command(lab.rollcheck, r.args...)
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting rollcheck: %v", err)
	}
	r.pid = r.cmd.Process.Pid
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(r.kill)
	return r
}

func (r *runningRollcheck) kill() {
	select {
	case <-r.done:
	default:
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// waitRolloutStarted waits until rollcheck reports the rollout phase and the
// Deployment's generation has moved past gen: the trigger has happened.
func (r *runningRollcheck) waitRolloutStarted(t *testing.T, gen int64) {
	t.Helper()
	waitUntil(t, time.Minute, "rollcheck to trigger the rollout", func() (bool, error) {
		select {
		case <-r.done:
			return false, fmt.Errorf("rollcheck exited (%v) before the rollout:\n%s\n%s", r.err, r.stdout.String(), r.stderr.String())
		default:
		}
		if !strings.Contains(r.stderr.String(), "s rollout ") {
			return false, nil
		}
		return demoGeneration(t) > gen, nil
	})
}

// waitWatching waits until a --watch-only run waits for a rollout.
func (r *runningRollcheck) waitWatching(t *testing.T) {
	t.Helper()
	waitUntil(t, time.Minute, "rollcheck --watch-only to wait for a rollout", func() (bool, error) {
		select {
		case <-r.done:
			return false, fmt.Errorf("rollcheck --watch-only exited early:\n%s", r.stderr.String())
		default:
		}
		return strings.Contains(r.stderr.String(), "waiting up to"), nil
	})
}

// wait waits for the run to end (killing it after timeout) and reads its
// exit code and JSON report.
func (r *runningRollcheck) wait(t *testing.T, timeout time.Duration) result {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		r.kill()
		t.Fatalf("rollcheck still running after %s; killed\n%s\n%s", timeout, r.stdout.String(), r.stderr.String())
	}
	res := result{stdout: r.stdout.String(), stderr: r.stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(r.err, &ee):
		res.code = ee.ExitCode()
	case r.err != nil:
		t.Fatalf("rollcheck: %v", r.err)
	}
	t.Logf("rollcheck %s → exit %d\n%s", strings.Join(r.args, " "), res.code, res.stdout)
	if data, err := os.ReadFile(r.jsonPath); err == nil {
		res.decodeReport(t, data)
	}
	return res
}

// waitUntil polls cond every 100ms until it returns true, fails on its
// error, and fails the test after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// failedCheck gives the message of the check of code if it did not pass.
func failedCheck(r result, code report.CheckCode) string {
	for _, c := range failedChecks(r) {
		if c.Code == code {
			return c.Message
		}
	}
	return ""
}

func reasonsContain(r result, s string) bool {
	for _, x := range r.report.Reasons {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

func events(r result, typ rollout.EventType) []rollout.Event {
	var out []rollout.Event
	for _, e := range r.report.Events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func eventTypes(r result) string {
	count := map[string]int{}
	for _, e := range r.report.Events {
		count[string(e.Type)]++
	}
	return fmt.Sprint(count)
}
