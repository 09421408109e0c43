package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// attackerSelector selects every attacker pod rollcheck made.
const attackerSelector = "app.kubernetes.io/managed-by=rollcheck,rollcheck.io/role=attacker"

// attackerPods lists the attacker pods left in the lab.
func attackerPods(t *testing.T) []string {
	t.Helper()
	list, err := lab.client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{LabelSelector: attackerSelector})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list.Items {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	return names
}

// waitNoAttackers waits, bounded, until no attacker pod is left.
func waitNoAttackers(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		left := attackerPods(t)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("attacker pods left %s after the run: %v", within, left)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// reportAttackers returns the report's attackers.
func reportAttackers(t *testing.T, r result, want int) []report.Attacker {
	t.Helper()
	out := r.report.Attackers
	if len(out) != want {
		t.Fatalf("report has %d attackers, want %d\n%s", len(out), want, r.stdout)
	}
	return out
}

// attackerStart is when the attacker sent its first request; the test
// fails when the report does not say.
func attackerStart(t *testing.T, a report.Attacker) time.Time {
	t.Helper()
	if a.Start == nil {
		t.Fatalf("attacker %s: no start time", a.Pod)
	}
	return *a.Start
}

// primaryCause is the code of the report's first cause ("" for none).
func primaryCause(r result) report.CauseCode {
	if len(r.report.Causes) == 0 {
		return ""
	}
	return r.report.Causes[0].Code
}

// TestAttackersSeedPair: the seed pair with the load from 3 attacker pods
// gives the verdicts and causes of the local load (as-is FAIL with a
// routing cause first, to-be PASS with 0 failures of at least 2000 requests);
// each attacker kept its share; the HTML has an attacker lane each; no
// attacker pod is left after either run.
func TestAttackersSeedPair(t *testing.T) {
	needLab(t)
	t.Run("as-is fails with the same cause", func(t *testing.T) {
		kubectlApply(t, manifest(t, "as-is.yaml"))
		waitSteady(t)
		html := filepath.Join(t.TempDir(), "report.html")
		r := rollcheck(t, "-f", "../scenarios/as-is.scenario.yaml", "--target", lab.lbURL+"/", "--attackers", "3", "--report-html", html)
		if r.code != exitcode.Fail || r.report.Verdict != report.Fail {
			t.Fatalf("exit %d verdict %q, want 1 FAIL\n%s", r.code, r.report.Verdict, r.stderr)
		}
		// The local load's primary cause (TestSeedPair).
		if c := primaryCause(r); c != report.TerminatingPodStillRouted && c != report.LBDeregistrationLag {
			t.Errorf("primary cause %v, want TERMINATING_POD_STILL_ROUTED or LB_DEREGISTRATION_LAG", c)
		}
		if len(r.report.FailuresByPod) == 0 {
			t.Error("no failure attributed to a pod")
		}
		checkAttackers(t, r, 3)
		data, err := os.ReadFile(html)
		if err != nil {
			t.Fatal(err)
		}
		h := string(data)
		if !strings.Contains(h, `id="attackers"`) || strings.Count(h, `<g class="attacker"`) != 3 || !strings.Contains(h, "rollcheck-attacker-") {
			t.Errorf("the HTML report lacks 3 attacker lanes")
		}
		checkHTMLReport(t, r, html, 8)
		waitNoAttackers(t, 30*time.Second)
	})
	t.Run("to-be passes with zero failures", func(t *testing.T) {
		kubectlApply(t, manifest(t, "to-be.yaml"))
		waitSteady(t)
		r := rollcheck(t, "-f", "../scenarios/to-be.scenario.yaml", "--target", lab.lbURL+"/", "--attackers", "3")
		if r.code != exitcode.Pass || r.report.Verdict != report.Pass {
			t.Fatalf("exit %d verdict %q, want 0 PASS\n%s", r.code, r.report.Verdict, r.stderr)
		}
		if f, n := r.report.Load.Failures, r.report.Load.Requests; f != 0 || n < 2000 {
			t.Errorf("to-be: %v failures of %v requests, want 0 of >= 2000", f, n)
		}
		checkAttackers(t, r, 3)
		waitNoAttackers(t, 30*time.Second)
	})
}

// checkAttackers: n attackers, each on a node, within its share, its
// clock known to a few ms, no problem; their request counts add up to the
// load's; the text summary lists them.
func checkAttackers(t *testing.T, r result, n int) {
	t.Helper()
	as := reportAttackers(t, r, n)
	total := 0
	for _, a := range as {
		// Both are left out of the JSON when empty.
		if a.Problem != "" || a.Node == "" {
			t.Errorf("attacker %v: problem %q node %q", a.Pod, a.Problem, a.Node)
		}
		share, got := a.Share, a.Achieved
		if got < 0.9*share || got > 1.1*share {
			t.Errorf("attacker %v sent %.1f/s of its %.1f/s share", a.Pod, got, share)
		}
		if b := a.BoundSeconds; b > 0.05 {
			t.Errorf("attacker %v clock bound %.3fs, want < 50ms in the lab", a.Pod, b)
		}
		total += a.Requests
		if !strings.Contains(r.details, a.Pod) {
			t.Errorf("text summary does not list attacker %v", a.Pod)
		}
	}
	if total != r.report.Load.Requests {
		t.Errorf("attackers sent %v requests, the load counts %v", total, r.report.Load.Requests)
	}
}

// TestAttackersKilledRunThenCleanup: a run killed with SIGKILL leaves its
// attacker pods; one past its activeDeadlineSeconds is stopped by the
// kubelet; rollcheck cleanup removes them.
func TestAttackersKilledRunThenCleanup(t *testing.T) {
	needLab(t)
	kubectlApply(t, manifest(t, "to-be.yaml"))
	waitSteady(t)
	cmd := exec.Command(lab.rollcheck, "run", "--kubeconfig", lab.kubeconfig, "-f", "../scenarios/to-be.scenario.yaml",
		"--target", lab.lbURL+"/", "--attackers", "2", "--baseline", "60s")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(90 * time.Second)
	for len(attackerPods(t)) < 2 {
		select {
		case err := <-exited:
			t.Fatalf("run ended before its attackers existed: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no attacker pods after 90s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	exited <- nil // for the cleanup
	left := attackerPods(t)
	if len(left) != 2 {
		t.Fatalf("after SIGKILL %d attacker pods, want the 2 left behind", len(left))
	}
	checkActiveDeadlineStops(t, left[0], left[1])
	out, err := exec.Command(lab.rollcheck, "cleanup", "--kubeconfig", lab.kubeconfig).CombinedOutput()
	if err != nil {
		t.Fatalf("rollcheck cleanup: %v\n%s", err, out)
	}
	t.Logf("rollcheck cleanup:\n%s", out)
	waitNoAttackers(t, 60*time.Second)
	cms, err := lab.client.CoreV1().ConfigMaps("").List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=rollcheck"})
	if err != nil || len(cms.Items) != 0 {
		t.Errorf("run ConfigMaps left after cleanup: %v %v", cms, err)
	}
}

// checkActiveDeadlineStops: an attacker pod that outlives its
// activeDeadlineSeconds is stopped by its node's kubelet. The field may
// only be lowered: at 1s the pod (started, or as soon as it starts) is past
// it, its container stops and it ends Failed, DeadlineExceeded; the other
// pod, whose deadline is minutes away, runs on.
func checkActiveDeadlineStops(t *testing.T, pod, other string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	ns, name, _ := strings.Cut(pod, "/")
	pods := lab.client.CoreV1().Pods(ns)
	if _, err := pods.Patch(ctx, name, types.MergePatchType, []byte(`{"spec":{"activeDeadlineSeconds":1}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("lower %s's activeDeadlineSeconds: %v", pod, err)
	}
	lowered := time.Now()
	var p *corev1.Pod
	for {
		var err error
		if p, err = pods.Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatalf("attacker %s past its deadline: %v", pod, err)
		}
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("attacker %s still %s 40s after its deadline passed", pod, p.Status.Phase)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("attacker %s past its deadline: %s %s %q after %s", pod, p.Status.Phase, p.Status.Reason, p.Status.Message, time.Since(lowered).Round(time.Millisecond))
	if p.Status.Phase != corev1.PodFailed || p.Status.Reason != "DeadlineExceeded" {
		t.Errorf("attacker %s ended %s (%s), want Failed, DeadlineExceeded", pod, p.Status.Phase, p.Status.Reason)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Terminated == nil {
			t.Errorf("attacker %s is Failed but its container %s is %+v", pod, cs.Name, cs.State)
		}
	}
	ons, oname, _ := strings.Cut(other, "/")
	o, err := lab.client.CoreV1().Pods(ons).Get(ctx, oname, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Status.Phase != corev1.PodRunning && o.Status.Phase != corev1.PodPending {
		t.Errorf("attacker %s, its deadline minutes away, is %s (%s)", other, o.Status.Phase, o.Status.Reason)
	}
}

// TestAttackersClockSkew: the first of 3 attackers has its clock 3s ahead
// (hidden --attacker-clock-skew) during a Recreate rollout, whose failures
// are one sharp window common to every client: the load balancer answers
// 503 to every request from the moment its last target is deregistered
// until a new pod is registered. The 2 unskewed attackers of the same run
// are the unskewed run. The skewed attacker's offset is measured to within
// its reported bound (under 50 ms) of the true skew; once corrected, the
// first and last failure of its window lie within 50 ms plus one request
// interval of each unskewed attacker's, where uncorrected they would be
// the skew off; no request of any attacker succeeded inside the window
// (it would, were one attacker's times misplaced); the run FAILs with
// NO_READY_ENDPOINTS first, as the unskewed Recreate run does.
func TestAttackersClockSkew(t *testing.T) {
	needLab(t)
	const (
		skew = 3 * time.Second
		// 150/s over 3 attackers: each sends one request every 20 ms.
		rate     = 150
		interval = 3 * time.Second / rate
		within   = 50*time.Millisecond + interval
	)
	deleteDemo(t) // RollingUpdate fields left by another test would make Recreate invalid
	kubectlApply(t, manifest(t, "recreate.yaml"))
	waitSteady(t)
	r := runScenario(t, "recreate.scenario.yaml", "--rate", fmt.Sprintf("%d/s", rate), "--attackers", "3", "--attacker-clock-skew", skew.String())
	wantVerdict(t, r, exitcode.Fail, report.Fail)
	if codes := diagCauseCodes(r); len(codes) == 0 || codes[0] != "NO_READY_ENDPOINTS" {
		t.Errorf("causes %v, want NO_READY_ENDPOINTS first as without skew", codes)
	}
	as := reportAttackers(t, r, 3)
	offsets := make([]time.Duration, len(as))
	for i, a := range as {
		want := 0.0
		if i == 0 {
			want = skew.Seconds()
		}
		off, bound := a.OffsetSeconds, a.BoundSeconds
		offsets[i] = time.Duration(off * float64(time.Second))
		t.Logf("attacker %v: offset %.4fs ± %.4fs (true %.1fs, error %.4fs), drift %.4fs", a.Pod, off, bound, want, math.Abs(off-want), a.SpreadSeconds)
		if math.Abs(off-want) > bound+0.001 || bound > 0.05 {
			t.Errorf("attacker %v offset %.4f ± %.4f, want %.1f within a bound under 50ms", a.Pod, off, bound, want)
		}
	}
	// The pods are started by one POST /start each, through the API
	// server: on a loaded machine they may start some 100 ms apart, so
	// this is shown, not judged.
	first := attackerStart(t, as[0])
	for _, a := range as[1:] {
		t.Logf("skewed attacker's first request %+.1f ms from %v's", ms(first.Sub(attackerStart(t, a))), a.Pod)
	}
	// Every failure is a 503 of the no-endpoint window.
	if f, n503 := r.report.Load.Failures, r.report.Load.ByClass["503"]; f == 0 || f != n503 {
		t.Errorf("%v failures, %v of them 503: want only the load balancer's 503s of the no-endpoint window", f, n503)
	}
	// Each attacker's window: its first and last failure, corrected.
	windows := make([][2]time.Time, len(as))
	for i, a := range as {
		times := slices.Clone(a.FailureTimes)
		if len(times) == 0 || len(times) != a.Failures {
			t.Fatalf("attacker %v: %d failure times of %v failures; want all, at least one", a.Pod, len(times), a.Failures)
		}
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		windows[i] = [2]time.Time{times[0], times[len(times)-1]}
		t.Logf("attacker %v: no-endpoint window %s .. %s (%s, %d failures)", a.Pod, times[0].Format("15:04:05.000"), times[len(times)-1].Format("15:04:05.000"), times[len(times)-1].Sub(times[0]), len(times))
	}
	// It is one window: no request of any attacker succeeded inside it
	// (the merged 100 ms buckets lying wholly within it have no success).
	from, to := windows[0][0], windows[0][1]
	for _, w := range windows[1:] {
		from, to = minTime(from, w[0]), maxTime(to, w[1])
	}
	width := time.Duration(r.report.BucketWidth * float64(time.Second))
	inside := 0
	for _, b := range r.report.Buckets {
		if start := b.Start; !start.Before(from) && !start.Add(width).After(to) {
			inside++
			if ok := b.OK; ok > 0 {
				t.Errorf("%v requests succeeded at %s, inside the no-endpoint window %s .. %s", ok, start.Format("15:04:05.000"), from.Format("15:04:05.000"), to.Format("15:04:05.000"))
			}
		}
	}
	if inside == 0 {
		t.Errorf("no bucket of %s lies within the no-endpoint window %s .. %s", width, from.Format("15:04:05.000"), to.Format("15:04:05.000"))
	}
	// The unskewed ones agree with each other: the window is sharp.
	for e, edge := range []string{"first", "last"} {
		if d := windows[1][e].Sub(windows[2][e]).Abs(); d > within {
			t.Errorf("the unskewed attackers' %s failures are %s apart, want within %s: the window is not sharp", edge, d, within)
		}
	}
	for _, i := range []int{1, 2} {
		for e, edge := range []string{"first", "last"} {
			d := windows[0][e].Sub(windows[i][e])
			raw := d + offsets[0] // as the skewed attacker's clock put it
			t.Logf("skewed - %v, %s failure: %+.1f ms corrected, %+.1f ms uncorrected", as[i].Pod, edge, ms(d), ms(raw))
			if d.Abs() > within {
				t.Errorf("skewed attacker's %s failure is %s from %v's, want within %s", edge, d, as[i].Pod, within)
			}
			if raw.Abs() <= within {
				t.Errorf("uncorrected, the skewed attacker's %s failure would be %s from %v's: the skew did not take", edge, raw, as[i].Pod)
			}
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func hasCause(r result, code report.CauseCode) bool {
	for _, c := range r.report.Causes {
		if c.Code == code {
			return true
		}
	}
	return false
}
