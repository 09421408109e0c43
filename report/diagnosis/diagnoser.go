package diagnosis

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// diagnoser is one diagnosis under way: what it reads (the run's input,
// its load, the pods' lifecycles, the Service's ready endpoints, the
// nodes' kube-proxy lags) and what it adds up, failure item by item.
type diagnoser struct {
	in        Input
	a         *attack.Result
	pre       preStops
	opt       Options
	fm        frontModel
	pods      map[string]*life
	steps     readySteps
	backs     backends
	lags      proxyLags
	gaps      nodeGapsOf
	t0        time.Time
	emptyCode CauseCode
	w         *weigher
	// signature: only the lagging nodes failed (proxyLags.nodeSignature).
	signature bool

	accs            map[CauseCode]*causeAcc
	groups          map[attributedKey]*Attributed
	order           []attributedKey
	byHeader        int
	byWindow        int
	longestCut      time.Duration
	slowestTimedOut bool
}

// attributedKey groups the failures of one row of the attribution table.
type attributedKey struct {
	pod, phase, by, alt string
	cause               CauseCode
	conf                Confidence
}

// attribution is what one item of failures was put down to.
type attribution struct {
	p     *life
	by    string
	code  CauseCode
	wg    weighing
	conf  Confidence
	basis []string
	// empty is the weighted backend Service that had no ready endpoint.
	empty *emptyBackend
}

func newDiagnoser(in Input, a *attack.Result, pre preStops, opt Options) *diagnoser {
	d := &diagnoser{in: in, a: a, pre: pre, fm: frontOf(in.Front), opt: opt.withDefaults(),
		accs: map[CauseCode]*causeAcc{}, groups: map[attributedKey]*Attributed{}}
	d.pods = lifecycles(in.Events)
	for name, t := range a.FirstByPod {
		d.pods[name] = orNew(d.pods, name)
		d.pods[name].firstOK = t
	}
	for name, t := range a.LastByPod {
		d.pods[name] = orNew(d.pods, name)
		d.pods[name].lastOK = t
	}
	d.steps = readyEndpoints(in.Events, in.Services)
	d.backs = backendsOf(in)
	d.lags = newProxyLags(in.ProxyLags)
	if in.NodeTargets != nil {
		d.gaps = nodeGapsOf{noReady: nodeGaps(in.Events, in.NodeTargets.Service, false), noServing: nodeGaps(in.Events, in.NodeTargets.Service, true)}
	}
	d.t0 = a.Start
	if d.t0.IsZero() && len(in.Events) > 0 {
		d.t0 = in.Events[0].Time
	}
	// A drain's empty Service is its evictions' doing, a rollout's its
	// strategy's.
	d.emptyCode = NoReadyEndpoints
	if in.Drain != nil {
		d.emptyCode = DrainNoReadyEndpoints
	}
	d.w = &weigher{drain: in.Drain, x: newIndex(d.pods, d.opt), t0: d.t0, steps: d.steps, rate: a.Rate, preStop: pre.serving, preStopKnown: pre.known,
		headers: len(a.FirstByPod) > 0 || len(a.LastByPod) > 0, listening: listensWhenReady(in), buckets: a.Buckets, bucketWidth: a.BucketWidth,
		front: d.fm, goaways: a.ByClass[attack.ClassGoaway], stopsAtOnce: pre.stopsAtOnce, containers: pre.containers}
	return d
}

func (d *diagnoser) acc(code CauseCode) *causeAcc {
	c := d.accs[code]
	if c == nil {
		c = newCauseAcc(code)
		d.accs[code] = c
	}
	return c
}

