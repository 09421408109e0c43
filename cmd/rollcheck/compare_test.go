package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report/compare"
)

// The saved reports of report/compare/testdata: the seed 002 pair (113
// failures and p99 6.0 ms in the rollout, then none and 7.1 ms; both
// rollouts 10 s), the demo pair (131 failures and a rollout of 1.9 s, then
// none and 4.9 s), a rollout of 50 s without failures, and five nights.
const (
	asIs       = "../../report/compare/testdata/seed-as-is.json"
	toBe       = "../../report/compare/testdata/seed-to-be.json"
	demoAsIs   = "../../report/compare/testdata/demo-as-is.json"
	demoToBe   = "../../report/compare/testdata/demo-to-be.json"
	rollout50s = "../../report/compare/testdata/rollout-50s.json"
	night1     = "../../report/compare/testdata/trend/night-1.json"
	night3     = "../../report/compare/testdata/trend/night-3.json"
	night4     = "../../report/compare/testdata/trend/night-4.json"
	night5     = "../../report/compare/testdata/trend/night-5.json"
)

type cmdRun struct {
	code           int
	stdout, stderr string
}

// executeRoot runs the whole command tree with args as main would.
func executeRoot(t *testing.T, args ...string) cmdRun {
	t.Helper()
	var out, errOut bytes.Buffer
	f := newFactory(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	root := newRootCommand(f)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return cmdRun{code: exitCode(err, &errOut), stdout: out.String(), stderr: errOut.String()}
}

func TestCompareCommand(t *testing.T) {
	// Wide enough that no cell wraps: the rows are read whole
	// (TestCompareFitsTheWidth checks the wrapping).
	t.Setenv("COLUMNS", "1000")
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     string
		notRegress string
	}{
		{name: "the fixed seed pair passes the gate: p99 6.0 to 7.1 ms is below the default floor",
			args: []string{"compare", asIs, toBe, "--fail-on-regression"}, code: exitcode.Pass,
			stdout: []string{"No regression.\n", "Gates past +10% and a floor: disrupted seconds (+500ms), p99 latency (+250ms).\n"}},
		{name: "the demo's fix passes the gate: 131 failures to 0, FAIL to PASS, and its slower rollout (1.9 to 4.9 s) only informs",
			args: []string{"compare", demoAsIs, demoToBe, "--fail-on-regression"}, code: exitcode.Pass,
			stdout: []string{"No regression.\n", "Worse, but only informing: rollout duration (s).\n", "rollout duration (s) | 1.9 | 4.9 | worse | past x2, +30s | 31.9",
				"Informs, gating only past x2 and +30s: rollout duration (--fail-on duration: past +10% and +2s).\n"}},
		{name: "the demo's fix undone fails the gate on failed requests and the verdict, not on the rollout",
			args: []string{"compare", demoToBe, demoAsIs, "--fail-on-regression"}, code: exitcode.Fail,
			stdout: []string{"Regressions: verdict, failed requests, disrupted seconds.\n"}, stderr: "regression: verdict, failed requests, disrupted seconds\n"},
		{name: "a rollout from 10 s to 50 s (x5, +40 s) fails the gate by default",
			args: []string{"compare", toBe, rollout50s, "--fail-on-regression"}, code: exitcode.Fail,
			stdout: []string{"rollout duration (s) | 10.0 | 50.0 | WORSE (regression) | past x2, +30s | 40.0"}, stderr: "regression: rollout duration (s)\n"},
		{name: "--fail-on duration makes the demo's 1.9 to 4.9 s rollout fail the gate",
			args: []string{"compare", demoAsIs, demoToBe, "--fail-on-regression", "--fail-on", "duration"}, code: exitcode.Fail,
			stdout: []string{"Gates past +10% and a floor: disrupted seconds (+500ms), p99 latency (+250ms), rollout duration (+2s).\n"},
			stderr: "regression: rollout duration (s)\n"},
		{name: "a duration floor the user sets gates at that floor instead of x2 and +30s",
			args: []string{"compare", toBe, rollout50s, "--fail-on-regression", "--floor", "duration=60s"}, code: exitcode.Pass,
			stdout: []string{"rollout duration (s) | 10.0 | 50.0 | worse | yes | 70.0", "rollout duration (+1m0s).\n"}},
		{name: "the nightly recipe's gate on the duration is explicit: 3 s slower is within its 5 s floor",
			args: []string{"compare", demoAsIs, demoToBe, "--fail-on-regression", "--fail-on=duration", "--floor=p99=250ms", "--floor=duration=5s"}, code: exitcode.Pass,
			stdout: []string{"rollout duration (s) | 1.9 | 4.9 | worse | yes | 6.9", "No regression.\n"}},
		{name: "a duration floor set lower makes the same 3 s fail the gate",
			args: []string{"compare", demoAsIs, demoToBe, "--fail-on-regression", "--floor", "duration=2.5s"}, code: exitcode.Fail,
			stderr: "regression: rollout duration (s)\n"},
		{name: "a metric that gates already in --fail-on is a usage error saying so",
			args: []string{"compare", asIs, toBe, "--fail-on", "duration,p99"}, code: exitcode.Usage,
			stderr: "--fail-on: p99 gates already; a metric that only informs by default is one of: duration"},
		{name: "an unknown metric in --fail-on is a usage error naming the valid ones",
			args: []string{"compare", asIs, toBe, "--fail-on", "latency"}, code: exitcode.Usage,
			stderr: `--fail-on: no metric "latency"; a metric that only informs by default is one of: duration`},
		{name: "failures appearing from none fail the gate",
			args: []string{"compare", night3, night5, "--fail-on-regression"}, code: exitcode.Fail,
			stderr: "regression: verdict, failed requests, disrupted seconds"},
		{name: "without --fail-on-regression a regression only shows",
			args: []string{"compare", night3, night5}, code: exitcode.Pass, stdout: []string{"Regressions: verdict, failed requests"}},
		{name: "a p99 rise beyond a floor of 5 ms regresses",
			args: []string{"compare", night4, night5, "--fail-on-regression", "--floor", "disrupted=2s", "--floor", "p99=5ms"}, code: exitcode.Fail,
			stderr: "regression: verdict, failed requests, p99 latency in rollout (ms)"},
		{name: "a floor set per metric lets it through",
			args: []string{"compare", night4, night5, "--fail-on-regression", "--floor", "p99=10ms", "--floor", "disrupted=2s"}, code: exitcode.Fail,
			stderr: "regression: verdict, failed requests\n", notRegress: "p99"},
		{name: "several baselines before AFTER are read as one",
			args: []string{"compare", night3, night4, toBe, night5}, code: exitcode.Pass,
			stdout: []string{"BEFORE is the median of 3 reports", "7.1 (6.5 to 7.1)"}},
		{name: "an unknown metric in --floor is a usage error naming the valid ones",
			args: []string{"compare", asIs, toBe, "--floor", "latency=1s"}, code: exitcode.Usage,
			stderr: `no metric "latency" has a floor; valid: p99, disrupted, duration`},
		{name: "a floor without a duration is a usage error",
			args: []string{"compare", asIs, toBe, "--floor", "p99"}, code: exitcode.Usage, stderr: "want NAME=DURATION"},
		{name: "a negative tolerance is a usage error",
			args: []string{"compare", asIs, toBe, "--tolerance", "-1"}, code: exitcode.Usage, stderr: "--tolerance must be 0 or more"},
		{name: "one report is not enough",
			args: []string{"compare", asIs}, code: exitcode.Usage, stderr: "requires at least 2 arg(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := executeRoot(t, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(r.stdout, want) && !strings.Contains(tableRows(r.stdout), want) {
					t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
				}
			}
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, r.stderr)
			}
			if tt.notRegress != "" && strings.Contains(r.stderr, tt.notRegress) {
				t.Errorf("%s regressed: %s", tt.notRegress, r.stderr)
			}
		})
	}
}

