package report

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
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

// inflightTol allows for the delay between a container's exit and the
// receipt of the status update that reports it.
const inflightTol = 100 * time.Millisecond

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

// TerminatingPod holds the measured durations of one pod's termination, in
// seconds on the rollcheck clock. Absent values were not observed.
type TerminatingPod struct {
	Pod                     string   `json:"pod"`
	GraceSeconds            *float64 `json:"grace_seconds,omitempty"`
	DeletionToUnready       *float64 `json:"deletion_to_unready_seconds,omitempty"`
	DeletionToRemoved       *float64 `json:"deletion_to_removed_seconds,omitempty"`
	DeletionToExit          *float64 `json:"deletion_to_exit_seconds,omitempty"`
	ExitCode                *int32   `json:"exit_code,omitempty"`
	DeletionToLastSuccess   *float64 `json:"deletion_to_last_success_seconds,omitempty"`
	DeletionToFirstFailure  *float64 `json:"deletion_to_first_failure_seconds,omitempty"`
	UnreadyToLastSuccess    *float64 `json:"unready_to_last_success_seconds,omitempty"`
	UnreadyToLastRoutedFail *float64 `json:"unready_to_last_routed_failure_seconds,omitempty"`
	RoutingLag              *float64 `json:"routing_lag_seconds,omitempty"` // last request routed to the pod − endpoint not ready
	Failures                int      `json:"failures"`
	RoutingLagFromDeletion  bool     `json:"routing_lag_from_deletion,omitempty"` // no endpoint event: lag counted from deletion
}

// NewPod holds the measured start-up of one pod created during the run.
type NewPod struct {
	Pod                 string   `json:"pod"`
	CreatedToReady      *float64 `json:"created_to_ready_seconds,omitempty"`
	StartedToReady      *float64 `json:"started_to_ready_seconds,omitempty"`
	ReadyToFirstSuccess *float64 `json:"ready_to_first_success_seconds,omitempty"`
	ReadyToLastFailure  *float64 `json:"ready_to_last_failure_seconds,omitempty"`
	Failures            int      `json:"failures"`
}

// Measurements are the numbers a person would otherwise estimate by hand.
type Measurements struct {
	TerminatingPods []TerminatingPod `json:"terminating_pods"`
	NewPods         []NewPod         `json:"new_pods"`
	// MinReadyEndpoints is the fewest ready endpoints of the Service during
	// the rollout; absent when no endpoint was watched.
	MinReadyEndpoints *int `json:"min_ready_endpoints,omitempty"`
	// NoReadySeconds is how long the Service had no ready endpoint from the
	// trigger to the end of the load: the downtime a Recreate rollout or a
	// switch to unready pods causes, whatever the load balancer adds to it.
	NoReadySeconds *float64 `json:"no_ready_endpoints_seconds,omitempty"`
	MaxRoutingLag  *float64 `json:"max_routing_lag_seconds,omitempty"`
	MaxShutdown    *float64 `json:"max_shutdown_seconds,omitempty"` // deletion → clean exit, minus preStop
}

// life is one pod's lifecycle on the rollcheck clock; zero times were not
// seen.
type life struct {
	name                                  string
	initial                               bool // existed before the watch began
	created, started, ready               time.Time
	del, unready, removed, exited         time.Time
	exitCode                              *int32
	grace                                 time.Duration
	graceKnown                            bool
	firstOK, lastOK                       time.Time
	firstFail, lastRouted                 time.Time
	firstTermFail                         time.Time // first failure at or after deletion
	newFailures                           int
	lastNewFail                           time.Time
	windowEnd                             time.Time // end of the terminating window
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

// stop is when a terminating pod stopped serving: its exit, else its first
// failure after deletion.
func (p *life) stop() time.Time {
	if !p.exited.IsZero() {
		return p.exited
	}
	return p.firstTermFail
}

// lifecycles reconstructs every pod's lifecycle from the timeline. Events
// are taken in time order; the first deletion, the first endpoint change to
// not-ready after it, the last removal and the first exit after deletion
// count.
func lifecycles(evs []rollout.Event) map[string]*life {
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
			if !p.del.IsZero() && p.exited.IsZero() {
				p.exited = e.Time
				p.exitCode = e.ExitCode
			}
		}
	}
	return pods
}

