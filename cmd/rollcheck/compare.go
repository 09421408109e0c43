package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/compare"
)

// CompareOptions are the settings of `rollcheck compare`.
type CompareOptions struct {
	genericiooptions.IOStreams
	// Before are the baseline reports (one or more), After tonight's.
	Before           []string
	After            string
	Tolerance        float64
	FloorFlags       []string
	FailOnFlags      []string
	FailOnRegression bool

	// Gate is built by Validate from Tolerance, FloorFlags and FailOnFlags.
	Gate compare.Gate
}

func newCompareCommand(f *factory, runF func(context.Context, *CompareOptions) error) *cobra.Command {
	o := &CompareOptions{IOStreams: f.IOStreams, Tolerance: compare.DefaultGate().Tolerance}
	d := compare.DefaultFloors()
	cmd := &cobra.Command{
		Use:   "compare BEFORE.json... AFTER.json",
		Short: "Compare JSON reports side by side: what got better or worse",
		Long: fmt.Sprintf(`compare puts reports written by 'rollcheck run --report-json' side by side:
verdict, requests, failed requests by class, success ratio, disrupted seconds,
p99 latency during the rollout, rollout duration and causes, each marked better
or worse, and whether it gates or only informs. The last file is AFTER; every
file before it is the baseline, whose median is BEFORE.

With --fail-on-regression it exits 1 when AFTER regressed:
  failed requests  any more than BEFORE (no tolerance)
  verdict          any worse than BEFORE (PASS, INCONCLUSIVE, FAIL)
  disrupted time, p99 latency in the rollout:
                   above all of BEFORE + --tolerance (relative), BEFORE + the
                   metric's floor, and the highest value in the baseline
  rollout duration only informs: a slower rollout is the usual price of the
                   settings that stop dropped requests (maxUnavailable 0, a
                   readiness probe, a preStop). It regresses only when it
                   grows by both more than x%g and more than %s (and past the
                   baseline's highest), or, with --fail-on duration or a
                   --floor duration=..., as disrupted time does.
Floors keep run-to-run jitter from failing a nightly gate; the defaults are
p99=%s, disrupted=%s, duration=%s, and --floor NAME=DURATION sets one.
Several baseline reports (say, the last few good nights) let the gate allow
the spread the baseline itself showed.`, compare.DurationFactor, compare.DurationMargin, d.P99, d.Disrupted, d.Duration),
		Example: `  # Did the tuning help?
  rollcheck compare demo/as-is.json demo/to-be.json

  # Nightly: fail when tonight's run is worse than the stored baseline
  rollcheck compare baseline.json tonight.json --fail-on-regression

  # ... against the last good nights, allowing 10 ms more p99 latency
  rollcheck compare baselines/*.json tonight.json --fail-on-regression --floor p99=10ms

  # ... and failing when the rollout takes over 5 s (and 10%) longer than the baseline
  rollcheck compare baseline.json tonight.json --fail-on-regression --fail-on duration --floor duration=5s`,
		Args: usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Before, o.After = args[:len(args)-1], args[len(args)-1]
			if err := o.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return o.Run()
		},
	}
	cmd.Flags().Float64Var(&o.Tolerance, "tolerance", o.Tolerance, "relative worsening of disrupted time, p99 latency (and rollout duration with --fail-on duration) allowed before a regression (0.1 = 10%)")
	cmd.Flags().StringArrayVar(&o.FloorFlags, "floor", nil, fmt.Sprintf("NAME=DURATION: the absolute worsening a metric must also exceed to regress (repeatable; NAME one of %s; defaults %s); a duration floor makes the rollout duration gate", strings.Join(compare.FloorNames(), ", "), d))
	cmd.Flags().StringSliceVar(&o.FailOnFlags, "fail-on", nil, fmt.Sprintf("metrics that only inform by default to gate on too, past the tolerance and their floor (repeatable or comma-separated; one of %s)", strings.Join(compare.FailOnNames(), ", ")))
	cmd.Flags().BoolVar(&o.FailOnRegression, "fail-on-regression", false, "exit 1 when AFTER regressed against BEFORE")
	return cmd
}

// Validate checks the tolerance and parses the floors and the metrics to
// fail on into Gate.
func (o *CompareOptions) Validate() error {
	if o.Tolerance < 0 {
		return usagef("--tolerance must be 0 or more")
	}
	o.Gate = compare.Gate{Tolerance: o.Tolerance, Floors: compare.DefaultFloors()}
	for _, name := range o.FailOnFlags {
		if err := o.Gate.FailOn(strings.TrimSpace(name)); err != nil {
			return usageError{fmt.Errorf("--fail-on: %w", err)}
		}
	}
	for _, fl := range o.FloorFlags {
		name, value, ok := strings.Cut(fl, "=")
		if !ok {
			return usagef("--floor %q: want NAME=DURATION, e.g. p99=10ms (NAME one of %s)", fl, strings.Join(compare.FloorNames(), ", "))
		}
		d, err := time.ParseDuration(strings.TrimSpace(value))
		if err != nil {
			return usagef("--floor %s: %v", fl, err)
		}
		if err := o.Gate.SetFloor(strings.TrimSpace(name), d); err != nil {
			return usageError{fmt.Errorf("--floor: %w", err)}
		}
	}
	return nil
}

// Run loads the reports and prints the comparison.
func (o *CompareOptions) Run() error {
	var before []*report.Report
	for _, path := range o.Before {
		r, err := report.ReadFile(path)
		if err != nil {
			return usageError{err}
		}
		before = append(before, r)
	}
	after, err := report.ReadFile(o.After)
	if err != nil {
		return usageError{err}
	}
	c := compare.Compare(before, after, o.Gate)
	width, _ := textWidth(o.Out)
	if err := compare.WriteComparisonWidth(c, o.Out, width); err != nil {
		return err
	}
	if reg := c.Regressions(); o.FailOnRegression && len(reg) > 0 {
		return regressionError{metrics: reg}
	}
	return nil
}

// usageArgs makes a wrong number of arguments a usage error (exit 2), as a
// wrong flag is.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
