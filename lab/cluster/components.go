package cluster

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as in the upstream mains
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as in the upstream mains
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as in the upstream mains
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"

	"github.com/rollcheck/rollcheck/lab/node"
)

// NewCommands returns up, down, wait, the component restart commands and the
// control-plane component commands (etcd, apiserver, controller-manager,
// scheduler).
func NewCommands() []*cobra.Command {
	return []*cobra.Command{
		newUpCommand(),
		newDownCommand(),
		newWaitCommand(),
		newStopComponentCommand(),
		newStartComponentCommand(),
		newRestartComponentCommand(),
		newImageCommand(),
		newEtcdCommand(),
		node.NewRelayCommand(),
		node.NewExecCommand(),
		upstreamCommand("apiserver", "kube-apiserver", apiserver.NewAPIServerCommand),
		upstreamCommand("controller-manager", "kube-controller-manager", controllermanager.NewControllerManagerCommand),
		upstreamCommand("scheduler", "kube-scheduler", func() *cobra.Command { return scheduler.NewSchedulerCommand() }),
	}
}

// upstreamCommand wraps an upstream component's cobra command; every argument
// is passed through unparsed.
//
// The upstream command is built only when run: kube-apiserver's constructor
// installs the process's one signal handler (a second one panics), and the
// upstream components expect the default SIGTERM behaviour, which main's
// signal.NotifyContext would otherwise swallow.
func upstreamCommand(use, upstream string, build func() *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:                use + " [" + upstream + " flags]",
		Short:              "Run " + upstream + " (all flags are passed through; see `" + use + " --help`)",
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			c := build()
			c.SetArgs(args)
			if code := cli.Run(c); code != 0 {
				return fmt.Errorf("%s exited with code %d", upstream, code)
			}
			return nil
		},
	}
}
