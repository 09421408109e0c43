package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/compare"
	"github.com/rollcheck/rollcheck/report/render"
)

// ReportOptions are the settings of `rollcheck report`.
type ReportOptions struct {
	genericiooptions.IOStreams
	// Files are the saved reports: one, or several with Trend.
	Files       []string
	JUnit, HTML string
	OpenMetrics string
	// Trend renders Files as one page of the runs over time.
	Trend bool
	Text  textFlags
}

func newReportCommand(f *factory, runF func(context.Context, *ReportOptions) error) *cobra.Command {
	o := &ReportOptions{IOStreams: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "report FILE.json [--html out.html] [--junit out.xml] [--openmetrics out.prom] | report --trend FILE.json... [--html trend.html]",
		Short: "Re-render a saved JSON report as text (and HTML, JUnit, OpenMetrics), or many as a trend page",
		Long: `report re-renders a JSON report written by 'rollcheck run --report-json': the
text report on stdout, and with --html, --junit or --openmetrics the same files
run writes.

With --trend it reads several JSON reports (say, a nightly job's) and writes one
self-contained HTML page of the runs over time, ordered by their start: verdict,
failed requests, disrupted seconds, failures by cause and p99 latency in the
rollout, one point per run, and a table of the runs. The page goes to --html,
else to stdout.`,
		Example: `  rollcheck report demo/as-is.json
  rollcheck report demo/as-is.json --details
  rollcheck report demo/as-is.json --html as-is.html --junit as-is.xml --openmetrics as-is.prom
  rollcheck report --trend nightly/*.json --html trend.html`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Files = args
			if err := o.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVar(&o.JUnit, "junit", "", "also write the checks and causes as JUnit XML to this file")
	cmd.Flags().StringVar(&o.HTML, "html", "", "also write the HTML timeline to this file (with --trend: the trend page)")
	cmd.Flags().StringVar(&o.OpenMetrics, "openmetrics", "", "also write the results in the OpenMetrics text format to this file (for the node exporter's textfile collector or a Pushgateway)")
	o.Text.add(cmd.Flags())
	cmd.Flags().BoolVar(&o.Trend, "trend", false, "render all the reports given as one HTML page of the runs over time")
	return cmd
}

// Validate checks that the files fit the mode.
func (o *ReportOptions) Validate() error {
	if err := o.Text.validate(); err != nil {
		return err
	}
	if o.Trend {
		if o.JUnit != "" || o.OpenMetrics != "" {
			return usagef("--trend writes one HTML page: --junit and --openmetrics are for one report")
		}
		return nil
	}
	if len(o.Files) > 1 {
		return usagef("one report at a time (%d given); several are rendered together with --trend", len(o.Files))
	}
	return nil
}

// Run reads the saved reports and renders them.
func (o *ReportOptions) Run() error {
	var rs []*report.Report
	for _, path := range o.Files {
		r, err := report.ReadFile(path)
		if err != nil {
			return usageError{err}
		}
		rs = append(rs, r)
	}
	if o.Trend {
		return o.writeTrend(rs)
	}
	r := rs[0]
	text := o.Text.options(o.Out)
	text.DetailsHint = "rollcheck report --details " + o.Files[0]
	for _, out := range []struct {
		path  string
		write render.Func
	}{{o.HTML, render.WriteHTML}, {o.JUnit, render.WriteJUnit}, {o.OpenMetrics, render.WriteOpenMetrics}} {
		if out.path == "" {
			continue
		}
		if err := writeFile(out.path, r, out.write); err != nil {
			return err
		}
		text.Files = append(text.Files, out.path)
	}
	if err := text.Write(r, o.Out); err != nil {
		return err
	}
	return nil
}

// writeTrend writes the trend page to --html, else to stdout.
func (o *ReportOptions) writeTrend(rs []*report.Report) error {
	if o.HTML == "" {
		return compare.WriteTrend(rs, o.Out)
	}
	return writeFile(o.HTML, nil, func(_ *report.Report, w io.Writer) error { return compare.WriteTrend(rs, w) })
}
