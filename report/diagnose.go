package report

import (
	"sort"
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
	Unattributed              CauseCode = "UNATTRIBUTED"
)

// Ways a failure is tied to a pod.
const (
	ByPodHeader  = "pod-header"  // the response named the pod
	ByTimeWindow = "time-window" // the pod's lifecycle window contained the failure time
	ByBoth       = "mixed"       // some failures one way, some the other
)

// DiagnosisOptions tune the time windows of attribution. Zero values take
// the defaults.
type DiagnosisOptions struct {
	// LagWindow is how long after a terminating pod left the endpoints (or
	// exited) a failure may still be blamed on it: the load balancer's
	// deregistration lag. Default 30 s (ALB typically 2-20 s, FACTS.md §4).
	LagWindow time.Duration
	// StartWindow is how long after a new pod turned ready a failure may be
	// blamed on it. Default 10 s.
	StartWindow time.Duration
	// RegistrationWindow is how long after ready endpoints came back from
	// zero a 503 without pod header still counts as NO_READY_ENDPOINTS (the
	// load balancer registering the new targets). Default 5 s.
	RegistrationWindow time.Duration
	// PromptStop is the deletion-to-stop time under which a pod counts as
	// having stopped serving at once on SIGTERM. Default 500 ms.
	PromptStop time.Duration
}

func (o DiagnosisOptions) withDefaults() DiagnosisOptions {
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
		o.PromptStop = 500 * time.Millisecond
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
}

// Attributed counts the failures tied to one pod in one phase for one cause.
type Attributed struct {
	Pod      string    `json:"pod,omitempty"` // "" when no pod explains them
	Phase    string    `json:"phase,omitempty"`
	By       string    `json:"by,omitempty"` // pod-header or time-window
	Cause    CauseCode `json:"cause"`
	Failures int       `json:"failures"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
}

// causeAcc accumulates one cause.
type causeAcc struct {
	code     CauseCode
	failures int
	pods     map[string]int
	byClass  map[string]int
	from, to time.Time
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

// diagnosis is the outcome of diagnose.
type diagnosis struct {
	causes       []Cause
	attributed   []Attributed
	attribution  string
	measurements Measurements
}

// diagnose ties every failure to a pod and a phase, names the causes and
// measures the lifecycle. It is O((failures + events) · log pods).
func diagnose(in Input, a *attack.Result, preStop time.Duration, opt DiagnosisOptions) diagnosis {
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
	x := newIndex(pods, opt)

	accs := map[CauseCode]*causeAcc{}
	type akey struct {
		pod, phase, by string
		cause          CauseCode
	}
	groups := map[akey]*Attributed{}
	var order []akey
	byHeader, byWindow := 0, 0
	for _, it := range items(a) {
		var p *life
		by := ""
		if it.pod != "" {
			p, by = orNew(pods, it.pod), ByPodHeader
			pods[it.pod] = p
		}
		var code CauseCode
		switch {
		case p == nil && it.class == attack.Class503 && steps.zeroWithin(it.t, opt.RegistrationWindow):
			code = NoReadyEndpoints
		default:
			if p == nil && windowable(it.class) {
				if p = x.pick(it); p != nil {
					by = ByTimeWindow
				}
			}
			code = classify(p, it, preStop, opt)
		}
		if p != nil && code != NoReadyEndpoints {
			switch by {
			case ByPodHeader:
				byHeader += it.n
			case ByTimeWindow:
				byWindow += it.n
			}
		}
		acc := accs[code]
		if acc == nil {
			acc = &causeAcc{code: code, pods: map[string]int{}, byClass: map[string]int{}}
			accs[code] = acc
		}
		k := akey{cause: code}
		if p != nil && code != NoReadyEndpoints {
			k.pod, k.phase, k.by = p.name, p.phase(it.t), by
			acc.add(it, p.name)
			if p.firstFail.IsZero() {
				p.firstFail = it.t
			}
			if !p.del.IsZero() && !it.t.Before(p.del) && p.firstTermFail.IsZero() {
				p.firstTermFail = it.t
			}
			switch code {
			case TerminatingPodStillRouted, LBDeregistrationLag:
				p.lastRouted = it.t
				p.terminatingFailures += it.n
			case InflightCut:
				p.terminatingFailures += it.n
			case NewPodNotServing:
				p.newFailures += it.n
				p.lastNewFail = it.t
			}
		} else {
			acc.add(it, "")
		}
		g := groups[k]
		if g == nil {
			g = &Attributed{Pod: k.pod, Phase: k.phase, By: k.by, Cause: code, From: it.t}
			groups[k] = g
			order = append(order, k)
		}
		g.Failures += it.n
		g.To = it.t
	}

	var d diagnosis
	switch {
	case byHeader > 0 && byWindow > 0:
		d.attribution = ByBoth
	case byHeader > 0:
		d.attribution = ByPodHeader
	case byWindow > 0:
		d.attribution = ByTimeWindow
	}
	for _, k := range order {
		d.attributed = append(d.attributed, *groups[k])
	}
	d.measurements = measure(in, a, pods, steps, preStop)
	t0 := a.Start
	if t0.IsZero() && len(in.Events) > 0 {
		t0 = in.Events[0].Time
	}
	for _, acc := range accs {
		d.causes = append(d.causes, acc.cause(pods, steps, t0, preStop, d.measurements))
	}
	sort.Slice(d.causes, func(i, j int) bool {
		ci, cj := d.causes[i], d.causes[j]
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
