package diagnosis

import (
	"fmt"
	"time"

	"github.com/rollcheck/rollcheck/report/internal/format"
	"github.com/rollcheck/rollcheck/rollout"
)

// Pod phases at the moment of a failure.
const (
	PhaseStarting           = "starting"                   // created, not yet ready
	PhaseReady              = "ready"                      // ready, not being deleted
	PhaseTerminatingR       = "terminating-ready-endpoint" // deletion seen, endpoint still ready
	PhaseTerminating        = "terminating"                // endpoint not ready, still in the slice
	PhaseRemoved            = "removed-from-endpoints"     // gone from every slice, container running
	PhaseExited             = "exited"                     // container exited after deletion
	PhaseKilled             = "killed"                     // container exited 137 (SIGKILL at the end of the grace period)
	PhaseUnknown            = "unknown"                    // no lifecycle event seen for the pod
	exitCodeKilled    int32 = 137
)

// life is one pod's lifecycle on the rollcheck clock; zero times were not
// seen.
type life struct {
	name                          string
	initial                       bool // existed before the watch began
	created, started, ready       time.Time
	del, unready, removed, exited time.Time
	exitCode                      *int32
	// exitLo and exitHi bound when the first container exit after the
	// deletion happened, from the container's finishedAt (whole seconds)
	// and when it was seen (exited, the latest it can be): a real
	// kubelet reports an exit seconds late. Both equal exited when the
	// server's stamps cannot be used.
	exitLo, exitHi time.Time
	// exitStamped: exitLo and exitHi come from the server's stamp.
	exitStamped bool
	// startLo and startHi bound when the first container start happened,
	// from its startedAt, likewise.
	startLo, startHi time.Time
	// sidecar and app: the proxy sidecar that had exited while app still
	// ran, at the pod's first failure of SIDECAR_STOPPED_BEFORE_APP.
	sidecar, app string
	// exits are each container's first exit after deletion, by name.
	exits                                 map[string]exit
	grace                                 time.Duration
	graceKnown                            bool
	firstOK, lastOK                       time.Time
	firstFail, lastRouted                 time.Time
	firstTermFail                         time.Time // first failure at or after deletion
	firstTermFailEnd                      time.Time // when it ended: the pod had stopped by then
	newFailures                           int
	lastNewFail                           time.Time
	windowEnd                             time.Time // end of the terminating window
	lastCand                              time.Time // last failure whose candidates included the pod
	lastCut                               time.Time // start of the last request its exit cut in flight
	lastRoutedUnsure                      time.Time // last routed failure tied to the pod with less than high confidence
	lastRoutedShared                      time.Time // last routed failure tied to the pod that sharedWith, deleted after it and not seen serving, may have failed instead: it measures no routing lag
	sharedWith                            string
	drained                               int8      // weigher.drained, once known: 1 yes, -1 no
	serveEnd                              time.Time // weigher.serveEnd, once known
	routedEnd                             time.Time // weigher.superseded: the load balancer no longer routed to it after this
	why                                   map[kind]string
	terminatingFailures, terminatingCount int
}

func (p *life) phase(t time.Time) string {
	switch {
	case !p.exited.IsZero() && !t.Before(p.exited):
		if p.exitCode != nil && *p.exitCode == exitCodeKilled {
			return PhaseKilled
		}
		return PhaseExited
	case !p.removed.IsZero() && !t.Before(p.removed):
		return PhaseRemoved
	case !p.unready.IsZero() && !t.Before(p.unready):
		return PhaseTerminating
	case !p.del.IsZero() && !t.Before(p.del):
		return PhaseTerminatingR
	case !p.ready.IsZero() && !t.Before(p.ready):
		return PhaseReady
	case !p.created.IsZero() && !t.Before(p.created):
		return PhaseStarting
	}
	if p.initial {
		return PhaseReady
	}
	return PhaseUnknown
}

// exit is one container's exit: when it was seen, and the bounds of when
// it happened (see life.exitLo).
type exit struct {
	at     time.Time
	lo, hi time.Time
	code   *int32
}

// stop is the latest a terminating pod stopped serving: its exit (the
// latest it can have happened) or the end of its first failure after
// deletion (a request that began just before the pod stopped fails when
// it stops), whichever came first.
func (p *life) stop() time.Time {
	switch {
	case p.exitHi.IsZero():
		return p.firstTermFailEnd
	case !p.firstTermFailEnd.IsZero() && p.firstTermFailEnd.Before(p.exitHi):
		return p.firstTermFailEnd
	}
	return p.exitHi
}

// exitText says when the pod's container exited: "at +5.20s", or, when
// the server's stamp bounds it and it was seen later, "between +4.10s and
// +5.20s (seen at +7.30s)".
func (p *life) exitText(t0 time.Time) string {
	if !p.exitStamped || !p.exitLo.Before(p.exitHi) {
		return "at " + format.Offset(t0, p.exited)
	}
	s := "between " + format.Offset(t0, p.exitLo) + " and " + format.Offset(t0, p.exitHi)
	if p.exited.Sub(p.exitHi) >= 10*time.Millisecond {
		s += " (seen at " + format.Offset(t0, p.exited) + ")"
	}
	return s
}

