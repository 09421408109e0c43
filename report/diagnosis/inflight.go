package diagnosis

// Requests cut when a container exited (INFLIGHT_CUT): which failures
// were open at the exit, what their evidence says and the grace period
// that lets them finish.

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// inflightTol allows for the delay between a container's exit and the
// receipt of the status update that reports it.
const inflightTol = 100 * time.Millisecond

// inflight reports whether the failure was a request open when p's
// container exited.
func inflight(p *life, it item) bool {
	if p.exited.IsZero() || it.n != 1 {
		return false
	}
	// The class, not the error's text: a refused connection (class
	// refused) never reached the pod, so no request of it was cut.
	switch it.class {
	case attack.ClassReset, attack.ClassEOF, attack.ClassGoaway, attack.ClassStreamReset:
	case attack.Class502, attack.Class504:
		// The load balancer also answers 502 at once to a refused
		// connection; only a request it held open was cut.
		if it.lat < inflightTol {
			return false
		}
	default:
		return false
	}
	end := it.t.Add(it.lat)
	if p.exitStamped {
		// The exit is known only within its bounds (life.exitLo): the
		// request was open before the exit surely had happened and ended
		// when it may have. A request that began within the bounds is
		// left to the other causes: it may have met a pod that had
		// already stopped.
		return it.t.Before(p.exitLo) && !end.Before(p.exitLo.Add(-inflightTol)) && !end.After(p.exitHi.Add(inflightTol))
	}
	return it.t.Before(p.exited) && !end.Before(p.exited.Add(-inflightTol))
}

// keptClosed reports whether the failure is a kept-alive connection
// closed or reset under the request: the connection had served before and
// was pinned to its pod when it was opened (a front that routes each
// request anew answers 502 instead), so its end says when that pod closed
// it, not where the front sent new requests. A refused dial is of class
// refused (attack.Classify), never reset or EOF.
func keptClosed(it item) bool {
	return it.reused && (it.class == attack.ClassReset || it.class == attack.ClassEOF || it.class == attack.ClassGoaway)
}

// cutKept finds the terminating pod that cut a kept connection under the
// request: the request ended between the pod's deletion and its reported
// exit (which a real kubelet reports up to seconds late, so the exit's
// own bounds may not hold it). It returns the pod whose reported exit came
// first after the end, and how many pods fit.
func (w *weigher) cutKept(it item) (*life, int) {
	if it.n != 1 || !keptClosed(it) {
		return nil, 0
	}
	end := it.t.Add(it.lat)
	var (
		best *life
		n    int
	)
	x := w.x
	i := sort.Search(len(x.dels), func(i int) bool { return x.dels[i].del.After(end) })
	for j := i - 1; j >= 0 && j >= i-walkBack; j-- {
		p := x.dels[j]
		if p.exited.IsZero() || end.After(p.exited) || it.t.After(p.exited) {
			continue
		}
		n++
		if best == nil || p.exited.Before(best.exited) {
			best = p
		}
	}
	return best, n
}

// inflight is the evidence of requests cut when a container exited.
func (e telling) inflight() string {
	c, p, name, more, classes, window := e.c, e.p, e.name, e.more, e.classes, e.window
	ev := fmt.Sprintf("%s exited with code %s %s after deletion while %d requests were in flight (%s, %s)%s",
		name, code(p.exitCode), p.exitAfterDeletion(), c.failures, classes, window, more)
	if p.exitCode != nil && *p.exitCode == exitCodeKilled {
		ev += "; 137 is SIGKILL at the end of the grace period"
	}
	return ev + e.servers
}

// slowestServed is the longest request a shutdown must let finish: the
// slowest of the run, not one that waited for the client's timeout on a
// target that never answered: then the cut requests' own age is what is
// known.
func slowestServed(m Measurements, slowest time.Duration) time.Duration {
	if !m.slowestTimedOut {
		return slowest
	}
	if m.LongestCut != nil {
		return time.Duration(*m.LongestCut * float64(time.Second))
	}
	return 0
}

// graceAdvice: each container's preStop + shutdown, and the requests cut
// at exit, must end before SIGKILL. It advises only when something
// terminated under load or a preStop runs (ok false: no advice).
func graceAdvice(s settings, causes []Cause, m Measurements, slowest time.Duration, pre preStop) (Recommendation, bool) {
	cut := hasCause(causes, InflightCut)
	if len(pre.recs) == 0 && !cut && s.longestPreStop() <= 0 {
		return Recommendation{}, false
	}
	var shutdown time.Duration
	if m.MaxShutdown != nil {
		shutdown = time.Duration(*m.MaxShutdown * float64(time.Second))
	}
	raiseTo := time.Duration(0)
	if pre.target > s.longestPreStop() {
		raiseTo = pre.target // the preStop advised above
	}
	total, ps, drain := s.termination(m, raiseTo, shutdown)
	sh := drain
	slowest = slowestServed(m, slowest)
	if cut && slowest > drain {
		total += slowest - drain
		drain = slowest
	}
	need := total + graceMargin
	sugg := ceilSeconds(need)
	why := fmt.Sprintf("preStop %s + observed shutdown %s", format.Sec(ps), format.Sec(sh))
	if s.unknownPreStop() {
		why += " (a preStop hook of unknown length ran: its time is in the shutdown)"
	}
	switch {
	case cut && m.slowestTimedOut:
		why += fmt.Sprintf(" (in-flight requests were cut at exit, open up to %s; the slowest requests of the run timed out, so their length is unknown)", format.Sec(slowest))
	case cut:
		why += fmt.Sprintf(" (in-flight requests were cut at exit; the slowest request took %s)", format.Sec(slowest))
	}
	why += fmt.Sprintf(" + %s margin must end before SIGKILL; %s", format.Sec(graceMargin), deregistrationWhy)
	rec := Recommendation{
		Field:     "spec.template.spec.terminationGracePeriodSeconds",
		Current:   s.current(strconv.FormatInt(ceilSeconds(s.w.Grace), 10)),
		Suggested: fmt.Sprintf("at least %d (and below the load balancer's deregistration delay)", sugg),
		Why:       why,
		Satisfied: s.known && !cut && s.w.Grace >= need,
		Causes:    codes(causes, InflightCut),
	}
	withheld := pre.withheld
	if cut {
		if u := unsure(causes, InflightCut); u != "" {
			withheld = u
		}
	}
	if withheld != "" {
		rest := ceilSeconds(drain + graceMargin)
		rec.Suggested = fmt.Sprintf("at least the preStop you choose + %d (and below the load balancer's deregistration delay)", rest)
		rec.Why = fmt.Sprintf("observed shutdown %s + %s margin after the preStop must end before SIGKILL; no total is given: %s; %s", format.Sec(drain), format.Sec(graceMargin), withheld, deregistrationWhy)
		rec.Satisfied = false
		rec.Withheld = withheld
	}
	return rec, true
}
