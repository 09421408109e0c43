package kubelet

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
)

// Native sidecars (KEP-753; on by default from Kubernetes 1.29, GA in
// 1.33) are init containers with restartPolicy: Always. The kubelet starts
// them in order before the app containers, each once the one before it has
// started (its startup probe passed, or it ran with none); it restarts them
// whatever the pod's restartPolicy; their readiness counts toward the pod's;
// the pod's phase is the app containers'. At termination every container's
// preStop runs at once, and a sidecar gets its stop signal only when every
// app container, and every sidecar after it, has exited, within the pod's
// grace (kuberuntime_container.go killContainer: the preStop, then
// ordering.waitForTurn, then StopContainer). Regular init containers do not
// run in this kubelet.

// isSidecar says whether an init container is a native sidecar.
func isSidecar(c v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

// podContainers lists what this kubelet runs: the native sidecars in their
// order, then the app containers.
func podContainers(pod *v1.Pod) []v1.Container {
	var out []v1.Container
	for _, c := range pod.Spec.InitContainers {
		if isSidecar(c) {
			out = append(out, c)
		}
	}
	return append(out, pod.Spec.Containers...)
}

// startContainers starts the sidecars one by one, each once the one before
// it has started, then every app container at once. It gives up when the
// pod terminates first: the containers not started yet never run.
func (w *podWorker) startContainers(ctx context.Context) {
	for i, c := range w.containers {
		if !c.sidecar {
			w.mu.Lock()
			w.initialized = true
			w.mu.Unlock()
			w.markDirty()
			for _, main := range w.containers[i:] {
				go main.run(ctx)
			}
			return
		}
		go c.run(ctx)
		select {
		case <-c.startedCh:
		case <-w.termCh:
		case <-ctx.Done():
		}
		if w.isTerminating() || ctx.Err() != nil {
			for _, never := range w.containers[i+1:] {
				close(never.done)
			}
			return
		}
	}
	// Only sidecars: nothing waits on them.
	w.mu.Lock()
	w.initialized = true
	w.mu.Unlock()
	w.markDirty()
}

// waitForTurn holds a terminating sidecar's stop signal until every
// container after it (the app containers, and the sidecars started after
// it) has exited, or the grace deadline passes.
func (c *container) waitForTurn(ctx context.Context, deadlineFn graceDeadlineFunc) {
	after := false
	for _, o := range c.w.containers {
		if o == c {
			after = true
			continue
		}
		if !after {
			continue
		}
		for {
			deadline, moved := deadlineFn()
			t := time.NewTimer(time.Until(deadline))
			select {
			case <-o.done:
				t.Stop()
			case <-moved:
				t.Stop()
				continue
			case <-t.C:
				return
			case <-ctx.Done():
				t.Stop()
				return
			}
			break
		}
	}
}
