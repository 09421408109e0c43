package diagnosis

// No ready endpoint (NO_READY_ENDPOINTS): the Service's ready endpoints
// over time, what the evidence of its 503s says and the strategy that
// keeps one ready.

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/rollcheck/rollcheck/rollout"
	"github.com/rollcheck/rollcheck/workload"
)

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

// regained returns when the latest run of zero ready endpoints up to t
// ended (zero time if there was none, or t is within one).
func (s readySteps) regained(t time.Time) time.Time {
	i := sort.Search(len(s.at), func(i int) bool { return s.at[i].After(t) }) - 1
	if i < 0 || s.n[i] == 0 {
		return time.Time{}
	}
	return s.zeroEnd[i]
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

// noReady is the evidence of 503s while the Service had no ready endpoint.
func (e telling) noReady(steps readySteps, m Measurements) string {
	c, window := e.c, e.window
	if len(c.empty) > 0 {
		return e.emptyBackends()
	}
	ev := fmt.Sprintf("%d requests got 503 from %s while the Service had 0 ready endpoints", c.failures, window)
	if c.byClass["503"] != c.failures {
		// Not only the front's own 503: what a front does with no
		// endpoint differs (kube-proxy refuses, a forwarder resets, a
		// dialled pod IP times out), and the window is what they share.
		ev = fmt.Sprintf("%d requests failed (%s) from %s while the Service had 0 ready endpoints", c.failures, e.classes, window)
	}
	if n := steps.count(c.to); n > 0 {
		ev += fmt.Sprintf(" or had just regained them (%d ready at the last one, which the load balancer had not registered yet)", n)
	}
	if m.MinReadyEndpoints != nil {
		during := "the rollout"
		if e.drain != nil {
			during = "the drain"
		}
		ev += fmt.Sprintf(" (minimum during %s: %d)", during, *m.MinReadyEndpoints)
	}
	if m.NoReadySeconds != nil && *m.NoReadySeconds > 0 {
		ev += fmt.Sprintf("; it had no ready endpoint for %.1fs in all", *m.NoReadySeconds)
	}
	if d := e.drain; d != nil && c.code == DrainNoReadyEndpoints {
		ev += "; " + d.evictions()
	}
	return ev
}

// evictions says what the drain evicted and what held it back.
func (d *Drain) evictions() string {
	s := fmt.Sprintf("the drain of node/%s evicted %d of the workload's pods from it", d.Node, d.Evicted)
	if len(d.PDBs) == 0 {
		return s + ", and no PodDisruptionBudget selects them to hold the evictions back"
	}
	return s + " under PodDisruptionBudget " + strings.Join(d.PDBs, "; ")
}

// noReadyAdvice: never drop to zero ready endpoints. After a blue/green
// switch the Deployment's strategy played no part: the Service was moved
// to pods that were not ready.
func noReadyAdvice(s settings, causes []Cause, m Measurements) []Recommendation {
	var out []Recommendation
	zero := m.MinReadyEndpoints != nil && *m.MinReadyEndpoints == 0
	for _, b := range s.emptyBackends {
		out = append(out, Recommendation{
			Field:     fmt.Sprintf("backendRefs[%s].weight", b.Service),
			Current:   fmt.Sprintf("%s while Service %s had no ready endpoint", b.weightList(), b.Service),
			Suggested: fmt.Sprintf("0 until the pods of Service %s are ready ('kubectl rollout status' on its Deployment succeeds), then the step's weight", b.Service),
			Why:       fmt.Sprintf("the route sent a share of the load to Service %s while it had no ready endpoint, and the front answered for it (%d requests failed)", b.Service, b.failures),
			Causes:    codes(causes, NoReadyEndpoints),
		})
	}
	if len(s.emptyBackends) > 0 && !zero {
		// The primary Service kept its endpoints: no strategy to change.
		return out
	}
	if s.drain != nil {
		short := overloadAdvice(s, causes)
		if zero || hasCause(causes, NoReadyEndpoints, DrainNoReadyEndpoints) {
			// One budget: the one sized by the pods' capacity, when the
			// pods left shed load too.
			adv := drainAdvice(s, causes)
			if len(short) > 0 {
				adv = adv[1:]
			}
			return append(append(out, short...), adv...)
		}
		if len(short) > 0 {
			out = append(out, short...)
			out = append(out, spreadAdvice(s, causes)...)
		}
		return out
	}
	if (zero || hasCause(causes, NoReadyEndpoints)) && s.switchService != "" {
		out = append(out, Recommendation{
			Field:     "service/" + s.switchService + " selector",
			Current:   fmt.Sprintf("switched to deployment/%s with %d of %d replicas ready", s.switchTo, s.readyBefore, s.w.Replicas),
			Suggested: fmt.Sprintf("switch only once 'kubectl rollout status deployment/%s' succeeds (all %d replicas ready)", s.switchTo, s.w.Replicas),
			Why:       "ready endpoints fell to 0 after the switch: the Service was moved to pods that could not serve yet",
			Satisfied: s.known && s.readyBefore >= s.w.Replicas && !zero,
			Causes:    codes(causes, NoReadyEndpoints),
		})
	} else if zero || hasCause(causes, NoReadyEndpoints) {
		recreate := s.w.Strategy.Type == appsv1.RecreateDeploymentStrategyType
		field := s.w.StrategyField("rollingUpdate.maxUnavailable")
		if recreate {
			field = s.w.StrategyField("type")
		}
		sugg := "0 (with maxSurge 1 or more)"
		switch {
		case recreate:
			sugg = "RollingUpdate with maxUnavailable 0 and maxSurge 1"
		case s.w.Kind == workload.KindDaemonSet:
			// Each node's pod is its only one: only a surge keeps it served.
			field, sugg = s.w.StrategyField("rollingUpdate.maxSurge"), "1 with maxUnavailable 0 (the node's new pod serves before the old one stops)"
			s.maxUnavailable = "maxSurge " + s.w.Strategy.MaxSurge.String() + ", maxUnavailable " + s.maxUnavailable
		case s.w.Kind == workload.KindStatefulSet:
			// A StatefulSet has no surge: it replaces a pod before it starts
			// the new one, so only other replicas can serve meanwhile.
			field, sugg = "spec.replicas", "2 or more (a StatefulSet stops each pod before its replacement starts)"
			s.maxUnavailable, s.unavailable = strconv.Itoa(s.w.Replicas), max(0, 2-s.w.Replicas)
		}
		why := "ready endpoints fell to 0 during the rollout, so the Service had nothing to send requests to"
		if s.known && s.w.Replicas < 2 {
			why += fmt.Sprintf("; with %d replica also consider 2 or more", s.w.Replicas)
		}
		out = append(out, Recommendation{
			Field:     field,
			Current:   s.current(s.maxUnavailable),
			Suggested: sugg,
			Why:       why,
			Satisfied: s.known && !recreate && s.unavailable == 0 && !zero,
			Causes:    codes(causes, NoReadyEndpoints),
		})
	}
	return out
}

// backend is a weighted route's backend Service with its ready endpoints.
type backend struct {
	Backend
	ready readySteps
}

// backends are a weighted route's Services beside the primary one.
type backends []backend

func backendsOf(in Input) backends {
	var out backends
	for _, b := range in.Backends {
		if len(in.Services) > 0 && b.Service == in.Services[0] {
			continue // the primary Service's own window decides for it
		}
		out = append(out, backend{Backend: b, ready: readyEndpoints(in.Events, []string{b.Service})})
	}
	return out
}

// emptyBackend is a backend given weight at t whose Service had no ready
// endpoint then, and that weight.
type emptyBackend struct {
	Service  string
	Weight   int32
	failures int     // of a cause: the failures it took
	weights  []int32 // of a cause: the weights they were sent under, in order
	// lagging: its weight was 0 at the time, and more only shortly
	// before (the front may not have applied the change yet).
	lagging bool
}

// empty returns the backend that had weight (now, or within lag before:
// the front applying the route's last change) and no ready endpoint at t
// (nil: none).
func (bs backends) empty(t time.Time, lag time.Duration) *emptyBackend {
	for _, b := range bs {
		// No endpoint seen at all is none ready.
		if w := b.weightWithin(t, lag); w > 0 && b.ready.count(t) <= 0 {
			return &emptyBackend{Service: b.Service, Weight: w, lagging: b.weightAt(t) == 0}
		}
	}
	return nil
}

// emptyBackends is the evidence of failures a weighted route sent to
// backend Services with no ready endpoint.
func (e telling) emptyBackends() string {
	c := e.c
	names := make([]string, 0, len(c.empty))
	for name := range c.empty {
		names = append(names, name)
	}
	sort.Strings(names)
	var parts []string
	n := 0
	for _, name := range names {
		b := c.empty[name]
		n += b.failures
		parts = append(parts, fmt.Sprintf("%d sent while the route gave Service %s weight %s and it had no ready endpoint", b.failures, name, b.weightList()))
	}
	ev := fmt.Sprintf("%d requests failed (%s) from %s: %s", c.failures, e.classes, e.window, strings.Join(parts, "; "))
	if rest := c.failures - n; rest > 0 {
		ev += fmt.Sprintf("; %d while the primary Service had no ready endpoint or had just regained them", rest)
	}
	return ev + "; the front answers for a backend it has no endpoint for"
}

// weightList says the weights a backend's failures were sent under: "10",
// "10, 50 and 100".
func (b emptyBackend) weightList() string {
	ws := b.weights
	if len(ws) == 0 {
		ws = []int32{b.Weight}
	}
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = strconv.Itoa(int(w))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// drainAdvice: a drain evicts every pod on the node at once unless a
// PodDisruptionBudget holds it to a few at a time (the Eviction API then
// refuses the rest until their replacements are ready), and it evicts all
// of a workload's pods when they share the node.
func drainAdvice(s settings, causes []Cause) []Recommendation {
	d := s.drain
	out := []Recommendation{{
		Field:     s.budgetField(),
		Current:   d.budgets(),
		Suggested: "maxUnavailable: 1 (the drain evicts one pod, and the next only once its replacement is ready)",
		Why: fmt.Sprintf("the drain of node/%s evicted %d of %d replicas at once and the Service ran out of ready endpoints",
			d.Node, d.Evicted, s.w.Replicas),
		Causes: codes(causes, DrainNoReadyEndpoints, NoReadyEndpoints),
	}}
	return append(out, spreadAdvice(s, causes)...)
}

// budgetField names the PodDisruptionBudget of the workload's pods.
func (s settings) budgetField() string {
	return "PodDisruptionBudget (policy/v1) selecting " + s.w.Kind.Ref(s.w.Name) + "'s pods"
}

// budgets lists the budgets that selected the drained pods ("none").
func (d *Drain) budgets() string {
	if len(d.PDBs) == 0 {
		return "none"
	}
	return strings.Join(d.PDBs, "; ")
}

// spreadAdvice: replicas that shared the drained node were lost together.
func spreadAdvice(s settings, causes []Cause) []Recommendation {
	d := s.drain
	if d.Evicted < 2 || s.w.Replicas < 2 {
		return nil
	}
	return []Recommendation{{
		Field:     "spec.template.spec.topologySpreadConstraints",
		Current:   fmt.Sprintf("%d of %d replicas on node/%s", d.Evicted, s.w.Replicas, d.Node),
		Suggested: "maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway (or a podAntiAffinity on the hostname)",
		Why:       "replicas that share a node are lost together when it is drained or fails",
		Causes:    codes(causes, DrainNoReadyEndpoints, NoReadyEndpoints, DrainTooFewReadyPods),
	}}
}
