package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report/render"
)

// TestFiftyReplicasSummaryStaysShort (issue 26): the as-is of seed 002 at
// 50 replicas, every old pod exiting at once while the load balancer still
// routes to it. The default text a run prints (stdout is not a terminal:
// 100 columns) stays under 45 lines, no line wider than 100, names the
// cause and its fix, and summarises the pods; the details list every one.
func TestFiftyReplicasSummaryStaysShort(t *testing.T) {
	needLab(t)
	m := strings.Replace(manifest(t, "as-is.yaml"), "replicas: 4", "replicas: 50", 1)
	if !strings.Contains(m, "replicas: 50") {
		t.Fatal("could not set 50 replicas in the as-is manifest")
	}
	kubectlApply(t, m)
	waitSteady(t)
	r := rollcheck(t, "-f", "../scenarios/as-is.scenario.yaml", "--target", lab.lbURL+"/", "--baseline", "5s", "--settle", "5s")
	if r.code != exitcode.Fail || r.report.Load.Failures == 0 {
		t.Fatalf("exit %d with %d failures, want a FAIL", r.code, r.report.Load.Failures)
	}
	// The demo Service carries the lab balancer's annotation: the front
	// is inferred as the ALB-like one, and the summary says why.
	if f := r.report.Front; f == nil || f.Name != "alb" || !f.Inferred || !strings.Contains(r.stdout, "Front     alb (inferred") {
		t.Errorf("front %+v, want alb inferred, named in the summary", f)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) >= 45 {
		t.Errorf("the default text is %d lines, want fewer than 45", len(lines))
	}
	for i, l := range lines {
		if n := utf8.RuneCountInString(l); n > 100 {
			t.Errorf("line %d is %d columns wide, past 100: %q", i+1, n, l)
		}
	}
	old := r.report.Measurements.TerminatingPods
	if len(old) < 50 {
		t.Fatalf("the report measured %d terminating pods, want the 50 old ones", len(old))
	}
	first := string(r.report.Causes[0].Code)
	for _, want := range []string{"rollcheck: FAIL", first, fmt.Sprintf("%d old pods: exit", len(old)), "details: rollcheck report --details"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the default text lacks %q", want)
		}
	}
	for _, tp := range old {
		if !strings.Contains(r.details, tp.Pod) {
			t.Errorf("the details do not list old pod %s", tp.Pod)
		}
	}
	var js bytes.Buffer
	if err := render.WriteJSON(&r.report, &js); err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(t.TempDir(), "fifty.json")
	if err := os.WriteFile(jsonPath, js.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tmuxShowsUnwrapped(t, jsonPath)
	for _, np := range r.report.Measurements.NewPods {
		if !strings.Contains(r.details, np.Pod) {
			t.Errorf("the details do not list new pod %s", np.Pod)
		}
	}
}

// tmuxShowsUnwrapped renders the report as `rollcheck report FILE` in a
// detached tmux pane of 80×24 (a terminal: its width, and colour) and
// checks that the pane holds the same lines as the text written for 80
// columns without a terminal: nothing wrapped, nothing past the edge.
func tmuxShowsUnwrapped(t *testing.T, jsonPath string) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Log("tmux is not installed: the 80×24 pane is not checked (.ci/run installs it)")
		return
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g remain-on-exit on\nset -g history-limit 5000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "tmux.sock")
	tmux := func(args ...string) (string, error) {
		out, err := exec.Command("tmux", append([]string{"-S", sock, "-f", conf}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := tmux("new-session", "-d", "-x", "80", "-y", "24", "-s", "report", "env -u COLUMNS "+lab.rollcheck+" report "+jsonPath); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	defer tmux("kill-server")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := tmux("display-message", "-p", "-t", "report", "#{pane_dead} #{pane_width}x#{pane_height}")
		if err != nil {
			t.Fatalf("tmux display-message: %v\n%s", err, out)
		}
		if strings.HasPrefix(out, "1 ") {
			if !strings.HasPrefix(out, "1 80x24") {
				t.Fatalf("the pane is %s, want 80x24", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollcheck report still running in the pane after 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	pane, err := tmux("capture-pane", "-p", "-t", "report", "-S", "-")
	if err != nil {
		t.Fatalf("tmux capture-pane: %v\n%s", err, pane)
	}
	cmd := exec.Command(lab.rollcheck, "report", "--color", "never", jsonPath)
	cmd.Env = append(os.Environ(), "COLUMNS=80")
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("rollcheck report: %v", err)
	}
	var got []string
	for _, l := range strings.Split(pane, "\n") {
		got = append(got, strings.TrimRight(l, " "))
	}
	text := strings.Join(got, "\n")
	for _, l := range strings.Split(strings.TrimSuffix(string(want), "\n"), "\n") {
		if !slices.Contains(got, strings.TrimRight(l, " ")) {
			t.Errorf("the 80×24 pane does not hold the line %q whole:\n%s", l, text)
		}
	}
}
