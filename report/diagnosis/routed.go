package diagnosis

// A terminating pod still routed to (TERMINATING_POD_STILL_ROUTED, and
// LB_DEREGISTRATION_LAG when it served a while first): when its window
// opens and closes, what its evidence says and the preStop it asks for.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/report/internal/format"
)

// routedCode names the cause of a failure of terminating pod p still being
// routed to: a pod that stopped at once on SIGTERM, or one that kept
// serving for a while (preStop, drain) but not as long as it was routed to.
func routedCode(p *life, it item, preStop time.Duration, opt Options) CauseCode {
	stop := p.stop()
	if end := it.t.Add(it.lat); stop.IsZero() || stop.After(end) {
		stop = end
	}
	if preStop > 0 || stop.Sub(p.del) >= opt.PromptStop {
		return LBDeregistrationLag
	}
	return TerminatingPodStillRouted
}

// serveEnd is the earliest moment a terminating pod may have stopped
// serving: the end of its preStop (the app gets SIGTERM only then) or its
// last success when the app names itself, whichever is later; never after
// its exit was seen. A last success before the preStop ended says only
// that the load balancer sent the pod nothing more, not that it stopped.
func (w *weigher) serveEnd(p *life) time.Time {
	if !p.serveEnd.IsZero() {
		return p.serveEnd
	}
	end := p.del.Add(w.preStop)
	if p.lastOK.After(end) {
		end = p.lastOK
	}
	if !p.exitHi.IsZero() && p.exitHi.Before(end) {
		end = p.exitHi
	}
	p.serveEnd = end
	return end
}

// drained reports whether the load balancer had stopped sending p requests
// while p still served: its last success, or request cut by its exit, came
// well before it stopped (the
// earliest its exit can have happened, by the server's stamp, else its
// exit as seen less the kubelet's reporting delay). Failures after that
// are not p's.
func (w *weigher) drained(p *life) bool {
	if p.lastOK.IsZero() || p.exited.IsZero() {
		return false
	}
	if p.drained == 0 {
		p.drained = -1
		ran := p.exitLo
		if !p.exitStamped {
			ran = p.exited.Add(-exitSlack)
		}
		// A request its exit cut was sent to it too (failures come in
		// order of their start, so the cuts, begun before the exit, are
		// known by the first failure after it).
		last := maxTime(p.lastOK, p.lastCut)
		if ran.Sub(last) > w.gapTol(last) {
			p.drained = 1
		}
	}
	return p.drained > 0
}

// superseded drops the routed candidates whose failures had paused before
// t for longer than pauseOf while the load kept going and another routed
// pod's window opened within the pause: the load balancer had stopped
// sending them requests, and the failures that resumed are the other's.
// Each one's routing ends at its last failure (life.routedEnd), so that a
// later failure is not counted in its routing lag.
func (w *weigher) superseded(routed []candidate, t time.Time) []candidate {
	if len(routed) < 2 {
		return routed
	}
	pause := w.pauseOf(t)
	for _, c := range routed {
		last := c.p.lastCand
		if last.IsZero() || t.Sub(last) <= pause {
			continue
		}
		for _, o := range routed {
			if o.p != c.p && w.serveEnd(o.p).After(last) && !w.serveEnd(o.p).After(t) && w.sent(last, t) {
				c.p.routedEnd = last
				break
			}
		}
	}
	// No pod supersedes one that supersedes it (its window opened after
	// the other's last failure, which came after its own window opened).
	return slices.DeleteFunc(routed, func(c candidate) bool { return !c.p.routedEnd.IsZero() && t.After(c.p.routedEnd) })
}

