package main

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/rollcheck/rollcheck/report"
)

func newReportCommand(streams genericiooptions.IOStreams) *cobra.Command {
	var junit, html string
	cmd := &cobra.Command{
		Use:   "report FILE.json [--html out.html] [--junit out.xml]",
		Short: "Re-render a saved JSON report as text (and HTML, JUnit)",
		Example: `  rollcheck report demo/as-is.json
  rollcheck report demo/as-is.json --html as-is.html --junit as-is.xml`,
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
				if err := writeFile(junit, r, report.WriteJUnit); err != nil {
					return err
				}
			}
			if html != "" {
				return writeFile(html, r, report.WriteHTML)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&junit, "junit", "", "also write the checks and causes as JUnit XML to this file")
	cmd.Flags().StringVar(&html, "html", "", "also write the HTML timeline to this file")
	return cmd
}
