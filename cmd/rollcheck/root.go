package main

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
)

// Execute builds the command tree, runs it with args and returns the exit code.
func Execute(ctx context.Context, streams genericiooptions.IOStreams, args []string) int {
	root := newRootCommand(streams, nil)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return exitCode(err, streams.ErrOut)
}

// newRootCommand returns the rollcheck command tree. runFn replaces the run
// command's work in tests (nil: the real run).
func newRootCommand(streams genericiooptions.IOStreams, runFn func(context.Context, *RunOptions) error) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		// A run starts with a burst of access reviews and lists; client-go's
		// default 5 requests/s would delay the start by seconds.
		if c.QPS == 0 {
			c.QPS, c.Burst = 50, 100
		}
		return c
	}
	root := &cobra.Command{
		Use:   "rollcheck",
		Short: "Tell whether a Kubernetes rollout drops traffic, and why",
		Long: `rollcheck runs a constant-rate HTTP load against your service, triggers a
Deployment rollout, watches every pod and EndpointSlice transition on the same
clock as the requests, and prints a PASS/FAIL verdict with the failed requests
and the lifecycle events around them.`,
		Example: `  # Does restarting deployment/web drop requests at 200/s?
  rollcheck run deployment/web --restart --target https://web.example.internal/ --rate 200/s

  # Static checks of manifests in CI, before any load
  rollcheck lint -f k8s/web.yaml

  # Before and after a tuning
  rollcheck compare before.json after.json --fail-on-regression`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	flags.AddFlags(root.PersistentFlags())
	root.AddCommand(newRunCommand(flags, streams, runFn), newVersionCommand(streams),
		newLintCommand(flags, streams), newCompareCommand(streams), newReportCommand(streams))
	return root
}