// readySteps is the number of ready endpoints of one Service over time.
type readySteps struct {
	at []time.Time
	n  []int
	// zeroEnd[i] is when the latest run of zero ready endpoints up to step
	// i ended (at[i] itself when step i has zero); zero time if none.
	zeroEnd []time.Time
}

// zeroWithin reports whether the Service had no ready endpoint at some
// moment in [t-w, t]: a load balancer that registers targets with a lag
// answers 503 for a while after endpoints come back.
func (s readySteps) zeroWithin(t time.Time, w time.Duration) bool {
	i := sort.Search(len(s.at), func(i int) bool { return s.at[i].After(t) }) - 1
	if i < 0 {
		return false
	}
	if s.n[i] == 0 {
		return true
	}
	return !s.zeroEnd[i].IsZero() && !s.zeroEnd[i].Before(t.Add(-w))
}

// count returns the ready endpoints at t, or -1 before the first event.
func (s readySteps) count(t time.Time) int {
	i := sort.Search(len(s.at), func(i int) bool { return s.at[i].After(t) })
	if i == 0 {
		return -1
	}
	return s.n[i-1]
}

// min returns the fewest ready endpoints in [from, to].
func (s readySteps) min(from, to time.Time) (int, bool) {
	m, ok := math.MaxInt, false
	if c := s.count(from); c >= 0 {
		m, ok = c, true
	}
	for i, t := range s.at {
		if t.After(from) && !t.After(to) && s.n[i] < m {
			m, ok = s.n[i], true
		}
	}
	return m, ok
}

// zeroFor is how long there were no ready endpoints within [from, to].
func (s readySteps) zeroFor(from, to time.Time) time.Duration {
	var d time.Duration
	for i, t := range s.at {
		if s.n[i] != 0 {
			continue
		}
		end := to
		if i+1 < len(s.at) {
			end = s.at[i+1]
		}
		start := t
		if start.Before(from) {
			start = from
		}
		if end.After(to) {
			end = to
		}
		if end.After(start) {
			d += end.Sub(start)
		}
	}
	return d
}

// readyEndpoints follows the ready condition of each endpoint of the
// primary Service (the first one named, else the first one seen).
func readyEndpoints(evs []rollout.Event, services []string) readySteps {
	primary := ""
	if len(services) > 0 {
		primary = services[0]
	}
	ready := map[string]bool{}
	n := 0
	var s readySteps
	for _, e := range evs {
		if e.Type != rollout.EndpointAdded && e.Type != rollout.EndpointChanged && e.Type != rollout.EndpointRemoved {
			continue
		}
		if primary == "" {
			primary = e.Service
		}
		if e.Service != primary && e.Service != "" {
			continue
		}
		key := e.Pod + "/" + e.IP
		was := ready[key]
		now := e.Type != rollout.EndpointRemoved && e.Ready != nil && *e.Ready
		if now {
			ready[key] = true
		} else {
			delete(ready, key)
		}
		switch {
		case now && !was:
			n++
		case !now && was:
			n--
		}
		if k := len(s.at); k > 0 && s.at[k-1].Equal(e.Time) {
			s.n[k-1] = n
			continue
		}
		s.at = append(s.at, e.Time)
		s.n = append(s.n, n)
	}
	s.zeroEnd = make([]time.Time, len(s.at))
	for i := range s.at {
		switch {
		case s.n[i] == 0:
			s.zeroEnd[i] = s.at[i]
		case i > 0 && s.n[i-1] == 0:
			s.zeroEnd[i] = s.at[i]
		case i > 0:
			s.zeroEnd[i] = s.zeroEnd[i-1]
		}
	}
	return s
}

