package diagnosis

import (
	"time"

	"github.com/rollcheck/rollcheck/rollout"
)

// Real kubelets report a container's start and exit only at their next
// PLEG relist, and the status write adds its own delay: on the lab's real
// node a watch event about the exit of an app that stops at once on SIGTERM
// arrived 1.7 to 6 s after the deletion (REAL-NODE.md). The API object also
// carries the moments themselves, as whole seconds: the container's
// state.terminated.finishedAt and state.running.startedAt, the conditions'
// lastTransitionTime, the pod's creationTimestamp and deletionTimestamp.
// serverClock ties those stamps to the rollcheck clock, so that a cause
// never rests on when an exit was reported, only on when it happened.

// serverTick is the precision of a server stamp: the moment lies in
// [stamp, stamp+serverTick).
const serverTick = time.Second

// promptTol is how late a watch event about a pod's creation or deletion
// may arrive after the API server stamped it: those come from the API
// server itself, not through a kubelet, and the watch delivers them within
// milliseconds.
const promptTol = 300 * time.Millisecond

// serverClock is the offset of the rollcheck clock from the servers'
// clocks: a moment stamped s by a server happened on the rollcheck clock
// within [s+lo, s+serverTick+hi].
type serverClock struct {
	ok     bool
	lo, hi time.Duration
}

// serverClockOf bounds the offset by the timeline. Every event arrived
// after the moment its stamp names, which bounds the offset from above;
// the creations and deletions arrived at most promptTol after it, which
// bounds it from below. Without an event of each kind, or when they
// contradict each other by more than the tolerance (clocks that jumped),
// the server stamps are not used.
func serverClockOf(evs []rollout.Event) serverClock {
	var (
		c            serverClock
		haveLo, have bool
	)
	for _, e := range evs {
		if e.ServerTime == nil || e.Initial || e.Pod == "" {
			continue
		}
		s := *e.ServerTime
		prompt := false
		switch e.Type {
		case rollout.PodCreated:
			prompt = true
		case rollout.DeletionRequested:
			if e.GracePeriod == nil {
				continue
			}
			// deletionTimestamp is the deletion plus the grace period.
			s, prompt = s.Add(-*e.GracePeriod), true
		case rollout.ContainerStarted, rollout.ContainerExited, rollout.PodReady, rollout.PodNotReady:
		default:
			continue
		}
		off := e.Time.Sub(s)
		if !have || off < c.hi {
			c.hi, have = off, true
		}
		if prompt {
			if lo := off - serverTick - promptTol; !haveLo || lo > c.lo {
				c.lo, haveLo = lo, true
			}
		}
	}
	if !have || !haveLo || c.lo > c.hi+promptTol {
		return serverClock{}
	}
	// A creation delivered a little later than promptTol raises the lower
	// bound past the upper one; the upper bound is firm.
	c.lo = min(c.lo, c.hi)
	c.ok = true
	return c
}

// bounds is the interval on the rollcheck clock of a moment the server
// stamped s, that rollcheck learned of at seen (its latest possible time).
// Without a usable stamp the moment is taken as seen.
func (c serverClock) bounds(s *time.Time, seen time.Time) (lo, hi time.Time) {
	if !c.ok || s == nil || s.IsZero() {
		return seen, seen
	}
	lo, hi = s.Add(c.lo), s.Add(serverTick+c.hi)
	if hi.After(seen) {
		hi = seen
	}
	if lo.After(hi) {
		lo = hi
	}
	return lo, hi
}
