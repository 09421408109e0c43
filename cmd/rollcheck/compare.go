package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/rollcheck/rollcheck/report"
)

// CompareOptions are the settings of `rollcheck compare`.
type CompareOptions struct {
	genericiooptions.IOStreams
	Before, After    string
	Tolerance        float64
	FailOnRegression bool
}

func newCompareCommand(f *factory, runF func(context.Context, *CompareOptions) error) *cobra.Command {
	o := &CompareOptions{IOStreams: f.IOStreams, Tolerance: 0.1}
	cmd := &cobra.Command{
		Use:   "compare BEFORE.json AFTER.json",
		Short: "Compare two JSON reports side by side: what got better or worse",
		Long: `compare puts two reports written by 'rollcheck run --report-json' side by side:
verdict, requests, failed requests by class, success ratio, disrupted seconds,
p99 latency during the rollout, rollout duration and causes, each marked better
or worse. With --fail-on-regression it exits 1 when AFTER has more failed
requests, more disrupted time or a higher p99 than BEFORE beyond --tolerance
(relative; any rise from zero failures counts), for a nightly job that compares
against a stored baseline.`,
		Example: `  # Did the tuning help?
  rollcheck compare demo/as-is.json demo/to-be.json

  # Nightly: fail when tonight's run is worse than the stored baseline
  rollcheck compare baseline.json tonight.json --fail-on-regression --tolerance 0.2`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Before, o.After = args[0], args[1]
			if o.Tolerance < 0 {
				return usageError{errors.New("--tolerance must be 0 or more")}
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return o.Run()
		},
	}
	cmd.Flags().Float64Var(&o.Tolerance, "tolerance", o.Tolerance, "relative worsening allowed before a metric counts as a regression (0.1 = 10%)")
	cmd.Flags().BoolVar(&o.FailOnRegression, "fail-on-regression", false, "exit 1 when AFTER regressed against BEFORE")
	return cmd
}

// Run loads both reports and prints the comparison.
func (o *CompareOptions) Run() error {
	before, err := report.ReadFile(o.Before)
	if err != nil {
		return usageError{err}
	}
	after, err := report.ReadFile(o.After)
	if err != nil {
		return usageError{err}
	}
	c := report.Compare(before, after, o.Tolerance)
	if err := report.WriteComparison(c, o.Out); err != nil {
		return err
	}
	if reg := c.Regressions(); o.FailOnRegression && len(reg) > 0 {
		return regressionError{metrics: reg}
	}
	return nil
}
