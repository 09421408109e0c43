package kubelet

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
)

// lifecycle returns the container's preStop or postStart handler, if any.
func lifecycle(spec v1.Container, preStop bool) *v1.LifecycleHandler {
	if spec.Lifecycle == nil {
		return nil
	}
	if preStop {
		return spec.Lifecycle.PreStop
	}
	return spec.Lifecycle.PostStart
}

// runHook runs a lifecycle handler (exec, httpGet, sleep) until it ends or
// ctx is done.
func (w *podWorker) runHook(ctx context.Context, c *container, h v1.LifecycleHandler) error {
	switch {
	case h.Exec != nil:
		out, code, err := w.exec(ctx, c, h.Exec.Command)
		if err != nil {
			return fmt.Errorf("exec lifecycle hook (%q) for container %q in pod %q: %w", h.Exec.Command, c.spec.Name, w.ns+"/"+w.name, err)
		}
		if code != 0 {
			return fmt.Errorf("exec lifecycle hook (%q) for container %q in pod %q failed - exit code %d, message: %q", h.Exec.Command, c.spec.Name, w.ns+"/"+w.name, code, out)
		}
		return nil
	case h.HTTPGet != nil:
		return w.httpGet(ctx, c, h.HTTPGet)
	case h.Sleep != nil:
		t := time.NewTimer(time.Duration(h.Sleep.Seconds) * time.Second)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	case h.TCPSocket != nil:
		return nil // deprecated, a no-op in the kubelet too
	}
	return errors.New("lifecycle hook has no handler")
}

// runPreStop runs the preStop hook h until it ends, the process exits, ctx
// is done or the grace deadline passes; a shorter grace period moves that
// deadline. It returns the deadline as it then stands and the func that
// stops the hook: kill defers it, so that a hook still running at the
// deadline lives on through the MinGracePeriod extension and dies with the
// container.
func (c *container) runPreStop(ctx context.Context, proc *process, h *v1.LifecycleHandler,
	deadline time.Time, moved <-chan struct{}, deadlineFn graceDeadlineFunc,
) (time.Time, <-chan struct{}, context.CancelFunc) {
	w := c.w
	hookCtx, stopHook := context.WithCancel(ctx)
	hookErr := make(chan error, 1)
	go func() { hookErr <- w.runHook(hookCtx, c, *h) }()
	for {
		t := time.NewTimer(time.Until(deadline))
		select {
		case err := <-hookErr:
			if err != nil {
				w.logf("container %s: preStop: %v", c.spec.Name, err)
				w.event(c, v1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
			}
		case <-t.C:
			w.logf("container %s: preStop hook did not finish within the grace period", c.spec.Name)
		case <-moved:
			deadline, moved = deadlineFn()
			t.Stop()
			continue
		case <-proc.exited:
		case <-ctx.Done():
		}
		t.Stop()
		return deadline, moved, stopHook
	}
}