// attribute puts one item down to a pod and a cause: the pod its response
// named, the Service's empty windows, a node without a pod of its own, or
// the time windows of the pods' lifecycles.
func (d *diagnoser) attribute(it item) attribution {
	in, opt, steps, preStop := d.in, d.opt, d.steps, d.pre.serving
	at := attribution{conf: ConfidenceHigh}
	switch {
	case it.pod != "":
		p := orNew(d.pods, it.pod)
		d.pods[it.pod] = p
		at.p, at.by = p, ByPodHeader
		at.code = classify(p, it, preStop, opt)
		at.basis = []string{"the response named its pod"}
		if shedByReadyPod(in, p, it, at.code, steps, d.t0) {
			at.code = DrainTooFewReadyPods
			at.basis = []string{fmt.Sprintf("the response named a ready pod, which answered 503 while the drain had the Service at %d ready endpoints of %d", steps.count(it.t), steps.count(d.t0))}
		}
	case (windowable(it.class) || it.class == attack.Class4xx) && steps.count(it.t) == 0:
		// The Service had no ready endpoint when the request was
		// sent: whatever the front made of it (a 503, a refusal, a
		// reset from a forwarder, a timeout, Traefik's own 404 once
		// the route has no endpoint), that window is its cause
		// first, and no pod's routing lag explains it. A response
		// that named its pod is the pod's (the case above).
		at.code = d.emptyCode
		at.basis = []string{"the Service had no ready endpoint when the request was sent (its EndpointSlices, as rollcheck watched them)"}
	case (windowable(it.class) || it.class == attack.Class4xx) && d.backs.empty(it.t, opt.RegistrationWindow) != nil:
		// A weighted route sent the request's share to a backend
		// Service with no ready endpoint: the front answers for it.
		b := d.backs.empty(it.t, opt.RegistrationWindow)
		at.code, at.empty = NoReadyEndpoints, b
		at.basis = []string{fmt.Sprintf("Service %s had no ready endpoint while the route gave it weight %d", b.Service, b.Weight)}
		if b.lagging {
			at.conf, at.basis = ConfidenceMedium, []string{fmt.Sprintf("Service %s had no ready endpoint, and the route had given it weight %d shortly before (the front applying the change)", b.Service, b.Weight)}
		}
	case (it.class == attack.Class503 || it.class == attack.Class4xx && it.pod == "") && steps.zeroWithin(it.t, opt.RegistrationWindow):
		// A front answers for itself until it has registered the
		// endpoints that came back: a load balancer's 503, Traefik's
		// 404 until it has put the route back.
		at.code = d.emptyCode
		at.basis = []string{"the Service had no ready endpoint at the time of the front's answers"}
		// Once endpoints are back, the front's own answers last until
		// it has registered them: up to its first success since, that
		// is evidence; after one, the window is a default's guess.
		if back := steps.regained(it.t); !back.IsZero() {
			if d.w.servedBetween(back, it.t) {
				at.conf, at.basis = ConfidenceMedium, []string{"the Service had regained ready endpoints shortly before (the load balancer registering them)"}
			} else {
				at.basis = []string{"the Service had regained ready endpoints shortly before, and the front had not served a request since (it had not registered them yet)"}
			}
		}
	case in.NodeTargets != nil && hasSpan(in.NodeTargets.gap(d.gaps, it)):
		// Sent to a node that had no ready pod of its own: with
		// externalTrafficPolicy Local its kube-proxy sent it to the
		// node's terminating pods, or dropped it once none served.
		g, _ := in.NodeTargets.gap(d.gaps, it)
		at.code = NodeTargetDeregistration
		what := "only terminating ones, which its kube-proxy falls back to"
		if _, ok := d.gaps.noServing.at(it.node, it.t); ok {
			what = "and none serving: its kube-proxy drops such traffic"
		}
		at.basis = []string{fmt.Sprintf("entered through node %s, which had had no ready pod of Service %s for %s (%s; externalTrafficPolicy Local)", it.node, in.NodeTargets.Service, format.Sec(it.t.Sub(g.from)), what)}
	case windowable(it.class):
		wg := d.w.weigh(it)
		// A new pod's window against a terminating pod's, neither sure:
		// the request entered through a node whose kube-proxy still
		// held the terminating pod (its sync metrics) went to that pod.
		if wg.kind == kindNew && wg.alt.kind == kindRouted && wg.alt.p != nil && !keptClosed(it) {
			if _, ok := d.lags.stale(podName(wg.alt.p), it.node, it.t); ok {
				wg.p, wg.kind, wg.alt = wg.alt.p, kindRouted, candidate{p: wg.p, kind: kindNew}
				wg.basis[0], wg.basis[1] = wg.basis[1], wg.basis[0]
			}
		}
		at.wg = wg
		if wg.p != nil {
			at.p, at.by, at.conf, at.basis = wg.p, ByTimeWindow, wg.conf, wg.basis[:]
		}
		at.code = d.fm.keptCode(it, wg.code(it, preStop, opt))
		switch {
		case at.code == KeptConnectionClosed:
			at.basis = append(at.basis, "through "+d.fm.via)
		case it.class == attack.ClassTimeout && d.fm.dialsPodIPs && (at.code == TerminatingPodStillRouted || at.code == LBDeregistrationLag):
			// Sent at it.t to a pod that had gone: its IP no longer
			// answered, and the request waited for its deadline.
			at.basis = append(at.basis, "timed out through "+d.fm.name+", which dials the pod's IP: a request still sent to a gone pod meets a dead address and waits for its deadline")
		}
	default:
		at.code = Unattributed
	}
	return at
}

