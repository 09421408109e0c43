package main

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/rollcheck/rollcheck/report"
)

// ReportOptions are the settings of `rollcheck report`.
type ReportOptions struct {
	genericiooptions.IOStreams
	File        string
	JUnit, HTML string
}

func newReportCommand(f *factory, runF func(context.Context, *ReportOptions) error) *cobra.Command {
	o := &ReportOptions{IOStreams: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "report FILE.json [--html out.html] [--junit out.xml]",
		Short: "Re-render a saved JSON report as text (and HTML, JUnit)",
		Example: `  rollcheck report demo/as-is.json
  rollcheck report demo/as-is.json --html as-is.html --junit as-is.xml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.File = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVar(&o.JUnit, "junit", "", "also write the checks and causes as JUnit XML to this file")
	cmd.Flags().StringVar(&o.HTML, "html", "", "also write the HTML timeline to this file")
	return cmd
}

// Run reads the saved report and renders it.
func (o *ReportOptions) Run() error {
	r, err := report.ReadFile(o.File)
	if err != nil {
		return usageError{err}
	}
	if err := report.WriteText(r, o.Out); err != nil {
		return err
	}
	if o.JUnit != "" {
		if err := writeFile(o.JUnit, r, report.WriteJUnit); err != nil {
			return err
		}
	}
	if o.HTML != "" {
		return writeFile(o.HTML, r, report.WriteHTML)
	}
	return nil
}
