package main

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/rollcheck/rollcheck/report"
)

func newReportCommand(streams genericiooptions.IOStreams) *cobra.Command {
	var junit string
	cmd := &cobra.Command{
		Use:   "report FILE.json [--junit out.xml]",
		Short: "Re-render a saved JSON report as text (and JUnit)",
		Example: `  rollcheck report demo/as-is.json
  rollcheck report demo/as-is.json --junit as-is.xml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := report.ReadFile(args[0])
			if err != nil {
				return usageError{err}
			}
			if err := report.WriteText(r, streams.Out); err != nil {
				return err
			}
			if junit != "" {
				return writeFile(junit, r, report.WriteJUnit)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&junit, "junit", "", "also write the checks and causes as JUnit XML to this file")
	return cmd
}
