package diagnosis

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// CauseCode is a stable identifier of why requests failed (DESIGN.md
// "Failures and causes"). Codes are never renamed.
type CauseCode string

// Cause codes.
const (
	TerminatingPodStillRouted CauseCode = "TERMINATING_POD_STILL_ROUTED"
	LBDeregistrationLag       CauseCode = "LB_DEREGISTRATION_LAG"
	InflightCut               CauseCode = "INFLIGHT_CUT"
	NoReadyEndpoints          CauseCode = "NO_READY_ENDPOINTS"
	NewPodNotServing          CauseCode = "NEW_POD_NOT_SERVING"
	// DrainNoReadyEndpoints: a node drain's evictions left the Service
	// with no ready endpoint. The rollout strategy played no part: the
	// drain evicted the pods on the node at once (no PodDisruptionBudget,
	// or one that allowed that many), and their replicas shared the node.
	DrainNoReadyEndpoints CauseCode = "DRAIN_NO_READY_ENDPOINTS"
	// KeptConnectionClosed: through a front that pins connections
	// (kube-proxy, an NLB), a terminating pod closed or reset a kept-alive
	// connection under a request. The connection was routed when it was
	// opened; only the pod's graceful close of its connections ends it
	// cleanly, and a preStop only delays it.
	KeptConnectionClosed CauseCode = "KEPT_CONNECTION_CLOSED"
	Unattributed         CauseCode = "UNATTRIBUTED"
)

// emptyService: the cause is a Service with no ready endpoint, in a
// rollout or in a drain; no pod's routing explains its failures.
func (c CauseCode) emptyService() bool {
	return c == NoReadyEndpoints || c == DrainNoReadyEndpoints
}

// Ways a failure is tied to a pod.
const (
	ByPodHeader  = "pod-header"  // the response named the pod
	ByTimeWindow = "time-window" // the pod's lifecycle window contained the failure time
	ByBoth       = "mixed"       // some failures one way, some the other
)

// Options tune the time windows of attribution. Zero values take
// the defaults.
type Options struct {
	// LagWindow is the longest after a terminating pod left the endpoints
	// (or exited) a failure may still be blamed on it: the load balancer's
	// deregistration lag. Default 30 s (ALB typically 2-20 s, FACTS.md
	// §4). It is an outer bound: within it, the pod's window stays open
	// only while failures keep coming, and a pod whose own successes
	// stopped while it still served is not blamed at all.
	LagWindow time.Duration
	// StartWindow is the longest after a new pod turned ready a failure
	// may be blamed on it, when no success names the pod (its first
	// success ends the window otherwise). Default 10 s.
	StartWindow time.Duration
	// RegistrationWindow is how long after ready endpoints came back from
	// zero a 503 without pod header still counts as NO_READY_ENDPOINTS (the
	// load balancer registering the new targets). Default 5 s.
	RegistrationWindow time.Duration
	// PromptStop is the deletion-to-stop time under which a pod counts as
	// having stopped serving at once on SIGTERM. Default 1 s: a kubelet
	// acts on a deletion within a few hundred milliseconds on an idle
	// node, later on a busy one, and a drain or preStop that counts lasts
	// a second or more.
	PromptStop time.Duration
}

func (o Options) withDefaults() Options {
	if o.LagWindow <= 0 {
		o.LagWindow = 30 * time.Second
	}
	if o.StartWindow <= 0 {
		o.StartWindow = 10 * time.Second
	}
	if o.RegistrationWindow <= 0 {
		o.RegistrationWindow = 5 * time.Second
	}
	if o.PromptStop <= 0 {
		o.PromptStop = time.Second
	}
	return o
}