// refine corrects an attribution with what else the run saw: the node a
// new connection entered through, its kube-proxy's lag, the pod's proxy
// sidecar, an HTTP/2 connection that ended without a GOAWAY; and says why
// an unattributed failure is one.
func (d *diagnoser) refine(it item, at *attribution) {
	lags, fm, code := d.lags, d.fm, at.code
	if fm.pins && !it.reused && it.n == 1 && at.by != ByPodHeader && windowable(it.class) && (code == TerminatingPodStillRouted || code == LBDeregistrationLag || code == Unattributed) &&
		(at.p == nil || lags.left(podName(at.p), it.node, it.t)) {
		// The request opened its own connection at the node (kube-proxy,
		// an NLB), whose rules had dropped the pod the time window gave,
		// if any: it cannot have gone there. It went to a pod the
		// node's rules still held after its removal, gone by then.
		if q, ok := lags.staleGone(d.pods, it.node, it.t); ok {
			if at.p != nil {
				at.basis = append(at.basis, fmt.Sprintf("node %s's rules had dropped %s by then (its sync metrics), so the new connection went to another pod they still held", it.node, at.p.name))
			}
			at.p, at.by, at.code = q, ByTimeWindow, TerminatingPodStillRouted
			if at.conf == ConfidenceHigh {
				at.conf = ConfidenceMedium
			}
		}
	}
	if l, ok := lags.stale(podName(at.p), it.node, it.t); ok && (at.code == TerminatingPodStillRouted || at.code == LBDeregistrationLag) && !keptClosed(it) {
		at.code = KubeProxyLag
		at.basis = append(at.basis, fmt.Sprintf("entered through node %s, whose kube-proxy applied the pod's removal %s after it (its sync metrics)", l.Node, format.Sec(l.Applied.Sub(l.Changed))))
		if d.signature {
			// Only the lagging nodes failed: no pod's own failure
			// to serve (which fails through every node) fits.
			at.conf, at.wg.alt = ConfidenceHigh, candidate{}
			at.basis = append(at.basis, "every failure sent while a node lagged entered through a lagging node, none through the nodes that had caught up")
		}
		if !l.Earliest.IsZero() && !it.t.Before(l.Earliest) && at.conf == ConfidenceHigh {
			// Sent when the node may already have applied it: its
			// syncs leave a range.
			at.conf = ConfidenceMedium
		}
	}
	containers := d.pre.containers
	if slices.Contains(terminationCut, at.code) {
		if s, app, ok := containers.stoppedFirst(at.p, it); ok {
			at.code = SidecarStoppedFirst
			if at.p.sidecar == "" {
				at.p.sidecar, at.p.app = s, app
			}
			at.basis = append(at.basis, fmt.Sprintf("its proxy container %s had exited while container %s still ran", s, app))
		}
	}
	if at.code == NewPodNotServing && len(containers.unprobed) > 0 {
		at.code = AppReadyBeforeSidecar
		at.basis = append(at.basis, fmt.Sprintf("its proxy container %s takes the traffic with no readiness probe on its port, while the app's probe made the pod Ready", containers.unprobed[0]))
	}
	if noGoaway(d.a, it, at.code) {
		at.code = HTTP2ClosedWithoutGoaway
		at.basis = append(at.basis, "over HTTP/2 the stream's connection, which every request to the target shared, ended without a GOAWAY (after one, the transport says so)")
	}
	if at.code == Unattributed {
		at.conf = ConfidenceLow
		switch {
		case at.by == ByPodHeader:
			at.basis = []string{"the response named a pod that was neither starting nor terminating"}
		case windowable(it.class):
			at.p, at.by = nil, ""
			at.basis = []string{"no pod was starting or terminating around them, and the responses named none"}
		default:
			at.p, at.by = nil, ""
			at.basis = []string{"the app answered them itself (" + string(it.class) + ") without naming its pod"}
		}
	}
}