// tableRows is the text with each table row's cells trimmed and joined by
// " | ", so that a test reads a row whatever the columns' widths:
// "rollout duration (s) | 1.9 | 4.9 | worse | past x2, +30s | 31.9".
func tableRows(text string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "│") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "│"), "│")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		out = append(out, strings.Join(cells, " | "))
	}
	return strings.Join(out, "\n")
}

func TestCompareFlagsMakeTheGate(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		want  compare.Gate
	}{
		{name: "the defaults: the rollout duration informs",
			want: compare.Gate{Tolerance: 0.1, Floors: compare.DefaultFloors()}},
		{name: "a tolerance and a duration floor: the duration gates at the floor",
			flags: []string{"--tolerance", "0.2", "--floor", "duration=5s"},
			want:  compare.Gate{Tolerance: 0.2, Floors: compare.Floors{P99: 250 * time.Millisecond, Disrupted: 500 * time.Millisecond, Duration: 5 * time.Second}, FailOnDuration: true}},
		{name: "--fail-on duration: the duration gates at the default floor",
			flags: []string{"--fail-on", "duration"},
			want:  compare.Gate{Tolerance: 0.1, Floors: compare.DefaultFloors(), FailOnDuration: true}},
		{name: "--fail-on as a comma list and repeated",
			flags: []string{"--fail-on", "duration,duration", "--fail-on=duration"},
			want:  compare.Gate{Tolerance: 0.1, Floors: compare.DefaultFloors(), FailOnDuration: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *CompareOptions
			f := newFactory(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
			root := rootWith(f, newCompareCommand(f, func(_ context.Context, o *CompareOptions) error { got = o; return nil }))
			root.SetArgs(append([]string{"compare", "a.json", "b.json", "c.json"}, tt.flags...))
			if err := root.ExecuteContext(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got.Gate != tt.want || strings.Join(got.Before, " ") != "a.json b.json" || got.After != "c.json" {
				t.Errorf("gate %+v before %v after %s, want %+v before [a.json b.json] after c.json", got.Gate, got.Before, got.After, tt.want)
			}
		})
	}
}

// TestCompareFitsTheWidth: at 80 columns (a small terminal's $COLUMNS) no
// line of compare's output passes the edge, and the table still says
// which metrics gate.
func TestCompareFitsTheWidth(t *testing.T) {
	t.Setenv("COLUMNS", "80")
	asIs, toBe := filepath.Join("..", "..", "report", "compare", "testdata", "demo-as-is.json"), filepath.Join("..", "..", "report", "compare", "testdata", "demo-to-be.json")
	r := executeRoot(t, "compare", asIs, toBe)
	if r.code != exitcode.Pass {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("a line of %d columns: %q", n, l)
		}
	}
	if !strings.Contains(r.stdout, "GATE") || !strings.Contains(r.stdout, "informs") {
		t.Errorf("the table at 80 columns lost its gate column:\n%s", r.stdout)
	}
}
