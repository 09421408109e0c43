package diagnosis

import (
	"slices"
	"time"

	"github.com/rollcheck/rollcheck/attack"
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
	d := newDiagnoser(in, a, pre, opt)
	its := items(a)
	// The signature needs load through more than one node: through one
	// alone, a pod that does not serve fails only there too.
	d.signature = len(a.ByEntryNode) >= 2 && d.lags.nodeSignature(its)
	for _, it := range its {
		if it.class == attack.ClassTimeout && a.Max > 0 && it.lat >= a.Max-10*time.Millisecond {
			d.slowestTimedOut = true
		}
		at := d.attribute(it)
		d.refine(it, &at)
		d.tally(it, at)
	}
	return d.result()
}

func orNew(pods map[string]*life, name string) *life {
	if p := pods[name]; p != nil {
		return p
	}
	return &life{name: name}
}
