// Command rollcheck-lab runs a local Kubernetes cluster made of the real
// upstream control plane, a process kubelet, a load balancer and a sample app.
// Every part is a subcommand of this one binary so that `up` can start each as
// its own process (and a test can kill and restart one).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rollcheck/rollcheck/lab/app"
	"github.com/rollcheck/rollcheck/lab/cluster"
	"github.com/rollcheck/rollcheck/lab/kubelet"
	"github.com/rollcheck/rollcheck/lab/lb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "rollcheck-lab",
		Short:         "A local Kubernetes lab for rollcheck: real control plane, process kubelet, load balancer",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(cluster.NewCommands()...)
	root.AddCommand(kubelet.NewCommand(), lb.NewCommand(), app.NewCommand())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "rollcheck-lab:", err)
		stop()
		os.Exit(1)
	}
}
