package e2e

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

// The acceptance of issue 15 on the lab for what the run could not see: a
// watch lost for good and a load that stalled in the rollout. Each must end
// INCONCLUSIVE, never PASS.

// toBeInItsRollout starts rollcheck on the steady to-be Deployment with a
// 3 s baseline and returns once the rollout has been triggered and
// rollcheck says it is in the rollout phase.
func toBeInItsRollout(t *testing.T, args ...string) *runningRollcheck {
	t.Helper()
	resetDemo(t)
	gen := demoGeneration(t)
	rc := startRollcheck(t, lab.kubeconfig, append([]string{"-f", "../scenarios/to-be.scenario.yaml", "--target", lab.lbURL + "/", "--baseline", "3s"}, args...)...)
	rc.waitRolloutStarted(t, gen)
	return rc
}

// TestAPIServerLostForGoodIsInconclusive stops the API server just after
// the trigger and keeps it down for the rest of the run: the watches never
// come back, the rollout's completion cannot be seen, and the run is
// INCONCLUSIVE naming the lost watches, not FAIL (as "did not complete"
// would have it) and never PASS.
func TestAPIServerLostForGoodIsInconclusive(t *testing.T) {
	needLab(t)
	rc := toBeInItsRollout(t, "--settle", "2s", "--rollout-timeout", "10s")
	t.Cleanup(func() {
		// The lab is shared: the API server comes back for the next tests.
		out, err := exec.Command(lab.labBin, "start-component", "--dir", lab.dir, "apiserver").CombinedOutput()
		if err != nil {
			t.Fatalf("start-component apiserver: %v\n%s", err, out)
		}
		// Running is not ready: until /readyz answers, the API server
		// sends 429s with Retry-After that stall the next test's client.
		waitUntil(t, 2*time.Minute, "the API server to be ready again", func() (bool, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := lab.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			return err == nil, nil
		})
	})
	stop := exec.Command(lab.labBin, "stop-component", "--dir", lab.dir, "--signal", "KILL", "apiserver")
	stopped := time.Now()
	if out, err := stop.CombinedOutput(); err != nil {
		rc.kill()
		t.Fatalf("stop-component: %v\n%s", err, out)
	}
	r := rc.wait(t, 2*time.Minute)
	t.Logf("exit %d %s %.1fs after the API server was stopped; reasons %v", r.code, r.report.Verdict, time.Since(stopped).Seconds(), r.report.Reasons)
	if r.code != exitcode.Inconclusive || r.report.Verdict != report.Inconclusive {
		t.Fatalf("exit %d verdict %q, want %d INCONCLUSIVE\n%s", r.code, r.report.Verdict, exitcode.Inconclusive, r.stderr)
	}
	if !reasonsContain(r, "did not recover before the load ended") || !reasonsContain(r, "deployments (lost at +") {
		t.Errorf("reasons %v do not name the lost watch", r.report.Reasons)
	}
	if !reasonsContain(r, "whether it completed was not seen") {
		t.Errorf("reasons %v do not say the completion was not seen", r.report.Reasons)
	}
	begun, resumed := map[string]bool{}, map[string]bool{}
	for _, e := range events(r, rollout.WatchGap) {
		if e.Resumed {
			resumed[e.Watch] = true
		} else {
			begun[e.Watch] = true
		}
		t.Logf("watch-gap %v: watch %q resumed %v: %v", e.Time.Format(time.RFC3339Nano), e.Watch, e.Resumed, e.Detail)
	}
	if !begun["deployments"] || resumed["deployments"] {
		t.Errorf("watch-gap events: begun %v, resumed %v; want the deployments watch begun and never resumed", begun, resumed)
	}
}

// TestLoadStalledInTheRolloutIsInconclusive pauses the rollcheck process
// (SIGSTOP) for 2 s once it is in the rollout phase. vegeta catches up on
// SIGCONT, so the average rate stays near the rate asked, but no request
// started during the pause: the run is INCONCLUSIVE, naming a window that
// lies in the pause.
func TestLoadStalledInTheRolloutIsInconclusive(t *testing.T) {
	needLab(t)
	rc := toBeInItsRollout(t, "--settle", "3s")
	if err := syscall.Kill(rc.pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	time.Sleep(2 * time.Second) // the stall itself
	resumed := time.Now()
	if err := syscall.Kill(rc.pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	r := rc.wait(t, 3*time.Minute)
	t.Logf("exit %d %s, achieved %.1f/s of %.1f/s; reasons %v", r.code, r.report.Verdict, r.report.Load.AchievedRate, r.report.Load.Rate, r.report.Reasons)
	if r.code != exitcode.Inconclusive || r.report.Verdict != report.Inconclusive {
		t.Fatalf("exit %d verdict %q, want %d INCONCLUSIVE\n%s", r.code, r.report.Verdict, exitcode.Inconclusive, r.stderr)
	}
	if !reasonsContain(r, "the load fell below 80%") {
		t.Fatalf("reasons %v do not say the load fell short in a window", r.report.Reasons)
	}
	// The window named lies in the pause, on the report's clock (offsets
	// from the load's start).
	phases := r.report.Phases
	if len(phases) == 0 {
		t.Fatal("no phases in the report")
	}
	start := phases[0].Start
	from, to := paused.Sub(start).Seconds(), resumed.Sub(start).Seconds()
	win := regexp.MustCompile(`\+(\d+\.\d+)s to \+(\d+\.\d+)s \((\d+) of (\d+) requests\)`)
	found := false
	for _, reason := range r.report.Reasons {
		for _, m := range win.FindAllStringSubmatch(reason, -1) {
			a, _ := strconv.ParseFloat(m[1], 64)
			b, _ := strconv.ParseFloat(m[2], 64)
			t.Logf("window named: +%.2fs to +%.2fs (%s of %s requests); the pause was +%.2fs to +%.2fs", a, b, m[3], m[4], from, to)
			// The clocks of this test and of rollcheck differ by the time a
			// signal takes to land: allow a bucket either side.
			found = found || (a < to+0.1 && b > from-0.1)
		}
	}
	if !found {
		t.Errorf("no window named in the pause +%.2fs to +%.2fs: %v", from, to, r.report.Reasons)
	}
	if r.report.Load.AchievedRate < 0.95*r.report.Load.Rate {
		t.Logf("note: the average rate fell below 95%% too (vegeta did not catch up)")
	}
	if strings.Contains(r.stdout, "rollcheck: PASS") {
		t.Error("text report says PASS")
	}
}
