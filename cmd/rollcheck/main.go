// Command rollcheck tells whether a Kubernetes rollout drops traffic, and why.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore default handling so that a second
		// Ctrl-C ends the process at once while the partial report is written.
		<-ctx.Done()
		stop()
	}()
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	code := Execute(ctx, streams, os.Args[1:])
	stop()
	os.Exit(code)
}
