package rollout

import (
	"context"
	"fmt"
	"time"
)

// WaitReplicas blocks until the workload has as many ready pods as it
// wants and none terminating: after a drain, every evicted pod has a ready
// replacement. It gives up as Wait does, and records the end the same way.
func (w *Driver) WaitReplicas(ctx context.Context, timeout time.Duration) Outcome {
	return w.waitFor(ctx, timeout, func(*Outcome) (bool, string, string) {
		s := w.statusLocked()
		if w.latestLocked() == nil || s.Ready < s.Desired || s.Terminating > 0 {
			return false, "", ""
		}
		return true, "", fmt.Sprintf("%d of %d replicas ready, none terminating", s.Ready, s.Desired)
	})
}