// routedOpen reports whether a failure at t may come from terminating pod p
// still being routed to after it stopped serving; gap is gapTol(t).
func (w *weigher) routedOpen(p *life, t time.Time, gap time.Duration) bool {
	if p.del.IsZero() || t.Before(p.del) || t.After(p.windowEnd) || w.drained(p) || !p.routedEnd.IsZero() && t.After(p.routedEnd) {
		return false
	}
	start := w.serveEnd(p)
	if t.Before(start) {
		return false
	}
	// With the app naming itself, a pod still routed to answers each of
	// its requests with a success that names it or a failure it may
	// explain: neither for longer than gap while the load kept going, and
	// the load balancer no longer sent it any. A request its exit cut is
	// one it was sent: slow requests that all began within gap of their
	// cut leave no success in the last gap before the exit.
	if w.headers && !p.lastOK.IsZero() {
		seen := maxTime(maxTime(p.lastOK, p.lastCand), p.lastCut)
		if t.Sub(seen) > gap && w.sent(seen, t) {
			return false
		}
	}
	// The window stays open while failures keep coming.
	last := start
	if p.exitHi.After(last) {
		last = p.exitHi
	}
	if p.lastCand.After(last) {
		last = p.lastCand
	}
	return t.Sub(last) <= gap
}

// routed is the evidence of a terminating pod still routed to: when it
// stopped and how long requests still reached it.
func (e telling) routed(preStop time.Duration) string {
	c, p, name, more, classes, window := e.c, e.p, e.name, e.more, e.classes, e.window
	var b strings.Builder
	var parts []string
	if f := p.firstTermFail; !f.IsZero() && (p.exitHi.IsZero() || f.Before(p.exitLo)) {
		parts = append(parts, "stopped answering "+format.Sec(f.Sub(p.del))+" after deletion")
	}
	if !p.exited.IsZero() {
		parts = append(parts, fmt.Sprintf("exited (code %s) %s after deletion", code(p.exitCode), p.exitAfterDeletion()))
	}
	if len(parts) > 0 {
		fmt.Fprintf(&b, "%s %s", name, strings.Join(parts, " and "))
		if c.code == LBDeregistrationLag && preStop > 0 {
			fmt.Fprintf(&b, " (preStop %s)", format.Sec(preStop))
		}
	} else {
		fmt.Fprintf(&b, "%s was being deleted", name)
	}
	ref, refName := p.unready, "its endpoint turned not-ready"
	if ref.IsZero() {
		ref, refName = p.del, "its deletion"
	}
	last := p.lastRouted
	switch {
	case !p.lastOK.After(last):
	case e.fm.keepsConnections():
		// Its late successes may have come over connections kept since
		// before: they show no routing.
		fmt.Fprintf(&b, ", its kept connections still served until %s", around(p.lastOK.Sub(ref), refName))
	default:
		last = p.lastOK
	}
	switch {
	case !last.IsZero():
		fmt.Fprintf(&b, ", but requests still reached it until %s", around(last.Sub(ref), refName))
		// The later of the two says how long it may have been.
		switch {
		case p.lastRoutedShared.After(last) && p.lastRoutedShared.After(p.lastRoutedUnsure):
			fmt.Fprintf(&b, " (and perhaps until %s: %s, deleted after it, may have failed those instead)", format.Sec(p.lastRoutedShared.Sub(ref)), p.sharedWith)
		case p.lastRoutedUnsure.After(last):
			fmt.Fprintf(&b, " (and perhaps until %s: those failures fit another cause as well)", format.Sec(p.lastRoutedUnsure.Sub(ref)))
		}
	case !p.lastRoutedUnsure.IsZero():
		fmt.Fprintf(&b, "; failures that may be its came until %s, but they fit another cause as well, so no routing lag is measured from them", around(p.lastRoutedUnsure.Sub(ref), refName))
	case !p.lastRoutedShared.IsZero():
		fmt.Fprintf(&b, "; failures that may be its came until %s, but %s, deleted after it, may have failed those instead, so no routing lag is measured from them", around(p.lastRoutedShared.Sub(ref), refName), p.sharedWith)
	}
	fmt.Fprintf(&b, "; %d requests failed (%s) from %s%s", c.failures, classes, window, more)
	return b.String()
}

// around says when d falls against the event named ref: "1.98 s after
// its endpoint turned not-ready", or before it when d is negative (a
// request sent just before the endpoint changed, a clock's jitter).
func around(d time.Duration, ref string) string {
	if d < 0 {
		return format.Sec(-d) + " before " + ref
	}
	return format.Sec(d) + " after " + ref
}

