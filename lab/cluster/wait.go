package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
)

type waitOptions struct {
	dir     string
	timeout time.Duration
}

func newWaitCommand() *cobra.Command {
	o := &waitOptions{}
	return dirCommand(&o.dir, &o.timeout, dirCommandSpec{
		use:         "wait --dir DIR [--timeout 60s]",
		short:       "Block until the lab in DIR is ready (DIR/ready exists and up runs)",
		timeoutHelp: "give up after this long",
	}, o.run)
}

func (o *waitOptions) run(cmd *cobra.Command) error {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	deadline := time.Now().Add(o.timeout)
	var deadSince time.Time
	for {
		if labReady(dir) {
			return nil
		}
		// Give up early if up is gone for good (up.pid may be a stale one
		// from a killed run that the new up has not yet replaced).
		if p, err := readUpPID(dir); err == nil && !p.alive() {
			if deadSince.IsZero() {
				deadSince = time.Now()
			} else if time.Since(deadSince) > 3*time.Second {
				return fmt.Errorf("up (pid %d) exited before the lab was ready; see %s", p.PID, filepath.Join(dir, logsDir))
			}
		} else {
			deadSince = time.Time{}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab in %s not ready after %s", dir, o.timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// labReady reports whether DIR/ready exists and the up that wrote lab.json
// still runs (a killed up leaves a stale ready file behind).
func labReady(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, readyFile)); err != nil {
		return false
	}
	st, err := ReadState(dir)
	if err != nil {
		return false
	}
	return proc{PID: st.PID, Start: st.PIDStart}.alive()
}