// Cause is one reason requests failed, with the numbers to check it by.
type Cause struct {
	Code     CauseCode      `json:"code"`
	Failures int            `json:"failures"`
	Pods     []string       `json:"pods"`
	From     time.Time      `json:"from"`
	To       time.Time      `json:"to"`
	ByClass  map[string]int `json:"by_class"`
	Evidence string         `json:"evidence"`
	// PredictedBy names the preflight (lint) rules that foresaw this cause.
	PredictedBy []string `json:"predicted_by,omitempty"`
	// Uncertain says which watch gaps overlap the failures or the pods'
	// transitions of this cause ("" when none): its times and lags may be
	// off (Evidence says so too).
	Uncertain string `json:"uncertain,omitempty"`
	// Confidence says how firmly the evidence ties these failures to this
	// cause, and Basis is what it rests on. Only a cause of high
	// confidence yields numbers in the recommendations.
	Confidence Confidence `json:"confidence,omitempty"`
	Basis      []string   `json:"basis,omitempty"`
	// Alternatives are the other causes that fit some of these failures
	// as well; SeparateBy says what evidence would tell them apart.
	Alternatives []Alternative `json:"alternatives,omitempty"`
	SeparateBy   []string      `json:"separate_by,omitempty"`
	// AlsoExplains counts the failures counted under other causes that
	// this cause fits as well. A cause named only as an alternative has
	// no failures of its own: Failures 0, AlsoExplains > 0.
	AlsoExplains int `json:"also_explains,omitempty"`
}

// Alternative is another cause that fits some failures of a cause as well.
type Alternative struct {
	Code     CauseCode `json:"code"`
	Pods     []string  `json:"pods"`
	Failures int       `json:"failures"` // how many of the cause's failures it fits
}

