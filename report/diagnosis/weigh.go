package diagnosis

import (
	"fmt"
	"sort"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// Confidence says how firmly the evidence ties failures to a cause.
type Confidence string

// Confidence levels. Only a cause of high confidence yields a number in
// the recommendations.
const (
	// ConfidenceHigh: the response named the pod, or exactly one
	// explanation was open and the pod's own timeline bounds its window.
	ConfidenceHigh Confidence = "high"
	// ConfidenceMedium: one explanation was open, but its window rests on
	// an assumption (a default window length, a watch gap).
	ConfidenceMedium Confidence = "medium"
	// ConfidenceLow: the evidence fits another explanation as well.
	ConfidenceLow Confidence = "low"
)

func (c Confidence) rank() int {
	switch c {
	case ConfidenceHigh:
		return 2
	case ConfidenceMedium:
		return 1
	}
	return 0
}

// Real kubelets report a container's exit late (REAL-NODE.md: the 1 s
// PLEG relist, then the status write): without the server's finishedAt, a
// pod may have stopped serving that long before its exit was seen. With it,
// the exit's bounds (life.exitLo, exitHi) say when.
const exitSlack = time.Second

// kind is the family of an explanation weighed for a failure without a pod
// header: an old pod that stopped serving while still routed to, or a new
// pod that was Ready before it served.
type kind int

const (
	kindNone kind = iota
	kindRouted
	kindNew
	kindInflight
	// Pods left out on their own evidence, named in the basis.
	kindDrained // an old pod whose successes stopped while it still ran
	kindServed  // a new pod that had served before the failure
)

// candidate is one pod whose window was open at a failure.
type candidate struct {
	p     *life
	kind  kind
	bound bool // its window is bounded by the pod's own evidence
}

// weighing is the outcome of weighing one failure without a pod header.
type weighing struct {
	p     *life
	kind  kind
	conf  Confidence
	basis [3]string // the chosen pod's evidence, the alternative's, a pod left out
	alt   candidate // the best explanation of the other kind when ambiguous (alt.p nil: none)
	// shared is an old pod whose window opened after the chosen old pod's
	// and that was not seen serving then: it may have failed the request
	// as well, so the chosen pod's routing lag is not measured from it.
	shared *life
}

// weigher weighs failures without a pod header against every explanation
// open at their time. It keeps state across failures, which must come in
// time order: a pod's window stays open only while failures keep coming
// (gapTol), and an ambiguous failure continues the explanation of the
// failures just before it.
type weigher struct {
	// lags are when each node's kube-proxy applied each removal.
	lags proxyLags
	// nodeTargets and gaps: a front whose targets are nodes, before a
	// Service with externalTrafficPolicy Local, and when each node had no
	// serving pod of it (nil otherwise).
	nodeTargets *NodeTargets
	gaps        nodeGapsOf
	// drain is the run's node drain (nil for a rollout).
	drain *Drain
	// overload is DRAIN_TOO_FEW_READY_PODS's measure (nil: no such cause).
	overload *overload
	// goaways counts the load's streams that failed after a GOAWAY.
	goaways int
	x       *index
	t0      time.Time // the zero of the offsets in the evidence
	steps   readySteps
	rate    float64 // requests per second asked
	preStop time.Duration
	// preStopKnown: the Deployment and the length of its preStop hooks are
	// known, so when a terminating pod may stop serving is not a guess.
	preStopKnown bool
	// headers is true when some successful response named its pod: a pod
	// without a success of its own then got none.
	headers bool
	// listening: every container that takes traffic has a readiness
	// probe that connects to one of its ports, so a new pod was Ready
	// only once its listener answered (listensWhenReady).
	listening bool
	lastKind  kind
	lastT     time.Time
	// front is what carried the load to the pods, as far as known.
	front frontModel
	// stopsAtOnce are the serving containers whose server SIGTERM stops
	// at once: the evidence of cut requests names them.
	stopsAtOnce []serverStop
	// containers says which containers are proxy sidecars.
	containers containersOf
	// buckets are the load's buckets (width bucketWidth): whether the
	// load kept sending during a pause of a pod's failures.
	buckets     []attack.Bucket
	bucketWidth time.Duration
}

// pauseOf is the pause in a routed pod's failures after which the load
// balancer had stopped sending it requests, when another pod's window
// opened within it: three of the intervals at which one target receives
// requests (the ready endpoints and the one draining share the rate).
func (w *weigher) pauseOf(t time.Time) time.Duration {
	if w.rate <= 0 {
		return time.Second
	}
	return time.Duration(3 * float64(max(w.steps.count(t), 1)+1) / w.rate * float64(time.Second))
}

// sent reports whether the load kept its rate (at least half of it) from
// from to to: a pause in failures while it did is evidence, a stalled
// load generator is not.
func (w *weigher) sent(from, to time.Time) bool {
	if w.bucketWidth <= 0 || w.rate <= 0 || !to.After(from) {
		return false
	}
	var n float64
	i := sort.Search(len(w.buckets), func(i int) bool { return w.buckets[i].Start.Add(w.bucketWidth).After(from) })
	for ; i < len(w.buckets) && w.buckets[i].Start.Before(to); i++ {
		b := w.buckets[i]
		lo, hi := maxTime(b.Start, from), minTime(b.Start.Add(w.bucketWidth), to)
		n += float64(b.Total) * float64(hi.Sub(lo)) / float64(w.bucketWidth)
	}
	return n >= 0.5*w.rate*to.Sub(from).Seconds()
}

// servedBetween reports whether a request sent in a bucket wholly within
// [from, to) succeeded.
func (w *weigher) servedBetween(from, to time.Time) bool {
	if w.bucketWidth <= 0 {
		return true // no evidence that it did not
	}
	i := sort.Search(len(w.buckets), func(i int) bool { return !w.buckets[i].Start.Before(from) })
	for ; i < len(w.buckets) && !w.buckets[i].Start.Add(w.bucketWidth).After(to); i++ {
		if w.buckets[i].OK > 0 {
			return true
		}
	}
	return false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// gapTol is how long a pod's window stays open without a failure it could
// explain: five times the interval at which one target receives requests
// (the rate shared by the ready endpoints), at least a second.
func (w *weigher) gapTol(t time.Time) time.Duration {
	n := max(w.steps.count(t), 1)
	tol := time.Second
	if w.rate > 0 {
		tol = max(tol, time.Duration(5*float64(n)/w.rate*float64(time.Second)))
	}
	return tol
}

// weigh ties a failure without a pod header to the explanation its time,
// class and the pods' timelines support, and says how firmly.
func (w *weigher) weigh(it item) weighing {
	x := w.x
	t := it.t
	// A request cut by an exit ended at the exit, which may come after
	// other pods' events: look from its end.
	if p := latest(x.exits, func(p *life) time.Time { return p.exitLo }, t.Add(it.lat+inflightTol), func(p *life) bool { return inflight(p, it) }); p != nil {
		p.lastCut = maxTime(p.lastCut, t)
		return weighing{p: p, kind: kindInflight, conf: ConfidenceHigh, basis: [3]string{candidate{p: p, kind: kindInflight}.why(w)}}
	}
	if p, n := w.cutKept(it); p != nil {
		p.lastCut = maxTime(p.lastCut, t)
		conf := ConfidenceHigh
		if n > 1 {
			conf = ConfidenceMedium
		}
		return weighing{p: p, kind: kindInflight, conf: conf, basis: [3]string{fmt.Sprintf("a kept connection was closed under the request while %s was terminating, before its exit was reported", p.name)}}
	}
	gap := w.gapTol(t)
	var (
		out     weighing
		leftOut candidate // a pod its own evidence leaves out, to name
	)
	var buf [2 * walkBack]candidate
	routed := buf[:0:walkBack]
	news := buf[walkBack:walkBack]
	i := sort.Search(len(x.dels), func(i int) bool { return x.dels[i].del.After(t) })
	for j := i - 1; j >= 0 && j >= i-walkBack; j-- {
		p := x.dels[j]
		if leftOut.p == nil && !t.Before(p.del) && !t.After(p.windowEnd) && w.drained(p) {
			leftOut = candidate{p: p, kind: kindDrained}
		}
		if w.routedOpen(p, t, gap) {
			// Its window opened on evidence: it had exited, its
			// successes had stopped, or its preStop (known) had ended.
			// With the hooks unknown, when it stopped serving is a guess.
			bound := w.preStopKnown || !p.exitHi.IsZero() && !p.exitHi.After(t) || !p.lastOK.IsZero() && !p.lastOK.Before(p.del)
			routed = append(routed, candidate{p: p, kind: kindRouted, bound: bound})
		}
	}
	routed = w.superseded(routed, t)
	// A kept connection that was closed or reset had served before: it
	// was not a new pod's that never served.
	keptClosed := keptClosed(it)
	// A refused connection (the load balancer's 502 for it), a reset or an
	// EOF is not a new pod that had not begun to listen, when its
	// readiness probe had connected to its port before it was Ready.
	listened := w.listening && connectionFailure(it.class)
	if !keptClosed && !listened {
		i = sort.Search(len(x.news), func(i int) bool { return x.news[i].ready.After(t) })
		for j := i - 1; j >= 0 && j >= i-walkBack; j-- {
			p := x.news[j]
			if open, bound := w.newOpen(p, t, gap); open {
				news = append(news, candidate{p: p, kind: kindNew, bound: bound})
			} else if leftOut.p == nil && !p.firstOK.IsZero() && !t.Before(p.firstOK) && !t.After(p.ready.Add(x.opt.StartWindow)) {
				leftOut = candidate{p: p, kind: kindServed}
			}
		}
	}
	// A pod's successes have stopped when none came for five of the
	// intervals at which one target receives requests.
	quiet := 100 * time.Millisecond
	if w.rate > 0 {
		quiet = max(quiet, time.Duration(5*float64(max(w.steps.count(t), 1))/w.rate*float64(time.Second)))
	}
	best := func(cs []candidate) candidate {
		// A pod seen exited before one still running, then the window
		// that opened last (the latest exit, deletion or Ready).
		b := cs[0]
		for _, c := range cs[1:] {
			if ce, be := c.exitedBy(t, quiet), b.exitedBy(t, quiet); ce != be {
				if ce {
					b = c
				}
				continue
			}
			if co, bo := c.opened(), b.opened(); !co.Equal(bo) {
				if co.After(bo) {
					b = c
				}
				continue
			}
			// Old pods whose windows opened together (exits stamped in
			// the same second): the one deregistered last asks the
			// shortest routing lag of the load balancer.
			if c.deregistered().After(b.deregistered()) {
				b = c
			}
		}
		return b
	}
	var allBuf [2 * walkBack]candidate
	all := append(append(allBuf[:0], routed...), news...)
	switch {
	case len(all) == 0:
		return weighing{}
	case len(news) == 0 || len(routed) == 0:
		c := best(all)
		out = weighing{p: c.p, kind: c.kind, conf: ConfidenceMedium}
		if c.bound {
			out.conf = ConfidenceHigh
		}
		out.basis[0] = c.why(w)
		if c.kind == kindRouted {
			out.shared = sharedWith(routed, c, t)
		}
	default:
		r, n := best(routed), best(news)
		c, o := r, n
		// An ambiguous failure continues the explanation of the failures
		// just before it, unless an old pod was seen serving since the
		// last of them (a fact that explanation left out): then, as for
		// the first, the window that opened last wins.
		served := servedSince(routed, w.lastT)
		switch {
		case w.lastKind == kindNew && t.Sub(w.lastT) <= gap && served.p == nil:
			c, o = n, r
		case w.lastKind == kindNew && t.Sub(w.lastT) <= gap:
			c = served
		case w.lastKind == kindRouted && t.Sub(w.lastT) <= gap:
		case n.opened().After(r.opened()):
			c, o = n, r
		}
		out = weighing{p: c.p, kind: c.kind, conf: ConfidenceLow, alt: o, basis: [3]string{c.why(w), o.why(w)}}
	}
	if leftOut.p != nil {
		out.basis[2] = leftOut.why(w)
	}
	for _, c := range all {
		c.p.lastCand = t
	}
	w.lastKind, w.lastT = out.kind, t
	return out
}

// exitedBy reports whether the candidate had stopped serving by t on its
// own evidence: its container surely exited (the latest its exit can have
// happened, life.exitHi), or the app named itself and its successes had
// stopped for longer than gap before t, or ended with its deletion. A pod
// with none of these may still have been serving.
//
// Successes that named the pod until its deletion (the last within gap
// before it, while it was in rotation) and never again: the load balancer
// was still sending it requests then (no front acts on a deletion at
// once), so it stopped serving there. A busy kubelet may report its exit a
// second later; the failures from the deletion on are its own, not an
// earlier pod's that had exited, whose routing lag they would lengthen.
func (c candidate) exitedBy(t time.Time, gap time.Duration) bool {
	p := c.p
	switch {
	case !p.exitHi.IsZero() && !p.exitHi.After(t):
		return true
	case p.lastOK.IsZero() || t.Before(p.del):
		return false
	case !p.lastOK.Before(p.del):
		return p.lastOK.Add(gap).Before(t)
	}
	return p.del.Sub(p.lastOK) <= gap
}

// opened is when the candidate's window opened: a new pod's Ready, an old
// pod's exit (the earliest it can have happened), else its deletion, and
// never before the old pod's last success (it served until then: a
// server's exit stamp has whole seconds, so its last success may be the
// tighter bound). Of two old pods the later one asks the shorter routing
// lag of the load balancer to explain the failure.
func (c candidate) opened() time.Time {
	p := c.p
	if c.kind == kindNew {
		return p.ready
	}
	at := p.del
	if !p.exitLo.IsZero() {
		at = p.exitLo
	}
	if p.lastOK.After(at) && (p.exitHi.IsZero() || !p.lastOK.After(p.exitHi)) {
		at = p.lastOK
	}
	return at
}

// sharedWith returns an old pod other than c, open at t, whose window
// opened after c's and which no success shows serving after t: a failure
// given to c (seen exited first) may have been that pod's, which had
// stopped at once but whose exit was not reported yet. The latest such pod
// (none: nil).
func sharedWith(routed []candidate, c candidate, t time.Time) *life {
	var out *life
	for _, o := range routed {
		if o.p == c.p || !o.opened().After(c.opened()) || o.p.lastOK.After(t) {
			continue
		}
		if out == nil || o.p.del.After(out.del) {
			out = o.p
		}
	}
	return out
}

// servedSince returns the old pod whose window opened on its own last
// success after t, the latest (none: p nil).
func servedSince(routed []candidate, t time.Time) candidate {
	var out candidate
	for _, c := range routed {
		if c.p.lastOK.After(t) && c.opened().Equal(c.p.lastOK) && (out.p == nil || c.p.lastOK.After(out.p.lastOK)) {
			out = c
		}
	}
	return out
}

// deregistered is when the load balancer was told to stop routing to the
// candidate: its endpoint turned not ready, else its deletion.
func (c candidate) deregistered() time.Time {
	if !c.p.unready.IsZero() {
		return c.p.unready
	}
	return c.p.del
}

// why is the evidence that keeps the candidate's window open. It depends
// on the pod and the kind only, so it is written once per pod and kind.
func (c candidate) why(w *weigher) string {
	p := c.p
	if p.why == nil {
		p.why = map[kind]string{}
	}
	if s, ok := p.why[c.kind]; ok {
		return s
	}
	s := c.describe(w)
	p.why[c.kind] = s
	return s
}

func (c candidate) describe(w *weigher) string {
	p := c.p
	switch c.kind {
	case kindInflight:
		return fmt.Sprintf("requests were open when %s's container exited, and ended with it", p.name)
	case kindDrained:
		ran := "until " + format.Offset(w.t0, p.exited)
		if p.exitStamped {
			ran = "until at least " + format.Offset(w.t0, p.exitLo) + " (its container's finishedAt)"
		}
		return fmt.Sprintf("not %s: its successes stopped at %s while it ran %s, so the load balancer no longer sent it requests", p.name, format.Offset(w.t0, p.lastOK), ran)
	case kindServed:
		return fmt.Sprintf("not %s: it served from %s", p.name, format.Offset(w.t0, p.firstOK))
	}
	if c.kind == kindNew {
		switch {
		case !p.firstOK.IsZero():
			return fmt.Sprintf("%s was Ready and served its first request only at %s", p.name, format.Offset(w.t0, p.firstOK))
		case w.headers:
			return fmt.Sprintf("%s was Ready but no success named it yet", p.name)
		}
		return fmt.Sprintf("%s was Ready since %s (no success named its pod, so when it began to serve is unknown)", p.name, format.Offset(w.t0, p.ready))
	}
	switch {
	case !p.exited.IsZero() && !p.lastOK.IsZero():
		return fmt.Sprintf("%s served until %s and exited %s", p.name, format.Offset(w.t0, p.lastOK), p.exitText(w.t0))
	case !p.exited.IsZero():
		return fmt.Sprintf("%s exited %s", p.name, p.exitText(w.t0))
	case !p.lastOK.IsZero():
		return fmt.Sprintf("%s's last success was at %s", p.name, format.Offset(w.t0, p.lastOK))
	}
	return fmt.Sprintf("%s was terminating since %s (when it stopped serving is unknown)", p.name, format.Offset(w.t0, p.del))
}
