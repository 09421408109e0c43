// Command demo-app is the lab's sample app on its own, as the entrypoint of
// the rollcheck/demo-app image that the real node runs; the process kubelet
// runs it too (else `rollcheck-lab app`, the same code, slower to start).
// Built static, it needs nothing else in the image.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/rollcheck/rollcheck/lab/app"
)

func main() {
	// No signal handling here: the app's flags decide what SIGTERM does.
	cmd := app.NewCommand()
	cmd.Use = "demo-app"
	cmd.SilenceErrors = true
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "demo-app:", err)
		os.Exit(1)
	}
}
