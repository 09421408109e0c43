package kubelet

import (
	"context"
	"math/rand/v2"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
)

// A real kubelet learns of a container's start or exit from its PLEG,
// which relists the runtime every second; the pod status shows the
// transition only after that. Its prober reports readiness through the
// status manager at once. With Config.StatusRelist the process kubelet
// does the same: the status shows each container as of the pod's last
// relist (seen), and readiness as the probes have it now.

// seenState is what the status shows of a container's runtime state.
type seenState struct {
	state, last v1.ContainerState
	restarts    int32
	pid, gen    int
}

// snapshotLocked is the container's runtime state now; w.mu is held.
func (c *container) snapshotLocked() seenState {
	return seenState{state: *c.state.DeepCopy(), last: *c.last.DeepCopy(), restarts: c.restarts, pid: c.pid, gen: c.gen}
}

// reportedLocked is what the status shows of the container, and whether
// its readiness and started flags may show (its running process is the
// one the status shows); w.mu is held.
func (c *container) reportedLocked() (seenState, bool) {
	if c.w.k.cfg.StatusRelist <= 0 {
		return c.snapshotLocked(), true
	}
	return c.seen, c.seen.gen == c.gen && c.seen.state.Running != nil
}

// relistLoop takes the containers' runtime state into the status every
// period, from a random phase as each real kubelet's relist has.
func (w *podWorker) relistLoop(ctx context.Context, period time.Duration) {
	t := time.NewTimer(rand.N(period))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.relist()
		t.Reset(period)
	}
}

// relist takes the runtime state into the status; it tells those waiting
// for a relist (awaitRelist).
func (w *podWorker) relist() {
	changed := false
	w.mu.Lock()
	for _, c := range w.containers {
		now := c.snapshotLocked()
		if now.restarts != c.seen.restarts || now.pid != c.seen.pid || now.gen != c.seen.gen ||
			!apiequality.Semantic.DeepEqual(now.state, c.seen.state) || !apiequality.Semantic.DeepEqual(now.last, c.seen.last) {
			c.seen, changed = now, true
		}
	}
	close(w.relisted)
	w.relisted = make(chan struct{})
	w.mu.Unlock()
	if changed {
		w.markDirty()
	}
}

// awaitRelist waits for the pod's next relist, so that the final status
// shows the exits as a real kubelet would; at once without relisting.
func (w *podWorker) awaitRelist(ctx context.Context) {
	period := w.k.cfg.StatusRelist
	if period <= 0 {
		return
	}
	w.mu.Lock()
	ch := w.relisted
	w.mu.Unlock()
	t := time.NewTimer(2 * period)
	defer t.Stop()
	select {
	case <-ch:
	case <-ctx.Done():
	case <-t.C:
		w.relist() // the loop stopped: take the state now
	}
}
