package rollout

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// ErrNotDrained: the wait for the removed pods ended before they were gone.
var ErrNotDrained = errors.New("removed pods not gone")

// WaitDrained blocks until everything a rollout removed is gone: no pod of
// the Deployment is terminating, and no endpoint of a watched Service is
// terminating or belongs to a pod that is terminating or deleted. kubectl's
// "complete" comes while old pods are still in their preStop and drain, and
// failures from them (a load balancer still routing, requests cut at exit)
// come after it; a run that stops its load before this point has not seen
// them. It returns when the end was seen. It gives up after timeout (0: no
// limit) or when ctx is done with ErrNotDrained, naming what was left.
func (r *Recorder) WaitDrained(ctx context.Context, timeout time.Duration) (time.Time, error) {
	var left []string
	err := r.await(ctx, timeout, func() bool {
		left = r.undrainedLocked()
		return len(left) == 0
	})
	switch {
	case errors.Is(err, errAwaitTimeout):
		return time.Time{}, fmt.Errorf("%w after %s: %s", ErrNotDrained, timeout, strings.Join(left, ", "))
	case err != nil:
		return time.Time{}, fmt.Errorf("%w: interrupted: %s", ErrNotDrained, strings.Join(left, ", "))
	}
	return r.now(), nil
}

// undrainedLocked lists what is still on its way out, sorted.
func (r *Recorder) undrainedLocked() []string {
	var left []string
	for name, p := range r.pods {
		if p.DeletionTimestamp != nil {
			left = append(left, "pod "+name+" terminating")
		}
	}
	for _, svc := range r.services {
		for key, st := range r.endpointsLocked(svc) {
			// An endpoint of a pod that is still terminating is counted
			// with the pod above.
			switch {
			case st.terminating:
				left = append(left, fmt.Sprintf("endpoint %s of service %s terminating", key, svc))
			case st.pod != "" && r.deletedLocked(st):
				left = append(left, fmt.Sprintf("endpoint %s of service %s still listed after its pod was deleted", key, svc))
			}
		}
	}
	sort.Strings(left)
	return left
}

// deletedLocked reports whether the pod behind st was seen deleted: by
// name, and by UID when both are known, since a StatefulSet's new pod
// takes the name of the one it replaces.
func (r *Recorder) deletedLocked(st epState) bool {
	uid, gone := r.gone[st.pod]
	if !gone {
		return false
	}
	return uid == "" || st.uid == "" || uid == st.uid
}
