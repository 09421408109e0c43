package e2e

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
func reportAttackers(t *testing.T, r result, want int) []map[string]any {
	t.Helper()
	raw, _ := r.report["attackers"].([]any)
	var out []map[string]any
	for _, a := range raw {
		out = append(out, a.(map[string]any))
	}
	if len(out) != want {
		t.Fatalf("report has %d attackers, want %d\n%s", len(out), want, r.stdout)
	}
	return out
}

func reportTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %v: %v", v, err)
	}
	return tm
}

func primaryCause(r result) any {
	causes, _ := r.report["causes"].([]any)
	if len(causes) == 0 {
		return nil
	}
	return causes[0].(map[string]any)["code"]
}

// TestAttackersSeedPair: the seed pair with the load from 3 attacker pods
// gives the verdicts and causes of the local load (as-is FAIL with a
// routing cause, to-be PASS with 0 failures of at least 2000 requests);
// each attacker kept its share; the HTML has an attacker lane each; no
// attacker pod is left after either run.
func TestAttackersSeedPair(t *testing.T) {
	needLab(t)
	t.Run("as-is fails with the same cause", func(t *testing.T) {
		kubectlApply(t, manifest(t, "as-is.yaml"))
		waitSteady(t)
		html := filepath.Join(t.TempDir(), "report.html")
		r := rollcheck(t, "-f", "../scenarios/as-is.scenario.yaml", "--target", lab.lbURL+"/", "--attackers", "3", "--report-html", html)
		if r.code != 1 || r.str("verdict") != "FAIL" {
			t.Fatalf("exit %d verdict %q, want 1 FAIL\n%s", r.code, r.str("verdict"), r.stderr)
		}
		// The local load's primary cause is one of these; with 3 more
		// processes on the lab's host the new pods (no readiness probe)
		// start slower, and NEW_POD_NOT_SERVING may weigh more.
		if !hasCause(r, "TERMINATING_POD_STILL_ROUTED") && !hasCause(r, "LB_DEREGISTRATION_LAG") {
			t.Errorf("causes lack TERMINATING_POD_STILL_ROUTED and LB_DEREGISTRATION_LAG (primary %v)", primaryCause(r))
		}
		if byPod, _ := r.report["failures_by_pod"].(map[string]any); len(byPod) == 0 {
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
		checkHTMLReport(t, html, 8)
		waitNoAttackers(t, 30*time.Second)
	})
	t.Run("to-be passes with zero failures", func(t *testing.T) {
		kubectlApply(t, manifest(t, "to-be.yaml"))
		waitSteady(t)
		r := rollcheck(t, "-f", "../scenarios/to-be.scenario.yaml", "--target", lab.lbURL+"/", "--attackers", "3")
		if r.code != 0 || r.str("verdict") != "PASS" {
			t.Fatalf("exit %d verdict %q, want 0 PASS\n%s", r.code, r.str("verdict"), r.stderr)
		}
		if f, n := r.num("load", "failures"), r.num("load", "requests"); f != 0 || n < 2000 {
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
	total := 0.0
	for _, a := range as {
		if a["problem"] != nil || a["node"] == nil {
			t.Errorf("attacker %v: problem %v node %v", a["pod"], a["problem"], a["node"])
		}
		share, got := a["share_rate"].(float64), a["achieved_rate"].(float64)
		if got < 0.9*share || got > 1.1*share {
			t.Errorf("attacker %v sent %.1f/s of its %.1f/s share", a["pod"], got, share)
		}
		if b := a["clock_bound_seconds"].(float64); b > 0.05 {
			t.Errorf("attacker %v clock bound %.3fs, want < 50ms in the lab", a["pod"], b)
		}
		total += a["requests"].(float64)
		if !strings.Contains(r.stdout, a["pod"].(string)) {
			t.Errorf("text summary does not list attacker %v", a["pod"])
		}
	}
	if total != r.num("load", "requests") {
		t.Errorf("attackers sent %v requests, the load counts %v", total, r.num("load", "requests"))
	}
}

// TestAttackersKilledRunThenCleanup: a run killed with SIGKILL leaves its
// attacker pods; rollcheck cleanup removes them.
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
	if left := attackerPods(t); len(left) != 2 {
		t.Fatalf("after SIGKILL %d attacker pods, want the 2 left behind", len(left))
	}
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

// TestAttackersClockSkew: the first of 3 attackers has its clock 3s ahead
// (hidden --attacker-clock-skew). Its offset is measured to within the
// reported bound, under 50 ms; once corrected, its requests start with the
// others' (they are started at one instant) and its failures fall among
// theirs, within 50 ms plus the spacing of requests; the run FAILs with
// the cause of the unskewed one.
func TestAttackersClockSkew(t *testing.T) {
	needLab(t)
	const skew = 3 * time.Second
	kubectlApply(t, manifest(t, "as-is.yaml"))
	waitSteady(t)
	r := rollcheck(t, "-f", "../scenarios/as-is.scenario.yaml", "--target", lab.lbURL+"/", "--attackers", "3", "--attacker-clock-skew", skew.String())
	if r.code != 1 || r.str("verdict") != "FAIL" {
		t.Fatalf("exit %d verdict %q, want 1 FAIL\n%s", r.code, r.str("verdict"), r.stderr)
	}
	if !hasCause(r, "TERMINATING_POD_STILL_ROUTED") && !hasCause(r, "LB_DEREGISTRATION_LAG") {
		t.Errorf("causes lack the unskewed run's (primary %v)", primaryCause(r))
	}
	as := reportAttackers(t, r, 3)
	for i, a := range as {
		want := 0.0
		if i == 0 {
			want = skew.Seconds()
		}
		off, bound := a["clock_offset_seconds"].(float64), a["clock_bound_seconds"].(float64)
		t.Logf("attacker %v: offset %.4fs ± %.4fs (true %.1fs), drift %.4fs", a["pod"], off, bound, want, a["clock_spread_seconds"])
		if math.Abs(off-want) > bound+0.001 || bound > 0.05 {
			t.Errorf("attacker %v offset %.4f ± %.4f, want %.1f within a bound under 50ms", a["pod"], off, bound, want)
		}
	}
	// Started at one instant: the first requests agree once corrected.
	starts := []time.Time{reportTime(t, as[0]["start"]), reportTime(t, as[1]["start"]), reportTime(t, as[2]["start"])}
	for _, s := range starts[1:] {
		if d := starts[0].Sub(s).Abs(); d > 50*time.Millisecond+30*time.Millisecond {
			t.Errorf("skewed attacker's first request %s from another's, want within 50ms + one request interval", d)
		}
	}
	// Its failures fall inside the others' failure bursts.
	var others []time.Time
	for _, a := range as[1:] {
		for _, v := range anyList(a["failure_times"]) {
			others = append(others, reportTime(t, v))
		}
	}
	sort.Slice(others, func(i, j int) bool { return others[i].Before(others[j]) })
	mine := anyList(as[0]["failure_times"])
	if len(mine) == 0 || len(others) == 0 {
		t.Fatalf("failures: skewed attacker %d, others %d; want some each", len(mine), len(others))
	}
	far := 0
	for _, v := range mine {
		ft := reportTime(t, v)
		i := sort.Search(len(others), func(i int) bool { return !others[i].Before(ft) })
		nearest := time.Hour
		for _, j := range []int{i - 1, i} {
			if j >= 0 && j < len(others) {
				nearest = min(nearest, others[j].Sub(ft).Abs())
			}
		}
		if nearest > 250*time.Millisecond {
			far++
		}
	}
	if far > 0 {
		t.Errorf("%d of the skewed attacker's %d failures are more than 250ms from any other attacker's (uncorrected they would be %s off)", far, len(mine), skew)
	}
}

func hasCause(r result, code string) bool {
	causes, _ := r.report["causes"].([]any)
	for _, c := range causes {
		if c.(map[string]any)["code"] == code {
			return true
		}
	}
	return false
}

func anyList(v any) []any {
	l, _ := v.([]any)
	return l
}
