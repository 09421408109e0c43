package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// VersionOptions are the settings of `rollcheck version`.
type VersionOptions struct {
	genericiooptions.IOStreams
}

func newVersionCommand(f *factory, runF func(context.Context, *VersionOptions) error) *cobra.Command {
	o := &VersionOptions{IOStreams: f.IOStreams}
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the rollcheck version",
		Example: "  rollcheck version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return o.Run()
		},
	}
}

// Run prints the version.
func (o *VersionOptions) Run() error {
	_, err := fmt.Fprintf(o.Out, "rollcheck %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