// preStop is the preStop advice: one recommendation per serving container
// when requests reached terminating pods, the sleep it asks for (target:
// the longest preStop already there when it asks for none) and why it
// gives no number ("" when it does).
type preStop struct {
	recs     []Recommendation
	target   time.Duration
	withheld string
}

// preStopAdvice: hold the pod serving until the load balancer stops
// routing to it.
func preStopAdvice(s settings, causes []Cause, m Measurements) preStop {
	routed := hasCause(causes, TerminatingPodStillRouted, LBDeregistrationLag, KubeProxyLag)
	var lag time.Duration
	if m.MaxRoutingLag != nil {
		lag = time.Duration(*m.MaxRoutingLag * float64(time.Second))
	}
	// A node's kube-proxy that applied a removal late kept sending new
	// connections to the pod: the preStop must cover the slowest node.
	var slowProxy *SlowestProxy
	if sp := m.SlowestKubeProxy; sp != nil {
		if d := time.Duration(sp.Lag * float64(time.Second)); d >= lag {
			lag, slowProxy = d, sp
		}
	}
	if !routed && (lag < minSuccessLag || hasCause(causes, NoReadyEndpoints, DrainNoReadyEndpoints)) {
		// Successes alone ask for a preStop only when the Service kept a
		// ready endpoint: with none, the pods' late successes are kept
		// connections or the last requests of an empty window, whose fix
		// is the strategy, and a longer preStop only widens the gap.
		lag = 0
	}
	pre := preStop{target: s.longestPreStop()}
	if routed {
		pre.withheld = unsure(causes, TerminatingPodStillRouted, LBDeregistrationLag, KubeProxyLag)
	}
	if routed || lag > 0 {
		need := lag + max(minPreStopMargin, lag/2)
		sugg := ceilSeconds(need)
		suggested := fmt.Sprintf("sleep %d (exec [\"sleep\", \"%d\"] or sleep.seconds: %d)", sugg, sugg, sugg)
		why := fmt.Sprintf("requests still reached terminating pods up to %s after their endpoint turned not-ready; a preStop sleep of at least that plus a margin (%s) keeps the pod serving until the load balancer stops routing to it (an app that drains on SIGTERM for as long helps too)", format.Sec(lag), format.Sec(max(minPreStopMargin, lag/2)))
		if slowProxy != nil {
			bound := ""
			if !slowProxy.Precise {
				bound = "at most "
			}
			reached := "new connections through that node still reached the pod"
			if !slowProxy.failed {
				reached = "until then the front's new connections through that node could still reach the pod"
			}
			why = fmt.Sprintf("node %s's kube-proxy applied the removal of %s %s%s after its endpoint turned not-ready (its sync metrics), and %s; a preStop sleep of at least that plus a margin (%s) keeps every pod serving until the slowest node's kube-proxy has caught up (a faster sync there, its minSyncPeriod, shortens it)", slowProxy.Node, slowProxy.Pod, bound, format.Sec(lag), reached, format.Sec(max(minPreStopMargin, lag/2)))
		}
		if pre.withheld != "" {
			suggested = "a sleep longer than the load balancer keeps routing to a terminating pod (no number: " + pre.withheld + ")"
			why = "requests may have reached terminating pods after they stopped serving; a preStop sleep keeps the pod serving until the load balancer stops routing to it (an app that drains on SIGTERM for as long helps too)"
			if lag > 0 {
				why += fmt.Sprintf("; the pods' own successes show routing at least %s after their endpoint turned not-ready", format.Sec(lag))
			}
		} else if time.Duration(sugg)*time.Second > pre.target {
			pre.target = time.Duration(sugg) * time.Second
		}
		// Every container that takes traffic must keep serving until
		// the load balancer stops routing, so each gets its own advice.
		for _, c := range s.serving {
			pre.recs = append(pre.recs, Recommendation{
				Field:     c.Path("lifecycle.preStop"),
				Current:   s.current(c.PreStop.Text),
				Suggested: suggested,
				Why:       why,
				Satisfied: s.known && !routed && c.PreStop.Sleep >= need,
				Causes:    codes(causes, TerminatingPodStillRouted, LBDeregistrationLag, KubeProxyLag),
				Withheld:  pre.withheld,
			})
		}
	}
	return pre
}