// tally adds one attributed item to its cause, its pod's lifecycle, its
// row of the attribution table and, when the time windows left another
// cause open, to that alternative.
func (d *diagnoser) tally(it item, at attribution) {
	p, code, conf := at.p, at.code, at.conf
	if p != nil && !code.emptyService() {
		switch at.by {
		case ByPodHeader:
			d.byHeader += it.n
		case ByTimeWindow:
			d.byWindow += it.n
		}
	}
	c := d.acc(code)
	c.note(it.n, conf, at.basis...)
	if code == KubeProxyLag || code == NodeTargetDeregistration {
		if c.nodes == nil {
			c.nodes, c.nodeLast = map[string]int{}, map[string]time.Time{}
		}
		c.nodes[it.node] += it.n
		if it.t.After(c.nodeLast[it.node]) {
			c.nodeLast[it.node] = it.t
		}
	}
	if empty := at.empty; empty != nil {
		if c.empty == nil {
			c.empty = map[string]*emptyBackend{}
		}
		e := c.empty[empty.Service]
		if e == nil {
			e = empty
			c.empty[empty.Service] = e
		}
		e.failures += it.n
		if !slices.Contains(e.weights, empty.Weight) {
			e.weights = append(e.weights, empty.Weight)
		}
	}
	k := attributedKey{cause: code, conf: conf}
	if p != nil && !code.emptyService() {
		k.pod, k.phase, k.by = p.name, p.phase(it.t), at.by
		c.add(it, p.name)
		var shared *life
		if at.wg.p == p {
			shared = at.wg.shared
		}
		d.tallyPod(it, p, code, conf, shared)
	} else {
		c.add(it, "")
	}
	if o := at.wg.alt; o.p != nil {
		altCode := d.fm.keptCode(it, weighing{p: o.p, kind: o.kind}.code(it, d.pre.serving, d.opt))
		al := c.alts[altCode]
		if al == nil {
			al = &altAcc{pods: map[string]int{}}
			c.alts[altCode] = al
		}
		al.n += it.n
		al.pods[o.p.name] += it.n
		k.alt = string(altCode) + " " + o.p.name
		oc := d.acc(altCode)
		if oc.also == 0 || it.t.Before(oc.alsoFrom) {
			oc.alsoFrom = it.t
		}
		if it.t.After(oc.alsoTo) {
			oc.alsoTo = it.t
		}
		oc.also += it.n
		oc.alsoPods[o.p.name] += it.n
	}
	g := d.groups[k]
	if g == nil {
		g = &Attributed{Pod: k.pod, Phase: k.phase, By: k.by, Cause: code, From: it.t, Confidence: conf, Alternative: k.alt}
		d.groups[k] = g
		d.order = append(d.order, k)
	}
	g.Failures += it.n
	g.To = it.t
}

