package e2e

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/exitcode"
)

// statusRE is one status line as rollcheck prints it in a log (stderr not
// a terminal): the phase, the pods ("pods" before the trigger, "updated"
// after) out of the desired replicas, ready and terminating pods.
var statusRE = regexp.MustCompile(`^\s*\d+\.\ds (\S+(?: \S+)?)\s+\d+ req/s  \d+/\d+ failed  (pods|updated) (\d+)/(\d+) ready (\d+) terminating (\d+)  endpoints (\d+)$`)

// statusLine is what a test reads from one status line.
type statusLine struct {
	phase                                string
	updated, desired, ready, terminating int
	triggered                            bool
	text                                 string
}

// statusLines parses the status lines of a run's stderr.
func statusLines(t *testing.T, stderr string) []statusLine {
	t.Helper()
	var out []statusLine
	for _, line := range strings.Split(stderr, "\n") {
		m := statusRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if len(line) > 100 {
			t.Errorf("status line of %d columns, want at most 100: %q", len(line), line)
		}
		n := func(i int) int {
			v, err := strconv.Atoi(m[i])
			if err != nil {
				t.Fatalf("status line %q: %v", line, err)
			}
			return v
		}
		out = append(out, statusLine{phase: m[1], triggered: m[2] == "updated", updated: n(3), desired: n(4), ready: n(5), terminating: n(6), text: line})
	}
	return out
}

// TestStatusLineFollowsTheRollout runs a restart of the to-be demo (4
// replicas, maxSurge 1, maxUnavailable 0, a readiness probe and a 4 s
// preStop: the pods are replaced one at a time over several seconds) with
// the status line every 250 ms in a log, and reads it: before the trigger
// it counts the 4 pods found; from the trigger on, the updated pods start at
// 0, pass through the counts between and reach 4, never going back, and
// the old pods are seen terminating.
func TestStatusLineFollowsTheRollout(t *testing.T) {
	needLab(t)
	resetDemo(t)
	t.Setenv("ROLLCHECK_STATUS_EVERY", "250ms")
	r := rollcheck(t, "deployment/demo", "--restart", "--target", lab.lbURL+"/", "--rate", "50/s",
		"--baseline", "2s", "--settle", "1s", "--pod-header", "X-Pod-Name,X-Lab-Target")
	if r.code != exitcode.Pass {
		t.Fatalf("exit %d, want 0 PASS\n%s", r.code, r.stderr)
	}
	lines := statusLines(t, r.stderr)
	var updated []int
	sawTerminating := false
	for i, l := range lines {
		if i == 0 || l.triggered != lines[i-1].triggered || l.updated != lines[i-1].updated || l.terminating != lines[i-1].terminating {
			t.Logf("status: %s", l.text)
		}
		if l.desired != 4 {
			t.Errorf("status line %+v: desired %d, want 4", l, l.desired)
		}
		if !l.triggered {
			if len(updated) > 0 {
				t.Errorf("status line %+v: not triggered after a triggered one", l)
			}
			if l.updated != 4 || l.phase != "baseline" && l.phase != "rollout" {
				t.Errorf("status line before the trigger %+v, want pods 4/4 in the baseline or as the rollout starts", l)
			}
			continue
		}
		updated = append(updated, l.updated)
		sawTerminating = sawTerminating || l.terminating > 0
	}
	t.Logf("updated pods, one status line each: %v", updated)
	if len(updated) == 0 {
		t.Fatalf("no status line after the trigger:\n%s", r.stderr)
	}
	if updated[0] != 0 {
		t.Errorf("first updated count after the trigger %d, want 0 (nothing has been replaced yet)", updated[0])
	}
	if last := updated[len(updated)-1]; last != 4 {
		t.Errorf("last updated count %d, want 4", last)
	}
	if !slices.IsSorted(updated) {
		t.Errorf("the updated count went back: %v", updated)
	}
	between := slices.ContainsFunc(updated, func(n int) bool { return n > 0 && n < 4 })
	if !between {
		t.Errorf("no updated count between 0 and 4: %v", updated)
	}
	if !sawTerminating {
		t.Errorf("no status line showed a terminating pod, though each old pod waits 4 s in its preStop:\n%s", r.stderr)
	}
}
