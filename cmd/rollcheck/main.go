// Command rollcheck tells whether a Kubernetes rollout drops traffic, and why.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal ends the run gracefully: the load stops, the
		// requests in flight finish, and the partial report is written.
		// Default handling comes back first, so that a second Ctrl-C ends
		// the process at once, whatever it is waiting for.
		sig := <-sigs
		signal.Stop(sigs)
		// rollcheck attack says so in its stream's end record; in a pod its
		// stderr joins that stream in the log.
		if len(os.Args) < 2 || os.Args[1] != "attack" {
			fmt.Fprintf(os.Stderr, "\nrollcheck: %s: stopping the load and writing a partial report; Ctrl-C again to quit at once\n", sig)
		}
		cancel()
	}()
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	code := Execute(ctx, streams, os.Args[1:])
	cancel()
	os.Exit(code)
}