// Attributed counts the failures tied to one pod in one phase for one cause.
type Attributed struct {
	Pod      string    `json:"pod,omitempty"`  // "" when no pod explains them
	Node     string    `json:"node,omitempty"` // the Node the pod was bound to ("" unknown)
	Phase    string    `json:"phase,omitempty"`
	By       string    `json:"by,omitempty"` // pod-header or time-window
	Cause    CauseCode `json:"cause"`
	Failures int       `json:"failures"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	// Confidence of the tie, and the cause and pod that fit these
	// failures as well ("" when none).
	Confidence  Confidence `json:"confidence,omitempty"`
	Alternative string     `json:"alternative,omitempty"`
}

// causeAcc accumulates one cause.
type causeAcc struct {
	code     CauseCode
	failures int
	pods     map[string]int
	byClass  map[string]int
	from, to time.Time
	conf     map[Confidence]int
	basis    []string
	more     int // distinct bases beyond maxBasis
	alts     map[CauseCode]*altAcc
	// also counts the failures under other causes this one fits as well.
	also             int
	alsoFrom, alsoTo time.Time
	alsoPods         map[string]int
	// empty counts NO_READY_ENDPOINTS's failures a weighted route sent to
	// a backend Service with no ready endpoint, by that Service.
	empty map[string]*emptyBackend
	// nodes counts KUBE_PROXY_LAG's and NODE_TARGET_DEREGISTRATION_LAG's
	// failures by the node they entered through; nodeLast is when the last
	// of them was sent.
	nodes    map[string]int
	nodeLast map[string]time.Time
}

// altAcc accumulates one alternative of a cause.
type altAcc struct {
	pods map[string]int
	n    int
}

const maxBasis = 4

func newCauseAcc(code CauseCode) *causeAcc {
	return &causeAcc{code: code, pods: map[string]int{}, byClass: map[string]int{}, conf: map[Confidence]int{}, alts: map[CauseCode]*altAcc{}, alsoPods: map[string]int{}}
}

// note records how firmly n failures are tied to the cause and why.
func (c *causeAcc) note(n int, conf Confidence, basis ...string) {
	c.conf[conf] += n
	for _, b := range basis {
		switch {
		case b == "" || slices.Contains(c.basis, b):
		case len(c.basis) < maxBasis:
			c.basis = append(c.basis, b)
		default:
			c.more++
		}
	}
}

// confidence is the weakest level that covers at least a tenth of the
// cause's failures.
func (c *causeAcc) confidence() Confidence {
	for _, l := range []Confidence{ConfidenceLow, ConfidenceMedium} {
		if n := c.conf[l]; n > 0 && n*10 >= c.failures {
			return l
		}
	}
	return ConfidenceHigh
}

func (c *causeAcc) add(it item, pod string) {
	if c.failures == 0 || it.t.Before(c.from) {
		c.from = it.t
	}
	if it.t.After(c.to) {
		c.to = it.t
	}
	c.failures += it.n
	c.byClass[string(it.class)] += it.n
	if pod != "" {
		c.pods[pod] += it.n
	}
}

// preStops are the preStop hooks of the Deployment, as the diagnosis
// weighs them.
type preStops struct {
	// serving is the preStop sleep the serving containers run (the
	// shortest): when a terminating pod may stop serving.
	serving time.Duration
	// byContainer is each container's sleep, by name, for the shutdown
	// each one took (nil: the Deployment is unknown).
	byContainer map[string]time.Duration
	// known: the Deployment is known and every hook's length with it.
	known bool
	// stopsAtOnce are the serving containers whose server SIGTERM stops
	// at once (settings.stopsAtOnce).
	stopsAtOnce []serverStop
	// containers says which containers are proxy sidecars.
	containers containersOf
}

// diagnose ties every failure to a pod and a phase, names the causes and
// measures the lifecycle. It is O((failures + events) · log pods).
//
// pre says what the Deployment's preStop hooks are.
func diagnose(in Input, a *attack.Result, pre preStops, opt Options) *Result {
	preStop := pre.serving
	fm := frontOf(in.Front)
	opt = opt.withDefaults()
	pods := lifecycles(in.Events)
	for name, t := range a.FirstByPod {
		pods[name] = orNew(pods, name)
		pods[name].firstOK = t
	}
	for name, t := range a.LastByPod {
		pods[name] = orNew(pods, name)
		pods[name].lastOK = t
	}
	steps := readyEndpoints(in.Events, in.Services)
	backs := backendsOf(in)
	x := newIndex(pods, opt)
	lags := newProxyLags(in.ProxyLags)
	var gaps nodeGapsOf
	if in.NodeTargets != nil {
		gaps = nodeGapsOf{noReady: nodeGaps(in.Events, in.NodeTargets.Service, false), noServing: nodeGaps(in.Events, in.NodeTargets.Service, true)}
	}
	t0 := a.Start
	if t0.IsZero() && len(in.Events) > 0 {
		t0 = in.Events[0].Time
	}
	// A drain's empty Service is its evictions' doing, a rollout's its
	// strategy's.
	emptyCode := NoReadyEndpoints
	if in.Drain != nil {
		emptyCode = DrainNoReadyEndpoints
	}
	w := &weigher{drain: in.Drain, x: x, t0: t0, steps: steps, rate: a.Rate, preStop: preStop, preStopKnown: pre.known, headers: len(a.FirstByPod) > 0 || len(a.LastByPod) > 0, listening: listensWhenReady(in), buckets: a.Buckets, bucketWidth: a.BucketWidth, front: fm, goaways: a.ByClass[attack.ClassGoaway], stopsAtOnce: pre.stopsAtOnce, containers: pre.containers}
	containers := pre.containers

	accs := map[CauseCode]*causeAcc{}
	acc := func(code CauseCode) *causeAcc {
		c := accs[code]
		if c == nil {
			c = newCauseAcc(code)
			accs[code] = c
		}
		return c
	}
	type akey struct {
		pod, phase, by, alt string
		cause               CauseCode
		conf                Confidence
	}
	groups := map[akey]*Attributed{}
	var order []akey
	byHeader, byWindow := 0, 0
	var longestCut time.Duration
	slowestTimedOut := false
	its := items(a)
	// The signature needs load through more than one node: through one
	// alone, a pod that does not serve fails only there too.
	signature := len(a.ByEntryNode) >= 2 && lags.nodeSignature(its)
	for _, it := range its {
		if it.class == attack.ClassTimeout && a.Max > 0 && it.lat >= a.Max-10*time.Millisecond {
			slowestTimedOut = true
		}
		var (
			p     *life
			by    string
			code  CauseCode
			wg    weighing
			conf  = ConfidenceHigh
			basis []string
			empty *emptyBackend
		)
		switch {
		case it.pod != "":
			p, by = orNew(pods, it.pod), ByPodHeader
			pods[it.pod] = p
			code = classify(p, it, preStop, opt)
			basis = []string{"the response named its pod"}
			if shedByReadyPod(in, p, it, code, steps, t0) {
				code = DrainTooFewReadyPods
				basis = []string{fmt.Sprintf("the response named a ready pod, which answered 503 while the drain had the Service at %d ready endpoints of %d", steps.count(it.t), steps.count(t0))}
			}
		case (windowable(it.class) || it.class == attack.Class4xx) && steps.count(it.t) == 0:
			// The Service had no ready endpoint when the request was
			// sent: whatever the front made of it (a 503, a refusal, a
			// reset from a forwarder, a timeout, Traefik's own 404 once
			// the route has no endpoint), that window is its cause
			// first, and no pod's routing lag explains it. A response
			// that named its pod is the pod's (the case above).
			code = emptyCode
			basis = []string{"the Service had no ready endpoint when the request was sent (its EndpointSlices, as rollcheck watched them)"}
		case (windowable(it.class) || it.class == attack.Class4xx) && backs.empty(it.t, opt.RegistrationWindow) != nil:
			// A weighted route sent the request's share to a backend
			// Service with no ready endpoint: the front answers for it.
			b := backs.empty(it.t, opt.RegistrationWindow)
			code, empty = NoReadyEndpoints, b
			basis = []string{fmt.Sprintf("Service %s had no ready endpoint while the route gave it weight %d", b.Service, b.Weight)}
			if b.lagging {
				conf, basis = ConfidenceMedium, []string{fmt.Sprintf("Service %s had no ready endpoint, and the route had given it weight %d shortly before (the front applying the change)", b.Service, b.Weight)}
			}
		case (it.class == attack.Class503 || it.class == attack.Class4xx && it.pod == "") && steps.zeroWithin(it.t, opt.RegistrationWindow):
			// A front answers for itself until it has registered the
			// endpoints that came back: a load balancer's 503, Traefik's
			// 404 until it has put the route back.
			code = emptyCode
			basis = []string{"the Service had no ready endpoint at the time of the front's answers"}
			// Once endpoints are back, the front's own answers last until
			// it has registered them: up to its first success since, that
			// is evidence; after one, the window is a default's guess.
			if back := steps.regained(it.t); !back.IsZero() {
				if w.servedBetween(back, it.t) {
					conf, basis = ConfidenceMedium, []string{"the Service had regained ready endpoints shortly before (the load balancer registering them)"}
				} else {
					basis = []string{"the Service had regained ready endpoints shortly before, and the front had not served a request since (it had not registered them yet)"}
				}
			}
		case in.NodeTargets != nil && hasSpan(in.NodeTargets.gap(gaps, it)):
			// Sent to a node that had no ready pod of its own: with
			// externalTrafficPolicy Local its kube-proxy sent it to the
			// node's terminating pods, or dropped it once none served.
			g, _ := in.NodeTargets.gap(gaps, it)
			code = NodeTargetDeregistration
			what := "only terminating ones, which its kube-proxy falls back to"
			if _, ok := gaps.noServing.at(it.node, it.t); ok {
				what = "and none serving: its kube-proxy drops such traffic"
			}
			basis = []string{fmt.Sprintf("entered through node %s, which had had no ready pod of Service %s for %s (%s; externalTrafficPolicy Local)", it.node, in.NodeTargets.Service, format.Sec(it.t.Sub(g.from)), what)}
		case windowable(it.class):
			wg = w.weigh(it)
			// A new pod's window against a terminating pod's, neither sure:
			// the request entered through a node whose kube-proxy still
			// held the terminating pod (its sync metrics) went to that pod.
			if wg.kind == kindNew && wg.alt.kind == kindRouted && wg.alt.p != nil && !keptClosed(it) {
				if _, ok := lags.stale(podName(wg.alt.p), it.node, it.t); ok {
					wg.p, wg.kind, wg.alt = wg.alt.p, kindRouted, candidate{p: wg.p, kind: kindNew}
					wg.basis[0], wg.basis[1] = wg.basis[1], wg.basis[0]
				}
			}
			if wg.p != nil {
				p, by, conf, basis = wg.p, ByTimeWindow, wg.conf, wg.basis[:]
			}
			code = fm.keptCode(it, wg.code(it, preStop, opt))
			switch {
			case code == KeptConnectionClosed:
				basis = append(basis, "through "+fm.via)
			case it.class == attack.ClassTimeout && fm.dialsPodIPs && (code == TerminatingPodStillRouted || code == LBDeregistrationLag):
				// Sent at it.t to a pod that had gone: its IP no longer
				// answered, and the request waited for its deadline.
				basis = append(basis, "timed out through "+fm.name+", which dials the pod's IP: a request still sent to a gone pod meets a dead address and waits for its deadline")
			}
		default:
			code = Unattributed
		}
		if fm.pins && !it.reused && it.n == 1 && by != ByPodHeader && windowable(it.class) && (code == TerminatingPodStillRouted || code == LBDeregistrationLag || code == Unattributed) &&
			(p == nil || lags.left(podName(p), it.node, it.t)) {
			// The request opened its own connection at the node (kube-proxy,
			// an NLB), whose rules had dropped the pod the time window gave,
			// if any: it cannot have gone there. It went to a pod the
			// node's rules still held after its removal, gone by then.
			if q, ok := lags.staleGone(pods, it.node, it.t); ok {
				if p != nil {
					basis = append(basis, fmt.Sprintf("node %s's rules had dropped %s by then (its sync metrics), so the new connection went to another pod they still held", it.node, p.name))
				}
				p, by, code = q, ByTimeWindow, TerminatingPodStillRouted
				if conf == ConfidenceHigh {
					conf = ConfidenceMedium
				}
			}
		}
		if l, ok := lags.stale(podName(p), it.node, it.t); ok && (code == TerminatingPodStillRouted || code == LBDeregistrationLag) && !keptClosed(it) {
			code = KubeProxyLag
			basis = append(basis, fmt.Sprintf("entered through node %s, whose kube-proxy applied the pod's removal %s after it (its sync metrics)", l.Node, format.Sec(l.Applied.Sub(l.Changed))))
			if signature {
				// Only the lagging nodes failed: no pod's own failure
				// to serve (which fails through every node) fits.
				conf, wg.alt = ConfidenceHigh, candidate{}
				basis = append(basis, "every failure sent while a node lagged entered through a lagging node, none through the nodes that had caught up")
			}
			if !l.Earliest.IsZero() && !it.t.Before(l.Earliest) && conf == ConfidenceHigh {
				// Sent when the node may already have applied it: its
				// syncs leave a range.
				conf = ConfidenceMedium
			}
		}
		if slices.Contains(terminationCut, code) {
			if s, app, ok := containers.stoppedFirst(p, it); ok {
				code = SidecarStoppedFirst
				if p.sidecar == "" {
					p.sidecar, p.app = s, app
				}
				basis = append(basis, fmt.Sprintf("its proxy container %s had exited while container %s still ran", s, app))
			}
		}
		if code == NewPodNotServing && len(containers.unprobed) > 0 {
			code = AppReadyBeforeSidecar
			basis = append(basis, fmt.Sprintf("its proxy container %s takes the traffic with no readiness probe on its port, while the app's probe made the pod Ready", containers.unprobed[0]))
		}
		if noGoaway(a, it, code) {
			code = HTTP2ClosedWithoutGoaway
			basis = append(basis, "over HTTP/2 the stream's connection, which every request to the target shared, ended without a GOAWAY (after one, the transport says so)")
		}
		if code == Unattributed {
			conf = ConfidenceLow
			switch {
			case by == ByPodHeader:
				basis = []string{"the response named a pod that was neither starting nor terminating"}
			case windowable(it.class):
				p, by = nil, ""
				basis = []string{"no pod was starting or terminating around them, and the responses named none"}
			default:
				p, by = nil, ""
				basis = []string{"the app answered them itself (" + string(it.class) + ") without naming its pod"}
			}
		}
		if p != nil && !code.emptyService() {
			switch by {
			case ByPodHeader:
				byHeader += it.n
			case ByTimeWindow:
				byWindow += it.n
			}
		}
		c := acc(code)
		c.note(it.n, conf, basis...)
		if code == KubeProxyLag || code == NodeTargetDeregistration {
			if c.nodes == nil {
				c.nodes, c.nodeLast = map[string]int{}, map[string]time.Time{}
			}
			c.nodes[it.node] += it.n
			if it.t.After(c.nodeLast[it.node]) {
				c.nodeLast[it.node] = it.t
			}
		}
		if empty != nil {
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
		k := akey{cause: code, conf: conf}
		if p != nil && !code.emptyService() {
			k.pod, k.phase, k.by = p.name, p.phase(it.t), by
			c.add(it, p.name)
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
				case conf == ConfidenceHigh:
					p.lastRouted = it.t
				default:
					p.lastRoutedUnsure = it.t
				}
				p.terminatingFailures += it.n
			case InflightCut:
				p.terminatingFailures += it.n
				longestCut = max(longestCut, it.lat)
			case KeptConnectionClosed, HTTP2ClosedWithoutGoaway:
				p.terminatingFailures += it.n
			case NewPodNotServing, AppReadyBeforeSidecar:
				p.newFailures += it.n
				if conf == ConfidenceHigh {
					p.lastNewFail = it.t
				}
			}
		} else {
			c.add(it, "")
		}
		if o := wg.alt; o.p != nil {
			altCode := fm.keptCode(it, weighing{p: o.p, kind: o.kind}.code(it, preStop, opt))
			al := c.alts[altCode]
			if al == nil {
				al = &altAcc{pods: map[string]int{}}
				c.alts[altCode] = al
			}
			al.n += it.n
			al.pods[o.p.name] += it.n
			k.alt = string(altCode) + " " + o.p.name
			oc := acc(altCode)
			if oc.also == 0 || it.t.Before(oc.alsoFrom) {
				oc.alsoFrom = it.t
			}
			if it.t.After(oc.alsoTo) {
				oc.alsoTo = it.t
			}
			oc.also += it.n
			oc.alsoPods[o.p.name] += it.n
		}
		g := groups[k]
		if g == nil {
			g = &Attributed{Pod: k.pod, Phase: k.phase, By: k.by, Cause: code, From: it.t, Confidence: conf, Alternative: k.alt}
			groups[k] = g
			order = append(order, k)
		}
		g.Failures += it.n
		g.To = it.t
	}

	d := &Result{}
	if c := accs[NoReadyEndpoints]; c != nil {
		for _, b := range c.empty {
			d.emptyBackends = append(d.emptyBackends, *b)
		}
		sort.Slice(d.emptyBackends, func(i, j int) bool { return d.emptyBackends[i].Service < d.emptyBackends[j].Service })
	}
	switch {
	case byHeader > 0 && byWindow > 0:
		d.Attribution = ByBoth
	case byHeader > 0:
		d.Attribution = ByPodHeader
	case byWindow > 0:
		d.Attribution = ByTimeWindow
	}
	for _, k := range order {
		d.Attributed = append(d.Attributed, *groups[k])
	}
	d.Measurements = measure(in, a, pods, steps, preStop, pre.byContainer, fm)
	if longestCut > 0 {
		d.Measurements.LongestCut = secsPtr(longestCut)
	}
	d.Measurements.slowestTimedOut = slowestTimedOut
	if c := accs[KubeProxyLag]; c != nil {
		if l, ok := lags.slowest(sortedKeys(c.pods)); ok {
			d.Measurements.SlowestKubeProxy = &SlowestProxy{Node: l.Node, Pod: l.Pod, Lag: l.Applied.Sub(l.Changed).Seconds(), Precise: l.Precise, failed: true}
		}
	}
	if fm.pinsBehind && (accs[KubeProxyLag] != nil || accs[TerminatingPodStillRouted] != nil || accs[LBDeregistrationLag] != nil || accs[InflightCut] != nil) {
		// Through node targets every node's kube-proxy picks the pod of a
		// new connection: a terminating pod must keep serving until the
		// slowest of them has applied its removal, whether or not this
		// run's few new connections came through that node in time.
		if l, ok := lags.slowest(lags.pods()); ok && (d.Measurements.SlowestKubeProxy == nil || l.Applied.Sub(l.Changed).Seconds() > d.Measurements.SlowestKubeProxy.Lag) {
			d.Measurements.SlowestKubeProxy = &SlowestProxy{Node: l.Node, Pod: l.Pod, Lag: l.Applied.Sub(l.Changed).Seconds(), Precise: l.Precise}
		}
	}
	w.lags, w.nodeTargets, w.gaps = lags, in.NodeTargets, gaps
	if c := accs[DrainTooFewReadyPods]; c != nil {
		w.overload = w.overloadOf(c)
		d.overload = w.overload
	}
	for _, c := range accs {
		d.Causes = append(d.Causes, c.cause(pods, steps, t0, preStop, d.Measurements, w))
	}
	sort.Slice(d.Causes, func(i, j int) bool {
		ci, cj := d.Causes[i], d.Causes[j]
		if (ci.Code == Unattributed) != (cj.Code == Unattributed) {
			return cj.Code == Unattributed
		}
		if ci.Failures != cj.Failures {
			return ci.Failures > cj.Failures
		}
		return ci.Code < cj.Code
	})
	return d
}

func orNew(pods map[string]*life, name string) *life {
	if p := pods[name]; p != nil {
		return p
	}
	return &life{name: name}
}
