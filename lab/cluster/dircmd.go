package cluster

import (
	"errors"
	"time"

	"github.com/spf13/cobra"
)

// dirCommandSpec is the text of a command that acts on the lab in --dir.
type dirCommandSpec struct {
	use, short, long string
	timeoutHelp      string
}

// dirCommand builds a command with a required --dir and a --timeout (default
// 60s) bound to dir and timeout, running run once --dir is checked.
func dirCommand(dir *string, timeout *time.Duration, spec dirCommandSpec, run func(*cobra.Command) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   spec.use,
		Short: spec.short,
		Long:  spec.long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if *dir == "" {
				return errors.New("--dir is required")
			}
			cmd.SilenceUsage = true
			return run(cmd)
		},
	}
	cmd.Flags().StringVar(dir, "dir", "", "lab directory")
	cmd.Flags().DurationVar(timeout, "timeout", 60*time.Second, spec.timeoutHelp)
	return cmd
}
