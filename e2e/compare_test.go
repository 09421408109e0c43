package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/exitcode"
)

// checkCompareJudgesTheFix runs `rollcheck compare --fail-on-regression` on
// the JSON reports of the demo's as-is and to-be runs (TestSeedPair's, on
// either node mode), both ways. The fix must pass the gate: failed requests
// and the verdict got better, and its rollout, slower for maxUnavailable 0,
// the readiness probe and the preStop (1.9 s to 4.9 s on the real node in
// issue 26), only informs. Undoing it must fail the gate on the failed
// requests and the verdict, not on the duration.
func checkCompareJudgesTheFix(t *testing.T, asIs, toBe result) {
	t.Helper()
	if asIs.json == nil || toBe.json == nil {
		t.Fatalf("no report to compare (as-is wrote one: %v, to-be: %v): see the runs above", asIs.json != nil, toBe.json != nil)
	}
	dir := t.TempDir()
	asIsPath, toBePath := filepath.Join(dir, "as-is.json"), filepath.Join(dir, "to-be.json")
	for path, data := range map[string][]byte{asIsPath: asIs.json, toBePath: toBe.json} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, b := asIs.report, toBe.report
	t.Logf("as-is: %s, %v failed, rollout %.1f s; to-be: %s, %v failed, rollout %.1f s",
		a.Verdict, a.Load.Failures, a.Rollout.Duration, b.Verdict, b.Load.Failures, b.Rollout.Duration)

	fix := compareReports(t, asIsPath, toBePath, "--fail-on-regression")
	if fix.code != exitcode.Pass || !strings.Contains(fix.stdout, "No regression.") {
		t.Errorf("compare as-is to-be: exit %d, want 0 and no regression\n%s%s", fix.code, fix.stdout, fix.stderr)
	}
	slower := b.Rollout.Completed && a.Rollout.Completed && b.Rollout.Duration > a.Rollout.Duration
	if slower && !strings.Contains(lineWith(fix.stdout, "Worse, but only informing:"), "rollout duration (s)") {
		t.Errorf("the to-be rollout was slower (%.1f s, then %.1f s) and compare does not say it only informs:\n%s", a.Rollout.Duration, b.Rollout.Duration, fix.stdout)
	}

	undo := compareReports(t, toBePath, asIsPath, "--fail-on-regression")
	if undo.code != exitcode.Fail {
		t.Errorf("compare to-be as-is: exit %d, want 1\n%s%s", undo.code, undo.stdout, undo.stderr)
	}
	if want := "regression: verdict, failed requests"; !strings.Contains(undo.stderr, want) {
		t.Errorf("compare to-be as-is: stderr lacks %q:\n%s", want, undo.stderr)
	}
	if strings.Contains(undo.stderr, "rollout duration") {
		t.Errorf("compare to-be as-is calls the rollout's duration a regression:\n%s", undo.stderr)
	}

	// Asked to, the gate fails on the slower rollout when it is slower by
	// more than the tolerance and the floor it was given.
	if slower && b.Rollout.Duration > 1.1*a.Rollout.Duration && b.Rollout.Duration > a.Rollout.Duration+1 {
		asked := compareReports(t, asIsPath, toBePath, "--fail-on-regression", "--fail-on", "duration", "--floor", "duration=1s")
		if asked.code != exitcode.Fail || !strings.Contains(asked.stderr, "regression: rollout duration (s)") {
			t.Errorf("compare as-is to-be --fail-on duration --floor duration=1s: exit %d, want 1 naming the rollout duration\n%s%s", asked.code, asked.stdout, asked.stderr)
		}
	} else {
		t.Logf("the to-be rollout was not more than 1 s and 10%% slower: --fail-on duration not tried")
	}
}

// compareReports runs `rollcheck compare` with args.
func compareReports(t *testing.T, args ...string) result {
	t.Helper()
	r := execRollcheck(t, time.Minute, append([]string{"compare"}, args...)...)
	t.Logf("rollcheck compare %s → exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// lineWith is the first line of text that starts with prefix, or "".
func lineWith(text, prefix string) string {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}
