package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report/compare"
)

// The saved reports of report/testdata: the seed 002 pair (113 failures and
// p99 6.0 ms in the rollout, then none and 7.1 ms) and five nights.
const (
	asIs   = "../../report/compare/testdata/seed-as-is.json"
	toBe   = "../../report/compare/testdata/seed-to-be.json"
	night1 = "../../report/compare/testdata/trend/night-1.json"
	night3 = "../../report/compare/testdata/trend/night-3.json"
	night4 = "../../report/compare/testdata/trend/night-4.json"
	night5 = "../../report/compare/testdata/trend/night-5.json"
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
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     string
		notRegress string
	}{
		{name: "the fixed seed pair passes the gate: p99 6.0 to 7.1 ms is below the floor",
			args: []string{"compare", asIs, toBe, "--fail-on-regression"}, code: exitcode.Pass,
			stdout: []string{"No regression (tolerance 10%, floors p99=5ms, disrupted=500ms, duration=2s"}},
		{name: "failures appearing from none fail the gate",
			args: []string{"compare", night3, night5, "--fail-on-regression"}, code: exitcode.Fail,
			stderr: "regression: verdict, failed requests, disrupted seconds"},
		{name: "without --fail-on-regression a regression only shows",
			args: []string{"compare", night3, night5}, code: exitcode.Pass, stdout: []string{"Regressions: verdict, failed requests"}},
		{name: "a p99 rise beyond the default floor regresses",
			args: []string{"compare", night4, night5, "--fail-on-regression", "--floor", "disrupted=2s"}, code: exitcode.Fail,
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
				if !strings.Contains(r.stdout, want) {
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

func TestCompareFlagsMakeTheGate(t *testing.T) {
	var got *CompareOptions
	f := newFactory(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	root := rootWith(f, newCompareCommand(f, func(_ context.Context, o *CompareOptions) error { got = o; return nil }))
	root.SetArgs([]string{"compare", "a.json", "b.json", "c.json", "--tolerance", "0.2", "--floor", "duration=5s"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := compare.Gate{Tolerance: 0.2, Floors: compare.Floors{P99: 5 * time.Millisecond, Disrupted: 500 * time.Millisecond, Duration: 5 * time.Second}}
	if got.Gate != want || strings.Join(got.Before, " ") != "a.json b.json" || got.After != "c.json" {
		t.Errorf("gate %+v before %v after %s, want %+v before [a.json b.json] after c.json", got.Gate, got.Before, got.After, want)
	}
}