// item is one failure, or several unrecorded failures of one class in one
// bucket (n > 1, no pod, no latency).
type item struct {
	t     time.Time
	lat   time.Duration
	class attack.Class
	pod   string
	err   string
	n     int
}

// items lists the recorded failures plus, when records were dropped, the
// failures only counted in buckets, placed mid-bucket.
func items(a *attack.Result) []item {
	out := make([]item, 0, len(a.FailureList))
	for _, f := range a.FailureList {
		out = append(out, item{t: f.Time, lat: f.Latency, class: f.Class, pod: f.Pod, err: f.Error, n: 1})
	}
	if a.Dropped > 0 && len(a.Buckets) > 0 {
		recorded := make([]map[attack.Class]int, len(a.Buckets))
		for _, f := range a.FailureList {
			i := sort.Search(len(a.Buckets), func(i int) bool { return a.Buckets[i].Start.After(f.Time) }) - 1
			if i < 0 {
				continue
			}
			if recorded[i] == nil {
				recorded[i] = map[attack.Class]int{}
			}
			recorded[i][f.Class]++
		}
		for i, b := range a.Buckets {
			for _, c := range attack.FailureClasses {
				if k := b.ByClass[c] - recorded[i][c]; k > 0 {
					out = append(out, item{t: b.Start.Add(a.BucketWidth / 2), class: c, n: k})
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].t.Before(out[j].t) })
	return out
}

// index finds candidate pods for a failure time in O(log pods).
type index struct {
	exits []*life // terminating pods that exited, by exit time
	news  []*life // pods created during the run, by ready time
	dels  []*life // terminating pods, by deletion time
	opt   DiagnosisOptions
}

const walkBack = 16

func newIndex(pods map[string]*life, opt DiagnosisOptions) *index {
	x := &index{opt: opt}
	far := time.Unix(1<<40, 0)
	for _, p := range pods {
		if !p.del.IsZero() {
			end := p.del
			for _, t := range []time.Time{p.unready, p.removed, p.exited} {
				if t.After(end) {
					end = t
				}
			}
			if p.exited.IsZero() && p.removed.IsZero() {
				end = far // still terminating when the watch ended
			} else {
				end = end.Add(opt.LagWindow)
			}
			p.windowEnd = end
			x.dels = append(x.dels, p)
			if !p.exited.IsZero() {
				x.exits = append(x.exits, p)
			}
		}
		if !p.initial && !p.ready.IsZero() {
			x.news = append(x.news, p)
		}
	}
	by := func(s []*life, key func(*life) time.Time) {
		sort.Slice(s, func(i, j int) bool {
			if a, b := key(s[i]), key(s[j]); !a.Equal(b) {
				return a.Before(b)
			}
			return s[i].name < s[j].name
		})
	}
	by(x.exits, func(p *life) time.Time { return p.exited })
	by(x.news, func(p *life) time.Time { return p.ready })
	by(x.dels, func(p *life) time.Time { return p.del })
	return x
}

// latest returns the last pod in s with key ≤ t that ok accepts, looking at
// most walkBack pods back.
func latest(s []*life, key func(*life) time.Time, t time.Time, ok func(*life) bool) *life {
	i := sort.Search(len(s), func(i int) bool { return key(s[i]).After(t) })
	for j := i - 1; j >= 0 && j >= i-walkBack; j-- {
		if ok(s[j]) {
			return s[j]
		}
	}
	return nil
}

// pick chooses the pod that best explains a failure with no pod header: a
// pod whose exit cut the request in flight, a terminating pod that had
// already exited (latest exit first),
// else a pod that had just turned ready, else a terminating pod still
// running.
func (x *index) pick(it item) *life {
	t := it.t
	// A request cut by an exit ended at the exit, which may come after
	// other pods' events: look from its end.
	if p := latest(x.exits, func(p *life) time.Time { return p.exited }, t.Add(it.lat+inflightTol), func(p *life) bool { return inflight(p, it) }); p != nil {
		return p
	}
	inTerm := func(p *life) bool { return !t.Before(p.del) && !t.After(p.windowEnd) }
	if p := latest(x.exits, func(p *life) time.Time { return p.exited }, t, inTerm); p != nil {
		return p
	}
	if p := latest(x.news, func(p *life) time.Time { return p.ready }, t, func(p *life) bool { return !t.After(p.ready.Add(x.opt.StartWindow)) }); p != nil {
		return p
	}
	return latest(x.dels, func(p *life) time.Time { return p.del }, t, inTerm)
}

// windowable reports whether a failure of this class can come from a pod
// that is starting or gone without the pod naming itself: an answer the app
// wrote itself (500, 4xx) would have carried its pod header.
func windowable(c attack.Class) bool {
	switch c {
	case attack.Class502, attack.Class503, attack.Class504, attack.ClassRefused, attack.ClassReset, attack.ClassEOF, attack.ClassTimeout:
		return true
	}
	return false
}

// inflight reports whether the failure was a request open when p's
// container exited.
func inflight(p *life, it item) bool {
	if p.exited.IsZero() || it.n != 1 || strings.Contains(it.err, "refused") {
		return false
	}
	switch it.class {
	case attack.ClassReset, attack.ClassEOF:
	case attack.Class502, attack.Class504:
		// The load balancer also answers 502 at once to a refused
		// connection; only a request it held open was cut.
		if it.lat < inflightTol {
			return false
		}
	default:
		return false
	}
	return it.t.Before(p.exited) && !it.t.Add(it.lat).Before(p.exited.Add(-inflightTol))
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

// classify applies the cause rules of DESIGN.md to one failure tied to p
// (nil: no pod explains it).
func classify(p *life, it item, preStop time.Duration, opt DiagnosisOptions) CauseCode {
	if p == nil {
		return Unattributed
	}
	if inflight(p, it) {
		return InflightCut
	}
	if !p.del.IsZero() && !it.t.Before(p.del) {
		stop := p.stop()
		if stop.IsZero() || stop.After(it.t) {
			stop = it.t
		}
		if preStop > 0 || stop.Sub(p.del) >= opt.PromptStop {
			return LBDeregistrationLag
		}
		return TerminatingPodStillRouted
	}
	if !p.initial && (p.ready.IsZero() && !p.created.IsZero() && !it.t.Before(p.created) ||
		!p.ready.IsZero() && !it.t.After(p.ready.Add(opt.StartWindow))) {
		return NewPodNotServing
	}
	return Unattributed
}

// top returns the pod with the most failures (ties by name).
func top(m map[string]int) string {
	best, n := "", -1
	for k, v := range m {
		if v > n || v == n && k < best {
			best, n = k, v
		}
	}
	return best
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// classList renders failure counts by class, most first: "30 refused, 7 502".
func classList(m map[string]int) string {
	ks := sortedKeys(m)
	sort.SliceStable(ks, func(i, j int) bool { return m[ks[i]] > m[ks[j]] })
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

func sec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func andMore(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return " (and 1 more pod)"
	}
	return fmt.Sprintf(" (and %d more pods)", n)
}

// cause renders the accumulated cause with one checkable sentence about the
// pod that failed the most requests.
func (c *causeAcc) cause(pods map[string]*life, steps readySteps, t0 time.Time, preStop time.Duration, m Measurements) Cause {
	out := Cause{Code: c.code, Failures: c.failures, Pods: sortedKeys(c.pods), From: c.from, To: c.to, ByClass: c.byClass}
	name := top(c.pods)
	p := pods[name]
	more := andMore(len(c.pods) - 1)
	classes := classList(c.byClass)
	window := fmt.Sprintf("%s to %s", rel(t0, c.from), rel(t0, c.to))
	switch c.code {
	case TerminatingPodStillRouted, LBDeregistrationLag:
		var b strings.Builder
		if stop := p.stop(); !stop.IsZero() {
			what := "stopped answering"
			if !p.exited.IsZero() {
				what = fmt.Sprintf("exited (code %s)", code(p.exitCode))
			}
			fmt.Fprintf(&b, "%s %s %s after deletion", name, what, sec(stop.Sub(p.del)))
			if c.code == LBDeregistrationLag && preStop > 0 {
				fmt.Fprintf(&b, " (preStop %s)", sec(preStop))
			}
		} else {
			fmt.Fprintf(&b, "%s was being deleted", name)
		}
		ref, refName := p.unready, "its endpoint turned not-ready"
		if ref.IsZero() {
			ref, refName = p.del, "its deletion"
		}
		last := p.lastRouted
		if p.lastOK.After(last) {
			last = p.lastOK
		}
		fmt.Fprintf(&b, ", but requests still reached it until %s after %s", sec(last.Sub(ref)), refName)
		fmt.Fprintf(&b, "; %d requests failed (%s) from %s%s", c.failures, classes, window, more)
		out.Evidence = b.String()
	case InflightCut:
		out.Evidence = fmt.Sprintf("%s exited with code %s %s after deletion while %d requests were in flight (%s, %s)%s",
			name, code(p.exitCode), sec(p.exited.Sub(p.del)), c.failures, classes, window, more)
		if p.exitCode != nil && *p.exitCode == exitCodeKilled {
			out.Evidence += "; 137 is SIGKILL at the end of the grace period"
		}
	case NoReadyEndpoints:
		out.Evidence = fmt.Sprintf("%d requests got 503 from %s while the Service had 0 ready endpoints", c.failures, window)
		if n := steps.count(c.to); n > 0 {
			out.Evidence += fmt.Sprintf(" or had just regained them (%d ready at the last one, which the load balancer had not registered yet)", n)
		}
		if m.MinReadyEndpoints != nil {
			out.Evidence += fmt.Sprintf(" (minimum during the rollout: %d)", *m.MinReadyEndpoints)
		}
		if m.NoReadySeconds != nil && *m.NoReadySeconds > 0 {
			out.Evidence += fmt.Sprintf("; it had no ready endpoint for %.1fs in all", *m.NoReadySeconds)
		}
	case NewPodNotServing:
		var b strings.Builder
		if !p.ready.IsZero() {
			fmt.Fprintf(&b, "%s turned ready at %s and failed %d requests in the next %s", name, rel(t0, p.ready), c.pods[name], sec(p.lastNewFail.Sub(p.ready)))
			if !p.firstOK.IsZero() {
				fmt.Fprintf(&b, "; its first successful request came %s after ready", sec(p.firstOK.Sub(p.ready)))
			}
		} else {
			fmt.Fprintf(&b, "%s failed %d requests before it was ever ready", name, c.pods[name])
		}
		fmt.Fprintf(&b, "; %d failed in all (%s)%s", c.failures, classes, more)
		out.Evidence = b.String()
	default:
		out.Evidence = fmt.Sprintf("%d requests failed (%s) from %s with no pod starting or terminating around them", c.failures, classes, window)
		if len(c.pods) > 0 {
			out.Evidence += fmt.Sprintf("; the response named %s, then in phase %s", name, p.phase(c.from))
		}
	}
	return out
}

func code(c *int32) string {
	if c == nil {
		return "?"
	}
	return strconv.Itoa(int(*c))
}

func secsPtr(d time.Duration) *float64 {
	v := math.Round(d.Seconds()*1000) / 1000
	return &v
}

// measure computes the per-pod durations and the minimum ready endpoints.
func measure(in Input, a *attack.Result, pods map[string]*life, steps readySteps, preStop time.Duration) Measurements {
	m := Measurements{TerminatingPods: []TerminatingPod{}, NewPods: []NewPod{}}
	names := make([]string, 0, len(pods))
	for n := range pods {
		names = append(names, n)
	}
	sort.Strings(names)
	var maxLag, maxShut time.Duration
	hasLag, hasShut := false, false
	for _, n := range names {
		p := pods[n]
		if !p.del.IsZero() {
			tp := TerminatingPod{Pod: n, ExitCode: p.exitCode, Failures: p.terminatingFailures}
			if p.graceKnown {
				tp.GraceSeconds = secsPtr(p.grace)
			}
			tp.DeletionToUnready = span(p.del, p.unready)
			tp.DeletionToRemoved = span(p.del, p.removed)
			if !p.exited.IsZero() {
				tp.DeletionToExit = secsPtr(p.exited.Sub(p.del))
				if p.exitCode == nil || *p.exitCode != exitCodeKilled {
					sh := max(p.exited.Sub(p.del)-preStop, 0)
					if !hasShut || sh > maxShut {
						maxShut, hasShut = sh, true
					}
				}
			}
			tp.DeletionToLastSuccess = span(p.del, p.lastOK)
			tp.DeletionToFirstFailure = span(p.del, p.firstTermFail)
			ref := p.unready
			if ref.IsZero() {
				ref = p.del
				tp.RoutingLagFromDeletion = true
			}
			last := time.Time{}
			if !p.lastOK.IsZero() && !p.lastOK.Before(p.del) {
				tp.UnreadyToLastSuccess = secsPtr(p.lastOK.Sub(ref))
				last = p.lastOK
			}
			if !p.lastRouted.IsZero() {
				tp.UnreadyToLastRoutedFail = secsPtr(p.lastRouted.Sub(ref))
				if p.lastRouted.After(last) {
					last = p.lastRouted
				}
			}
			if !last.IsZero() {
				lag := last.Sub(ref)
				tp.RoutingLag = secsPtr(lag)
				if !hasLag || lag > maxLag {
					maxLag, hasLag = lag, true
				}
			} else {
				tp.RoutingLagFromDeletion = false
			}
			m.TerminatingPods = append(m.TerminatingPods, tp)
		}
		if !p.initial && (!p.created.IsZero() || !p.ready.IsZero()) {
			np := NewPod{Pod: n, Failures: p.newFailures}
			if !p.ready.IsZero() {
				np.CreatedToReady = span(p.created, p.ready)
				np.StartedToReady = span(p.started, p.ready)
				np.ReadyToFirstSuccess = span(p.ready, p.firstOK)
				np.ReadyToLastFailure = span(p.ready, p.lastNewFail)
			}
			m.NewPods = append(m.NewPods, np)
		}
	}
	if hasLag {
		m.MaxRoutingLag = secsPtr(maxLag)
	}
	if hasShut {
		m.MaxShutdown = secsPtr(maxShut)
	}
	from, to := in.Outcome.StartedAt, in.Outcome.CompletedAt
	if !in.Outcome.Triggered || from.IsZero() {
		from = a.Start
	}
	if to.IsZero() || !in.Outcome.Completed {
		to = a.End
	}
	if from.IsZero() && len(in.Events) > 0 {
		from, to = in.Events[0].Time, in.Events[len(in.Events)-1].Time
	}
	if n, ok := steps.min(from, to); ok {
		m.MinReadyEndpoints = &n
		if in.Outcome.Triggered && !a.End.IsZero() {
			m.NoReadySeconds = secsPtr(steps.zeroFor(from, a.End))
		}
	}
	return m
}

// span is the time from from to to in seconds, or nil when either was not
// seen.
func span(from, to time.Time) *float64 {
	if from.IsZero() || to.IsZero() {
		return nil
	}
	return secsPtr(to.Sub(from))
}