// exitAfterDeletion says how long after its deletion the pod's container
// exited: "2.50 s", or "0.80 to 2.10 s" when the server's stamp bounds it.
func (p *life) exitAfterDeletion() string {
	if p.exitStamped && p.exitLo.Before(p.exitHi) {
		return fmt.Sprintf("%.2f to %s", p.exitLo.Sub(p.del).Seconds(), format.Sec(p.exitHi.Sub(p.del)))
	}
	return format.Sec(p.exited.Sub(p.del))
}

// lifecycles reconstructs every pod's lifecycle from the timeline. Events
// are taken in time order; the first deletion, the first endpoint change to
// not-ready after it, the last removal and the first exit after deletion
// count.
func lifecycles(evs []rollout.Event) map[string]*life {
	clock := serverClockOf(evs)
	pods := map[string]*life{}
	get := func(name string) *life {
		p := pods[name]
		if p == nil {
			p = &life{name: name}
			pods[name] = p
		}
		return p
	}
	for _, e := range evs {
		if e.Pod == "" {
			continue
		}
		initial := e.Initial
		p := get(e.Pod)
		switch e.Type {
		case rollout.PodCreated:
			if p.created.IsZero() {
				p.created = e.Time
			}
		case rollout.ContainerStarted:
			if p.started.IsZero() {
				p.started = e.Time
				p.startLo, p.startHi = clock.bounds(e.ServerTime, e.Time)
			}
		case rollout.PodReady:
			if initial {
				p.initial = true
			} else if p.ready.IsZero() && p.del.IsZero() {
				p.ready = e.Time
			}
		case rollout.PodNotReady:
			if initial {
				p.initial = true
			}
		case rollout.DeletionRequested:
			if p.del.IsZero() {
				p.del = e.Time
				if e.GracePeriod != nil {
					p.grace, p.graceKnown = *e.GracePeriod, true
				}
			}
		case rollout.EndpointAdded, rollout.EndpointChanged:
			if initial && p.created.IsZero() {
				p.initial = true
			}
			if !p.del.IsZero() && p.unready.IsZero() && ((e.Ready != nil && !*e.Ready) || (e.Terminating != nil && *e.Terminating)) {
				p.unready = e.Time
			}
		case rollout.EndpointRemoved:
			p.removed = e.Time
			if !p.del.IsZero() && p.unready.IsZero() {
				p.unready = e.Time
			}
		case rollout.ContainerExited:
			if p.del.IsZero() {
				break
			}
			lo, hi := clock.bounds(e.ServerTime, e.Time)
			// It exited after it was deleted.
			if lo.Before(p.del) {
				lo = p.del
			}
			if hi.Before(lo) {
				hi = lo
			}
			// The pod's first stop is its earliest container exit. A
			// real kubelet reports the exits of a terminating pod's
			// containers together, once the last has stopped (its pod
			// worker waits for them all): one stamped seconds before
			// another may come after it in the same update.
			switch {
			case p.exited.IsZero():
				p.exited, p.exitLo, p.exitHi = e.Time, lo, hi
				p.exitStamped = clock.ok && e.ServerTime != nil
				p.exitCode = e.ExitCode
			case !e.Time.After(p.exited) && hi.Before(p.exitLo):
				p.exitLo, p.exitHi = lo, hi
				p.exitStamped = clock.ok && e.ServerTime != nil
				p.exitCode = e.ExitCode
			}
			if p.exits == nil {
				p.exits = map[string]exit{}
			}
			if _, seen := p.exits[e.Container]; !seen {
				p.exits[e.Container] = exit{at: e.Time, lo: lo, hi: hi, code: e.ExitCode}
			}
		}
	}
	return pods
}

// PodLife is one pod's lifecycle as the timeline shows it, on the
// rollcheck clock; zero times were not seen.
type PodLife struct {
	Name    string
	Initial bool // existed before the watch began
	// Created to Exited are the first creation, container start, Ready,
	// deletion, endpoint turning not ready, removal from the endpoints and
	// container exit after the deletion.
	Created, Started, Ready           time.Time
	Deleted, Unready, Removed, Exited time.Time
	ExitCode                          *int32
}

// PodLives are the pods' lifecycles read from the timeline, by name: what
// the diagnosis reads of each pod, for the renderers to draw.
func PodLives(evs []rollout.Event) map[string]PodLife {
	out := map[string]PodLife{}
	for name, p := range lifecycles(evs) {
		out[name] = PodLife{Name: name, Initial: p.initial, Created: p.created, Started: p.started, Ready: p.ready,
			Deleted: p.del, Unready: p.unready, Removed: p.removed, Exited: p.exited, ExitCode: p.exitCode}
	}
	return out
}
