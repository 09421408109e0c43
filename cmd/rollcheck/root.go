package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Execute builds the command tree, runs it with args and returns the exit code.
func Execute(ctx context.Context, streams genericiooptions.IOStreams, args []string) int {
	root := newRootCommand(newFactory(streams))
	setDisplayName(root, os.Args[0])
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return exitCode(err, streams.ErrOut)
}

// newRootCommand returns the rollcheck command tree.
func newRootCommand(f *factory) *cobra.Command {
	return rootWith(f, newRunCommand(f, nil), newVersionCommand(f, nil), newLintCommand(f, nil),
		newCompareCommand(f, nil), newReportCommand(f, nil), newRBACCommand(f, nil),
		newAttackCommand(f, nil), newCleanupCommand(f, nil))
}

// rootWith is the root command over the given subcommands: tests build
// it with one subcommand whose run function they replace.
func rootWith(f *factory, cmds ...*cobra.Command) *cobra.Command {
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
	root.SetIn(f.In)
	root.SetOut(f.Out)
	root.SetErr(f.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	f.flags.AddFlags(root.PersistentFlags())
	root.AddCommand(cmds...)
	return root
}

// setDisplayName names root in usage lines after the binary that runs:
// installed as kubectl-rollcheck, kubectl runs it as the plugin `kubectl
// rollcheck`, and its usage says so, as kubectl's plugins do.
func setDisplayName(root *cobra.Command, argv0 string) {
	name := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	plugin, ok := strings.CutPrefix(name, "kubectl-")
	if !ok || plugin == "" {
		return
	}
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	// kubectl reads a dash in the command as an underscore in the file name.
	root.Annotations[cobra.CommandDisplayNameAnnotation] = "kubectl " + strings.ReplaceAll(plugin, "_", "-")
}
