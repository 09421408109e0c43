package diagnosis

import (
	"math"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
)

func TestCauses(t *testing.T) {
	tests := []struct {
		name        string
		timeline    func() *timeline
		spec        *appsv1.Deployment
		want        CauseCode // the primary cause
		only        bool      // no other cause
		attribution string
		evidence    []string
		rec         string // a recommendation field that must be present, unsatisfied
		suggested   string
		check       func(t *testing.T, r *run)
	}{
		{
			name:        "an app that exits at once on SIGTERM while the LB still routes to it is a terminating pod still routed",
			timeline:    exitsAtOnce,
			spec:        deployment(),
			want:        TerminatingPodStillRouted,
			only:        true,
			attribution: ByTimeWindow,
			evidence:    []string{"web-old-a exited (code 0) 0.12 s after deletion", "1.98 s after its endpoint turned not-ready", "refused"},
			rec:         "spec.template.spec.containers[app].lifecycle.preStop",
			suggested:   "sleep 4",
			check: func(t *testing.T, r *run) {
				if lag := r.Measurements.MaxRoutingLag; lag == nil || math.Abs(*lag-1.98) > 0.01 {
					t.Errorf("max routing lag = %v, want 1.98", lag)
				}
			},
		},
		{
			name: "pods replaced one after another are each blamed for the failures after their own exit, none as cut in flight",
			timeline: func() *timeline {
				tl := newTimeline()
				for i, n := range []string{"a", "b", "c"} {
					f := float64(i) * 1.5
					tl.Running("web-old-" + n)
					tl.Started("web-new-"+n, 10+f, 10.3+f, 11+f)
					tl.Deleted("web-old-"+n, 11.1+f, 11.12+f, 11.2+f, 0, 11.3+f)
					tl.A.LastByPod["web-old-"+n] = at(11.1 + f)
					tl.A.FirstByPod["web-new-"+n] = at(11 + f) // served at once
					tl.A.LastByPod["web-new-"+n] = at(29.9)
					tl.Fails(11.2+f, 13.1+f, 0.05, attack.Class502, "")
				}
				return tl
			},
			spec:        deployment(),
			want:        TerminatingPodStillRouted,
			only:        true,
			attribution: ByTimeWindow,
			check: func(t *testing.T, r *run) {
				if got := r.Causes[0].Pods; len(got) != 3 {
					t.Errorf("pods = %v, want the three old pods", got)
				}
				for _, g := range r.Attributed {
					if g.Phase != PhaseExited {
						t.Errorf("%s blamed in phase %s from %s, want exited", g.Pod, g.Phase, g.From.Sub(t0))
					}
				}
			},
		},
		{
			name: "a preStop shorter than the LB lag is a deregistration lag and the fix covers the measured lag",
			timeline: func() *timeline {
				tl := newTimeline()
				tl.Running("web-old-a")
				tl.Started("web-new-a", 10, 10.5, 11.5)
				tl.Deleted("web-old-a", 12, 12.02, 13.05, 0, 13.1)
				tl.A.LastByPod["web-old-a"] = at(13.0)
				tl.A.LastByPod["web-new-a"] = at(29.9)
				tl.A.FirstByPod["web-new-a"] = at(11.6)
				tl.Fails(13.1, 15.0, 0.05, attack.ClassRefused, "")
				return tl
			},
			spec:        deployment(withPreStopSleep("1")),
			want:        LBDeregistrationLag,
			only:        true,
			attribution: ByTimeWindow,
			evidence:    []string{"web-old-a exited (code 0) 1.05 s after deletion (preStop 1.00 s)", "2.98 s after its endpoint turned not-ready"},
			rec:         "spec.template.spec.containers[app].lifecycle.preStop",
			suggested:   "sleep 5",
			check: func(t *testing.T, r *run) {
				tp := r.Measurements.TerminatingPods[0]
				if tp.RoutingLag == nil || math.Abs(*tp.RoutingLag-3) > 0.75 {
					t.Errorf("routing lag = %v, want 3 s within 25%%", tp.RoutingLag)
				}
				if tp.UnreadyToLastSuccess == nil || math.Abs(*tp.UnreadyToLastSuccess-0.98) > 0.01 {
					t.Errorf("unready → last success = %v, want 0.98", tp.UnreadyToLastSuccess)
				}
				if !hasRec(r, "spec.template.spec.terminationGracePeriodSeconds") {
					t.Errorf("no grace period recommendation: %+v", r.Recommendations)
				}
			},
		},
		{
			name: "requests in flight when the container is SIGKILLed are cut in flight, with 137 in the evidence",
			timeline: func() *timeline {
				tl := newTimeline()
				tl.Running("web-old-a")
				tl.Started("web-new-a", 10, 10.5, 11.5)
				tl.Deleted("web-old-a", 12, 12.02, 14.0, 137, 14.1)
				for _, s := range []float64{12.5, 13.0, 13.5, 13.9} {
					tl.Fail(s, attack.ClassReset, "", at(14.01).Sub(at(s)))
				}
				tl.Fail(13.2, attack.ClassEOF, "", at(14.02).Sub(at(13.2)))
				tl.A.Max = 10 * time.Second
				return tl
			},
			spec:        deployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptrTo(int64(2)) }),
			want:        InflightCut,
			only:        true,
			attribution: ByTimeWindow,
			evidence:    []string{"web-old-a exited with code 137 2.00 s after deletion while 5 requests were in flight", "SIGKILL"},
			rec:         "spec.template.spec.terminationGracePeriodSeconds",
			suggested:   "12",
		},
		{
			name: "503s while no endpoint is ready under Recreate are no ready endpoints, and maxUnavailable is recommended",
			timeline: func() *timeline {
				tl := newTimeline()
				tl.Running("web-old-a")
				tl.Running("web-old-b")
				tl.Deleted("web-old-a", 12, 12.02, 12.1, 0, 12.2)
				tl.Deleted("web-old-b", 12, 12.02, 12.1, 0, 12.2)
				tl.Started("web-new-a", 12.3, 12.5, 15.0)
				tl.Started("web-new-b", 12.3, 12.5, 15.2)
				tl.Fails(12.05, 15.0, 0.05, attack.Class503, "")
				return tl
			},
			spec: deployment(func(d *appsv1.Deployment) {
				d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
			}),
			want:      NoReadyEndpoints,
			only:      true,
			evidence:  []string{"requests got 503", "0 ready endpoints"},
			rec:       "spec.strategy.type",
			suggested: "maxUnavailable 0",
			check: func(t *testing.T, r *run) {
				if m := r.Measurements.MinReadyEndpoints; m == nil || *m != 0 {
					t.Errorf("min ready endpoints = %v, want 0", m)
				}
				// Both old endpoints turn not ready at 12.02 s, the first
				// new endpoint is ready at 15.02 s: 3 s without one.
				if d := r.Measurements.NoReadySeconds; d == nil || *d < 2.99 || *d > 3.01 {
					t.Errorf("no ready endpoints for %v s, want 3", fptr(d))
				}
				if !strings.Contains(r.Causes[0].Evidence, "no ready endpoint for 3.0s in all") {
					t.Errorf("evidence %q lacks the downtime", r.Causes[0].Evidence)
				}
			},
		},
		{
			// Issue 25: Recreate through kube-proxy's front. Every old
			// pod served until it exited; the resets came after, while
			// the Service had no ready endpoint, and looked like a
			// terminating pod still routed (LB_DEREGISTRATION_LAG at
			// high confidence, "preStop sleep 6"). There is no load
			// balancer in that path, and a preStop lengthens the gap.
			name: "resets while no endpoint is ready are that window's, not a routing lag: no preStop number",
			timeline: func() *timeline {
				tl := newTimeline()
				tl.Running("web-old-a")
				tl.Running("web-old-b")
				// The old pods sleep 3 s in a preStop, serving their kept
				// connections (kube-proxy's conntrack keeps them on the
				// pod) until they exit: successes 2.98 s after not-ready.
				tl.Deleted("web-old-a", 12, 12.02, 15.1, 0, 15.2)
				tl.Deleted("web-old-b", 12, 12.02, 15.1, 0, 15.2)
				tl.Started("web-new-a", 15.3, 15.5, 17.0)
				tl.Started("web-new-b", 15.3, 15.5, 17.2)
				tl.A.FirstByPod["web-old-a"], tl.A.LastByPod["web-old-a"] = at(0), at(15.0)
				tl.A.FirstByPod["web-old-b"], tl.A.LastByPod["web-old-b"] = at(0), at(14.9)
				tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = at(17.1), at(29.9)
				tl.A.FirstByPod["web-new-b"], tl.A.LastByPod["web-new-b"] = at(17.3), at(29.9)
				tl.Fails(12.15, 16.95, 0.05, attack.ClassReset, "")
				tl.Fails(12.175, 14.0, 0.1, attack.ClassRefused, "")
				return tl
			},
			spec: deployment(withPreStopSleep("3"), func(d *appsv1.Deployment) {
				d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
			}),
			want:      NoReadyEndpoints,
			only:      true,
			evidence:  []string{"failed (", "reset", "while the Service had 0 ready endpoints"},
			rec:       "spec.strategy.type",
			suggested: "maxUnavailable 0",
			check: func(t *testing.T, r *run) {
				if c := r.Causes[0]; c.Confidence != ConfidenceHigh {
					t.Errorf("confidence %s, want high: rollcheck measured the empty window itself", c.Confidence)
				}
				for _, rec := range r.Recommendations {
					if strings.HasSuffix(rec.Field, "lifecycle.preStop") && !rec.Satisfied {
						t.Errorf("a preStop is recommended (%s -> %s) for a Recreate with no ready endpoint", rec.Current, rec.Suggested)
					}
				}
			},
		},
		{
			// Traefik drops a route with no serving endpoint and answers
			// 404 itself: no pod header, and the Service empty.
			// Until it has put the route back (its configuration is
			// throttled, 2 s by default), it still answers 404.
			name: "a front's own 404s while no endpoint is ready, and until it registered the new one, are no ready endpoints",
			timeline: func() *timeline {
				tl := newTimeline()
				tl.Running("web-old-a")
				tl.Deleted("web-old-a", 12, 12.02, 12.1, 0, 12.2)
				tl.Started("web-new-a", 12.3, 12.5, 15.0)
				tl.A.FirstByPod["web-old-a"], tl.A.LastByPod["web-old-a"] = at(0), at(12.0)
				tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = at(16.6), at(29.9)
				for s := 12.1; s < 16.5; s += 0.05 {
					tl.Fail(s, attack.Class4xx, "", 2*time.Millisecond)
				}
				return tl
			},
			spec: deployment(func(d *appsv1.Deployment) {
				d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
			}),
			want:     NoReadyEndpoints,
			only:     true,
			evidence: []string{"4xx", "while the Service had 0 ready endpoints"},
			rec:      "spec.strategy.type",
		},
		{
			name: "503s just after endpoints came back from zero, before the LB registered them, are still no ready endpoints",
			timeline: func() *timeline {
				tl := newTimeline()
				tl.Running("web-old-a")
				tl.Deleted("web-old-a", 12, 12.02, 12.1, 0, 12.2)
				tl.Started("web-new-a", 12.3, 12.5, 15.0)
				tl.Fails(12.05, 17.0, 0.05, attack.Class503, "")
				return tl
			},
			want:     NoReadyEndpoints,
			only:     true,
			evidence: []string{"had just regained them (1 ready"},
			rec:      "spec.strategy.rollingUpdate.maxUnavailable",
			check: func(t *testing.T, r *run) {
				if r.Attribution != "" {
					t.Errorf("attribution = %q, want none: no failure was tied to a pod", r.Attribution)
				}
			},
		},
		{
			name: "failures from a new pod just after it turned ready are a new pod not serving, attributed by header and window",
			timeline: func() *timeline {
				tl := newTimeline()
				tl.Running("web-old-a")
				tl.Started("web-new-a", 10, 10.5, 11.0)
				tl.A.FirstByPod["web-new-a"] = at(12.6)
				tl.Fails(11.1, 12.5, 0.1, attack.Class502, "")
				tl.Fails(11.15, 12.0, 0.1, attack.Class503, "web-new-a")
				tl.Deleted("web-old-a", 20, 20.02, 21.5, 0, 21.6)
				return tl
			},
			spec:        deployment(),
			want:        NewPodNotServing,
			only:        true,
			attribution: ByBoth,
			evidence:    []string{"web-new-a turned ready at +11.00s and failed 24 requests", "first successful request came 1.60 s after ready"},
			rec:         "spec.template.spec.containers[app].readinessProbe",
			suggested:   "periodSeconds",
			check: func(t *testing.T, r *run) {
				np := r.Measurements.NewPods[0]
				if np.CreatedToReady == nil || *np.CreatedToReady != 1 || np.ReadyToFirstSuccess == nil || math.Abs(*np.ReadyToFirstSuccess-1.6) > 1e-9 {
					t.Errorf("new pod measurements = %+v", np)
				}
				if !hasRec(r, "spec.minReadySeconds") {
					t.Errorf("no minReadySeconds recommendation")
				}
			},
		},
		{
			name: "a failure with nothing around it is unattributed",
			timeline: func() *timeline {
				tl := newTimeline()
				tl.Running("web-old-a")
				tl.Fail(20.5, attack.Class502, "", time.Millisecond)
				return tl
			},
			want:     Unattributed,
			only:     true,
			evidence: []string{"1 requests failed (1 502)", "no pod starting or terminating"},
		},
		{
			name: "a 500 the pod answered is never blamed on a terminating pod by time",
			timeline: func() *timeline {
				tl := exitsAtOnce()
				tl.Fail(13.01, attack.ClassOther5xx, "", time.Millisecond)
				return tl
			},
			want:        TerminatingPodStillRouted,
			attribution: ByTimeWindow,
			check: func(t *testing.T, r *run) {
				last := r.Causes[len(r.Causes)-1]
				if last.Code != Unattributed || last.Failures != 1 {
					t.Errorf("last cause = %s %d, want UNATTRIBUTED 1", last.Code, last.Failures)
				}
			},
		},
		{
			name: "failures from a pod header name that pod even when another pod exited just before",
			timeline: func() *timeline {
				tl := exitsAtOnce()
				tl.Fail(13.03, attack.Class503, "web-new-a", time.Millisecond)
				return tl
			},
			want:        TerminatingPodStillRouted,
			attribution: ByBoth,
			check: func(t *testing.T, r *run) {
				found := false
				for _, g := range r.Attributed {
					if g.Pod == "web-new-a" && g.By == ByPodHeader && g.Cause == NewPodNotServing {
						found = true
					}
				}
				if !found {
					t.Errorf("header failure not attributed to web-new-a: %+v", r.Attributed)
				}
			},
		},
		{
			name: "failures only counted in buckets are attributed too",
			timeline: func() *timeline {
				tl := exitsAtOnce()
				tl.A.FailureList = tl.A.FailureList[:5]
				tl.A.Dropped = tl.A.Failures - 5
				return tl
			},
			want:        TerminatingPodStillRouted,
			only:        true,
			attribution: ByTimeWindow,
			check: func(t *testing.T, r *run) {
				if r.Causes[0].Failures != r.Failures {
					t.Errorf("cause counts %d failures, load %d", r.Causes[0].Failures, r.Failures)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := build(tt.timeline().input(tt.spec))
			if len(r.Causes) == 0 {
				t.Fatalf("no cause; attributed %+v", r.Attributed)
			}
			if r.Causes[0].Code != tt.want {
				t.Fatalf("primary cause = %s (%s), want %s; all: %+v", r.Causes[0].Code, r.Causes[0].Evidence, tt.want, r.Causes)
			}
			if tt.only && len(r.Causes) != 1 {
				t.Errorf("causes = %+v, want only %s", r.Causes, tt.want)
			}
			total := 0
			for _, c := range r.Causes {
				total += c.Failures
			}
			if total != r.Failures {
				t.Errorf("causes count %d failures, the load %d", total, r.Failures)
			}
			if r.Attribution != tt.attribution {
				t.Errorf("attribution = %q, want %q", r.Attribution, tt.attribution)
			}
			for _, s := range tt.evidence {
				if !strings.Contains(r.Causes[0].Evidence, s) {
					t.Errorf("evidence %q lacks %q", r.Causes[0].Evidence, s)
				}
			}
			if tt.rec != "" {
				rec, ok := findRec(r, tt.rec)
				switch {
				case !ok:
					t.Errorf("no recommendation for %s: %+v", tt.rec, r.Recommendations)
				case rec.Satisfied:
					t.Errorf("recommendation %s is satisfied, want not", tt.rec)
				case !strings.Contains(rec.Suggested, tt.suggested):
					t.Errorf("suggested %s = %q, want it to contain %q", tt.rec, rec.Suggested, tt.suggested)
				}
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func findRec(r *run, field string) (Recommendation, bool) {
	for _, rec := range r.Recommendations {
		if rec.Field == field {
			return rec, true
		}
	}
	return Recommendation{}, false
}

func hasRec(r *run, field string) bool {
	_, ok := findRec(r, field)
	return ok
}

func TestPhaseOfAPodAtAMoment(t *testing.T) {
	tl := newTimeline()
	tl.Started("web-new-a", 10, 10.5, 11.0)
	tl.Deleted("web-new-a", 20, 20.02, 21, 137, 21.5)
	p := lifecycles(tl.input(nil).Events)["web-new-a"]
	for _, tt := range []struct {
		s    float64
		want string
	}{{9, PhaseUnknown}, {10.2, PhaseStarting}, {15, PhaseReady}, {20.01, PhaseTerminatingR}, {20.5, PhaseTerminating}, {21.2, PhaseKilled}} {
		if got := p.phase(at(tt.s)); got != tt.want {
			t.Errorf("phase at %.2f s = %s, want %s", tt.s, got, tt.want)
		}
	}
	tl = newTimeline()
	tl.Running("web-old-a")
	tl.Deleted("web-old-a", 12, 12.02, 13, 0, 12.5)
	p = lifecycles(tl.input(nil).Events)["web-old-a"]
	if got := p.phase(at(12.7)); got != PhaseRemoved {
		t.Errorf("phase after removal, before exit = %s", got)
	}
	if got := p.phase(at(5)); got != PhaseReady {
		t.Errorf("phase of a pod running before the watch = %s", got)
	}
}

func fptr(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// Issue 25: Traefik's Ingress provider answers 404 (its 503 at first)
// after a Recreate until it has registered the endpoints that came back.
// Up to the front's first success since, those answers are the empty
// window's on evidence (high); a failure after a success rests on the
// registration window's default length (medium).
func TestFrontsOwnAnswersUntilItServesAgain(t *testing.T) {
	recreate := deployment(func(d *appsv1.Deployment) {
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	})
	timeline := func(servedAt15 bool) *timeline {
		tl := newTimeline()
		tl.Running("web-old-a")
		tl.Deleted("web-old-a", 12, 12.02, 12.1, 0, 12.2)
		tl.Started("web-new-a", 12.3, 12.5, 14.0)
		// Every request failed from 12 s to 17 s: nothing served.
		for s := 12; s < 17; s++ {
			tl.A.Buckets[s].OK, tl.A.Buckets[s].Total = 0, 0
		}
		for s := 12.1; s < 17; s += 0.05 {
			tl.Fail(s, attack.Class4xx, "", 2*time.Millisecond)
			tl.A.Buckets[int(s)].Total++
			tl.A.Buckets[int(s)].OK++ // Fail takes one off
		}
		if servedAt15 {
			tl.A.Buckets[15].OK, tl.A.Buckets[15].Total = 10, 30
		}
		tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = at(17.0), at(29.9)
		return tl
	}
	for _, served := range []bool{false, true} {
		r := build(timeline(served).input(recreate))
		c := r.Causes[0]
		want := ConfidenceHigh
		if served {
			want = ConfidenceMedium
		}
		if c.Code != NoReadyEndpoints || c.Confidence != want || len(r.Causes) != 1 {
			t.Errorf("served at 15 s %v: causes %+v, want NO_READY_ENDPOINTS alone at %s confidence", served, r.Causes, want)
		}
	}
}

// Issue 25: a weighted canary whose Service has no ready endpoint. The
// route gives it weight at 10 s; the Gateway answers 503 itself for its
// share, and those failures name no pod. They are the canary Service's
// empty window (NO_READY_ENDPOINTS, naming that Service), not unattributed.
func TestWeightedBackendWithNoReadyEndpoint(t *testing.T) {
	tl := newTimeline()
	tl.Running("web-a")
	tl.A.FirstByPod["web-a"], tl.A.LastByPod["web-a"] = at(0), at(29.9)
	// The canary's pod is in its Service's slice, never ready.
	tl.Event(0, rollout.Event{Type: rollout.EndpointAdded, Service: "web-canary", Pod: "canary-a", IP: "ip-canary-a", Ready: ptrTo(false), Serving: ptrTo(false), Terminating: ptrTo(false), Initial: true})
	tl.Fails(10.05, 19.95, 0.1, attack.Class503, "")
	in := tl.input(deployment())
	in.Backends = []Backend{
		{Service: "web", At: []time.Time{{}, at(10)}, Weight: []int32{100, 90}},
		{Service: "web-canary", At: []time.Time{{}, at(10)}, Weight: []int32{0, 10}},
	}
	r := build(in)
	c := r.Causes[0]
	if c.Code != NoReadyEndpoints || c.Failures != r.Failures || c.Confidence != ConfidenceHigh {
		t.Fatalf("causes %+v: want every failure NO_READY_ENDPOINTS at high confidence", r.Causes)
	}
	if !strings.Contains(c.Evidence, "Service web-canary weight 10 and it had no ready endpoint") {
		t.Errorf("evidence %q does not name the canary's Service and its weight", c.Evidence)
	}
	if rec, ok := findRec(r, "backendRefs[web-canary].weight"); !ok || !strings.HasPrefix(rec.Suggested, "0 until the pods of Service web-canary are ready") {
		t.Errorf("recommendations %+v: want the canary's weight held at 0 until its pods are ready", r.Recommendations)
	}
	if hasRec(r, "spec.strategy.rollingUpdate.maxUnavailable") {
		t.Errorf("recommendations %+v: the primary Service kept its endpoints, no strategy to change", r.Recommendations)
	}
	// Its weight back to 0 at 15 s: the front applies that late, so the
	// failures after are still the canary's, at medium confidence.
	in.Backends[1].At, in.Backends[1].Weight = []time.Time{{}, at(10), at(15)}, []int32{0, 10, 0}
	if c := build(in).Causes[0]; c.Code != NoReadyEndpoints || c.Failures != r.Failures || c.Confidence != ConfidenceMedium {
		t.Errorf("weight back to 0 at 15 s: causes %+v, want every failure NO_READY_ENDPOINTS at medium confidence", c)
	}
	// Before the route gave it weight, the same empty Service failed nothing.
	in.Backends[1].At, in.Backends[1].Weight = []time.Time{{}}, []int32{0}
	if r := build(in); r.Causes[0].Code == NoReadyEndpoints {
		t.Errorf("causes %+v: a backend with no weight takes no request", r.Causes)
	}
}