// tallyPod adds an item tied to pod p to what its lifecycle measures.
// shared is an old pod that may have failed the item instead (weighing.shared).
func (d *diagnoser) tallyPod(it item, p *life, code CauseCode, conf Confidence, shared *life) {
	if p.firstFail.IsZero() {
		p.firstFail = it.t
	}
	if !p.del.IsZero() && !it.t.Before(p.del) && p.firstTermFail.IsZero() {
		p.firstTermFail, p.firstTermFailEnd = it.t, it.t.Add(it.lat)
	}
	switch code {
	case TerminatingPodStillRouted, LBDeregistrationLag, KubeProxyLag:
		// Only a failure firmly tied to the pod measures how
		// long the load balancer kept routing to it, and only
		// a request the front routed then: a kept connection
		// closed under it was routed when it was opened.
		switch {
		case keptClosed(it):
		case shared != nil:
			p.lastRoutedShared, p.sharedWith = it.t, shared.name
		case conf == ConfidenceHigh:
			p.lastRouted = it.t
		default:
			p.lastRoutedUnsure = it.t
		}
		p.terminatingFailures += it.n
	case InflightCut:
		p.terminatingFailures += it.n
		d.longestCut = max(d.longestCut, it.lat)
	case KeptConnectionClosed, HTTP2ClosedWithoutGoaway:
		p.terminatingFailures += it.n
	case NewPodNotServing, AppReadyBeforeSidecar:
		p.newFailures += it.n
		if conf == ConfidenceHigh {
			p.lastNewFail = it.t
		}
	}
}

// result turns what was added up into the diagnosis: the attribution, the
// measurements and the causes, most failures first.
func (d *diagnoser) result() *Result {
	accs, lags, fm, w := d.accs, d.lags, d.fm, d.w
	r := &Result{}
	if c := accs[NoReadyEndpoints]; c != nil {
		for _, b := range c.empty {
			r.emptyBackends = append(r.emptyBackends, *b)
		}
		sort.Slice(r.emptyBackends, func(i, j int) bool { return r.emptyBackends[i].Service < r.emptyBackends[j].Service })
	}
	switch {
	case d.byHeader > 0 && d.byWindow > 0:
		r.Attribution = ByBoth
	case d.byHeader > 0:
		r.Attribution = ByPodHeader
	case d.byWindow > 0:
		r.Attribution = ByTimeWindow
	}
	for _, k := range d.order {
		r.Attributed = append(r.Attributed, *d.groups[k])
	}
	r.Measurements = measure(d.in, d.a, d.pods, d.steps, d.pre.serving, d.pre.byContainer, fm)
	if d.longestCut > 0 {
		r.Measurements.LongestCut = secsPtr(d.longestCut)
	}
	r.Measurements.slowestTimedOut = d.slowestTimedOut
	if c := accs[KubeProxyLag]; c != nil {
		if l, ok := lags.slowest(sortedKeys(c.pods)); ok {
			r.Measurements.SlowestKubeProxy = &SlowestProxy{Node: l.Node, Pod: l.Pod, Lag: l.Applied.Sub(l.Changed).Seconds(), Precise: l.Precise, failed: true}
		}
	}
	if fm.pinsBehind && (accs[KubeProxyLag] != nil || accs[TerminatingPodStillRouted] != nil || accs[LBDeregistrationLag] != nil || accs[InflightCut] != nil) {
		// Through node targets every node's kube-proxy picks the pod of a
		// new connection: a terminating pod must keep serving until the
		// slowest of them has applied its removal, whether or not this
		// run's few new connections came through that node in time.
		if l, ok := lags.slowest(lags.pods()); ok && (r.Measurements.SlowestKubeProxy == nil || l.Applied.Sub(l.Changed).Seconds() > r.Measurements.SlowestKubeProxy.Lag) {
			r.Measurements.SlowestKubeProxy = &SlowestProxy{Node: l.Node, Pod: l.Pod, Lag: l.Applied.Sub(l.Changed).Seconds(), Precise: l.Precise}
		}
	}
	w.lags, w.nodeTargets, w.gaps = lags, d.in.NodeTargets, d.gaps
	if c := accs[DrainTooFewReadyPods]; c != nil {
		w.overload = w.overloadOf(c)
		r.overload = w.overload
	}
	for _, c := range accs {
		r.Causes = append(r.Causes, c.cause(d.pods, d.steps, d.t0, d.pre.serving, r.Measurements, w))
	}
	sort.Slice(r.Causes, func(i, j int) bool {
		ci, cj := r.Causes[i], r.Causes[j]
		if (ci.Code == Unattributed) != (cj.Code == Unattributed) {
			return cj.Code == Unattributed
		}
		if ci.Failures != cj.Failures {
			return ci.Failures > cj.Failures
		}
		return ci.Code < cj.Code
	})
	return r
}
