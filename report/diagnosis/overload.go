package diagnosis

// Too few ready pods for the load (DRAIN_TOO_FEW_READY_PODS): a drain
// evicted several of the workload's pods at once, the Service kept some
// ready endpoints, and those could not carry the load: they shed part of
// it themselves (a 503 that names the pod, from a pod that was ready and
// not terminating). The evidence is the pods' own answers: what they
// served per second while they shed, against the load.

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// DrainTooFewReadyPods: a node drain's evictions left the Service fewer
// ready endpoints than the load needed, and the pods left shed the rest.
const DrainTooFewReadyPods CauseCode = "DRAIN_TOO_FEW_READY_PODS"

// shedByReadyPod reports whether the failure is a ready pod's own refusal
// of load it could not carry while a drain had the Service short of ready
// endpoints: a 503 that named a pod that was neither starting nor
// terminating, sent when the Service had fewer ready endpoints than when
// the load began.
func shedByReadyPod(in Input, p *life, it item, code CauseCode, steps readySteps, t0 time.Time) bool {
	if in.Drain == nil || code != Unattributed || it.class != attack.Class503 || p == nil || !p.del.IsZero() {
		return false
	}
	n := steps.count(it.t)
	return n > 0 && n < steps.count(t0)
}

// overload is what DRAIN_TOO_FEW_READY_PODS measured: the pods that shed
// load, what they served per second meanwhile, and the ready endpoints.
type overload struct {
	// pods are the pods that shed load, with how many requests each shed.
	pods     map[string]int
	from, to time.Time
	// ready is the fewest ready endpoints while they shed; before, the
	// ready endpoints when the load began.
	ready, before int
	// perPod is what each of them served per second while they shed: their
	// capacity (0: the shedding lasted under a second, too short to say).
	perPod float64
	rate   float64 // the load's rate, requests per second
	// measured over seconds of the load's buckets.
	measured time.Duration
}

// overloadOf measures the cause c (DRAIN_TOO_FEW_READY_PODS) from the
// load's buckets: the successes the shedding pods answered in the buckets
// wholly inside the time they shed.
func (w *weigher) overloadOf(c *causeAcc) *overload {
	o := &overload{pods: c.pods, from: c.from, to: c.to, ready: w.steps.count(c.from), before: w.steps.count(w.t0), rate: w.rate}
	for i, t := range w.steps.at {
		if !t.Before(c.from) && !t.After(c.to) && w.steps.n[i] < o.ready {
			o.ready = w.steps.n[i]
		}
	}
	if w.bucketWidth <= 0 {
		return o
	}
	served, buckets := 0, 0
	for _, b := range w.buckets {
		if b.Start.Before(c.from) || b.Start.Add(w.bucketWidth).After(c.to) {
			continue
		}
		buckets++
		for pod := range c.pods {
			served += b.Pods[pod]
		}
	}
	o.measured = time.Duration(buckets) * w.bucketWidth
	if o.measured >= time.Second && len(c.pods) > 0 {
		o.perPod = float64(served) / o.measured.Seconds() / float64(len(c.pods))
	}
	return o
}

// needed is how many ready pods carry the load at the capacity measured
// (0: not measured).
func (o *overload) needed() int {
	if o == nil || o.perPod <= 0 || o.rate <= 0 {
		return 0
	}
	return int(math.Ceil(o.rate / o.perPod))
}

// podList names the pods that shed load, most first: "demo-a (120)".
func (o *overload) podList() string {
	names := sortedKeys(o.pods)
	sort.SliceStable(names, func(i, j int) bool { return o.pods[names[i]] > o.pods[names[j]] })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s (%d)", n, o.pods[n])
	}
	return strings.Join(parts, ", ")
}

// overloaded is the evidence of DRAIN_TOO_FEW_READY_PODS.
func (e telling) overloaded(o *overload) string {
	ev := fmt.Sprintf("%d requests from %s got 503 from pods that were ready and not terminating, which shed what they could not carry: %s; the Service had %d ready endpoints then, %d when the load began",
		e.c.failures, e.window, o.podList(), o.ready, o.before)
	if o.perPod > 0 {
		ev += fmt.Sprintf("; while they shed, they answered %.1f requests/s each (over %s), against a load of %.1f/s: it needs %d ready pods",
			o.perPod, format.Sec(o.measured), o.rate, o.needed())
	} else {
		ev += "; they shed for less than a second, too short to measure what each could carry"
	}
	if d := e.drain; d != nil {
		ev += "; " + d.evictions()
	}
	return ev
}

// overloadAdvice: a budget that keeps enough pods ready for the load,
// with the number from what the pods served while they shed. The
// Eviction API then refuses an eviction that would leave fewer.
func overloadAdvice(s settings, causes []Cause) []Recommendation {
	o, d := s.overload, s.drain
	if o == nil || d == nil || !hasCause(causes, DrainTooFewReadyPods) {
		return nil
	}
	field, current := s.budgetField(), d.budgets()
	replicas := int(s.w.Replicas)
	cs := codes(causes, DrainTooFewReadyPods)
	need := o.needed()
	why := fmt.Sprintf("the drain of node/%s evicted %d of %d replicas at once and the %d left shed load", d.Node, d.Evicted, replicas, o.ready)
	switch {
	case need == 0:
		return []Recommendation{{
			Field:     field,
			Current:   current,
			Suggested: "maxUnavailable: 1 (the capacity of a pod was not measured: the shedding lasted under a second)",
			Why:       why,
			Causes:    cs,
		}}
	case need < replicas:
		return []Recommendation{{
			Field:     field,
			Current:   current,
			Suggested: fmt.Sprintf("maxUnavailable: %d (or minAvailable: %d)", replicas-need, need),
			Why: fmt.Sprintf("%s: each answered about %.1f requests/s while it shed, so the load of %.1f/s needs %d ready pods; the Eviction API then holds the next eviction until a replacement is ready",
				why, o.perPod, o.rate, need),
			Causes: cs,
		}}
	}
	return []Recommendation{{
		Field:     "spec.replicas",
		Current:   fmt.Sprint(replicas),
		Suggested: fmt.Sprintf("at least %d, with a PodDisruptionBudget of maxUnavailable: 1", need+1),
		Why: fmt.Sprintf("%s: each answered about %.1f requests/s while it shed, so the load of %.1f/s needs %d ready pods, and a drain can take one only if there is one more",
			why, o.perPod, o.rate, need),
		Causes: cs,
	}}
}
