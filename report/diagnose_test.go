package report

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/fixture"
	"github.com/rollcheck/rollcheck/report/internal/format"
	"github.com/rollcheck/rollcheck/rollout"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	fixture.Golden(t, *update, name, got)
}

var at = fixture.At

func ptrTo[T any](v T) *T { return &v }

// timeline is the shared synthetic run (fixture.Timeline), read as this
// package's Input.
type timeline struct{ *fixture.Timeline }

func newTimeline() *timeline { return &timeline{fixture.NewTimeline()} }

func (tl *timeline) input(spec *appsv1.Deployment) Input {
	return Input{Namespace: "default", Deployment: "web", Action: "restart", Services: []string{"web"}, Targets: []string{"http://127.0.0.1:8080/"},
		Attack: tl.A, Events: tl.Sorted(), Outcome: tl.O, Drained: tl.O.CompletedAt, Thresholds: DefaultThresholds(), Spec: spec}
}

// deployment is a 2-replica Deployment; opts adjust it.
func deployment(opts ...func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	d.Name = "web"
	d.Spec.Replicas = ptrTo(int32(2))
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: ptrTo(intstr.FromInt32(0)), MaxSurge: ptrTo(intstr.FromInt32(1))}}
	d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptrTo(int64(30))
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Image: "demo"}}
	for _, o := range opts {
		o(d)
	}
	return d
}

func withPreStopSleep(s string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "sleep " + s}}}}
	}
}

// exitsAtOnce: app exits on SIGTERM at once, no preStop; the load balancer
// keeps routing 2 s after the endpoint turned not-ready. The app names
// itself on its successes, as the lab's app does: the new pod served from
// 11.6 s, the old one until 12.1 s.
func exitsAtOnce() *timeline {
	tl := exitsAtOnceNoHeader()
	tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = at(11.6), at(29.9)
	tl.A.FirstByPod["web-old-a"], tl.A.LastByPod["web-old-a"] = at(0), at(12.1)
	return tl
}

// exitsAtOnceNoHeader is exitsAtOnce with no pod header on any response
// (agnhost, or an app that does not name itself): the new pod, Ready 0.65 s
// before the failures began, may as well be the one failing them.
func exitsAtOnceNoHeader() *timeline {
	tl := newTimeline()
	tl.Running("web-old-a")
	tl.Started("web-new-a", 10, 10.5, 11.5)
	tl.Deleted("web-old-a", 12, 12.02, 12.12, 0, 12.2)
	tl.Fails(12.15, 14.0, 0.05, attack.ClassRefused, "")
	tl.Fails(12.175, 13.5, 0.1, attack.Class502, "")
	return tl
}

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
		check       func(t *testing.T, r *Report)
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
			check: func(t *testing.T, r *Report) {
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
			check: func(t *testing.T, r *Report) {
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
			check: func(t *testing.T, r *Report) {
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
			check: func(t *testing.T, r *Report) {
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
			check: func(t *testing.T, r *Report) {
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
			check: func(t *testing.T, r *Report) {
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
			check: func(t *testing.T, r *Report) {
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
			check: func(t *testing.T, r *Report) {
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
			check: func(t *testing.T, r *Report) {
				if r.Causes[0].Failures != r.Load.Failures {
					t.Errorf("cause counts %d failures, load %d", r.Causes[0].Failures, r.Load.Failures)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Build(tt.timeline().input(tt.spec))
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
			if total != r.Load.Failures {
				t.Errorf("causes count %d failures, the load %d", total, r.Load.Failures)
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

func findRec(r *Report, field string) (Recommendation, bool) {
	for _, rec := range r.Recommendations {
		if rec.Field == field {
			return rec, true
		}
	}
	return Recommendation{}, false
}

func hasRec(r *Report, field string) bool {
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

func TestRecommendationsAreSatisfiedByGoodSettings(t *testing.T) {
	tl := newTimeline()
	tl.Running("web-old-a")
	tl.Started("web-new-a", 10, 10.5, 11.5)
	tl.Deleted("web-old-a", 12, 12.02, 22.1, 0, 22.2)
	tl.A.LastByPod["web-old-a"] = at(14.0) // the LB routed to it 1.98 s after unready, no failure
	r := Build(tl.input(deployment(withPreStopSleep("10"))))
	if len(r.Causes) != 0 {
		t.Fatalf("causes = %+v, want none", r.Causes)
	}
	if r.Verdict != Pass {
		t.Errorf("verdict = %s", r.Verdict)
	}
	for _, rec := range r.Recommendations {
		if !rec.Satisfied {
			t.Errorf("recommendation %s (%s -> %s) not satisfied by preStop sleep 10, grace 30", rec.Field, rec.Current, rec.Suggested)
		}
	}
	if !hasRec(r, "spec.template.spec.containers[app].lifecycle.preStop") {
		t.Errorf("a measured lag shows the preStop check even when it passes")
	}
}

func TestJSONHasTheDiagnosisFields(t *testing.T) {
	r := Build(exitsAtOnce().input(deployment()))
	var buf bytes.Buffer
	if err := writeJSON(r, &buf); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"causes"`, `"recommendations"`, `"measurements"`, `"attribution": "time-window"`, `"attributed"`, `"code": "TERMINATING_POD_STILL_ROUTED"`, `"evidence"`, `"satisfied": false`, `"routing_lag_seconds": 1.98`, `"min_ready_endpoints": 1`} {
		if !strings.Contains(buf.String(), k) {
			t.Errorf("JSON lacks %s", k)
		}
	}
}

// BenchmarkBuild: 10 minutes of 100 ms buckets (1,000,000 requests), 10,000
// events (1,000 pods) and 50,000 failure records.
// benchInput is a 10-minute run at about 1,667 requests/s (1,000,000
// requests in 100 ms buckets) with 1,000 pods replaced (10,000 lifecycle
// events) and 50,000 failures.
func benchInput() Input {
	const buckets, pods, failures = 6000, 1000, 50000
	a := &attack.Result{Start: t0, End: t0.Add(10 * time.Minute), Rate: 1667, AchievedRate: 1667, BucketWidth: 100 * time.Millisecond,
		ByClass: map[attack.Class]int{}, LastByPod: map[string]time.Time{}, FirstByPod: map[string]time.Time{}}
	for i := 0; i < buckets; i++ {
		a.Buckets = append(a.Buckets, attack.Bucket{Start: t0.Add(time.Duration(i) * 100 * time.Millisecond), Total: 167, OK: 167})
		a.Requests += 167
	}
	var ev []rollout.Event
	step := 10 * time.Minute / pods
	for i := 0; i < pods; i++ {
		name := fmt.Sprintf("web-%04d", i)
		c := t0.Add(time.Duration(i) * step)
		add := func(d time.Duration, e rollout.Event) {
			e.Time, e.Pod = c.Add(d), name
			ev = append(ev, e)
		}
		add(0, rollout.Event{Type: rollout.PodCreated})
		add(100*time.Millisecond, rollout.Event{Type: rollout.PodScheduled})
		add(300*time.Millisecond, rollout.Event{Type: rollout.ContainerStarted})
		add(time.Second, rollout.Event{Type: rollout.PodReady})
		add(time.Second+10*time.Millisecond, rollout.Event{Type: rollout.EndpointAdded, Service: "web", Ready: ptrTo(true)})
		add(20*time.Second, rollout.Event{Type: rollout.DeletionRequested, GracePeriod: ptrTo(30 * time.Second), Detail: "grace 30s"})
		add(20*time.Second+20*time.Millisecond, rollout.Event{Type: rollout.EndpointChanged, Service: "web", Ready: ptrTo(false), Terminating: ptrTo(true)})
		add(20*time.Second+100*time.Millisecond, rollout.Event{Type: rollout.ContainerExited, ExitCode: ptrTo(int32(0))})
		add(20*time.Second+200*time.Millisecond, rollout.Event{Type: rollout.EndpointRemoved, Service: "web"})
		add(20*time.Second+210*time.Millisecond, rollout.Event{Type: rollout.PodDeleted})
		a.FirstByPod[name], a.LastByPod[name] = c.Add(1100*time.Millisecond), c.Add(20*time.Second+50*time.Millisecond)
	}
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].Time.Before(ev[j].Time) })
	classes := []attack.Class{attack.ClassRefused, attack.Class502, attack.Class503, attack.ClassReset}
	for i := 0; i < failures; i++ {
		ft := t0.Add(time.Duration(i) * (10 * time.Minute / failures))
		a.FailureList = append(a.FailureList, attack.Failure{Time: ft, Latency: time.Millisecond, Class: classes[i%len(classes)]})
		bk := &a.Buckets[int(ft.Sub(t0)/(100*time.Millisecond))]
		bk.OK--
		if bk.ByClass == nil {
			bk.ByClass = map[attack.Class]int{}
		}
		bk.ByClass[classes[i%len(classes)]]++
		a.Failures++
	}
	return Input{Deployment: "web", Services: []string{"web"}, Attack: a, Events: ev, Thresholds: DefaultThresholds(), Spec: deployment(),
		Outcome: rollout.Outcome{Triggered: true, Completed: true, StartedAt: t0, CompletedAt: t0.Add(10 * time.Minute)}}
}

func BenchmarkBuild(b *testing.B) {
	in := benchInput()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = Build(in)
	}
}

func fptr(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestOffsetsReadFromTheLoadStart(t *testing.T) {
	for at, want := range map[time.Time]string{{}: "-", t0: "+0.00s", t0.Add(-1500 * time.Millisecond): "-1.50s", t0.Add(12345 * time.Millisecond): "+12.35s"} {
		if got := format.Offset(t0, at); got != want {
			t.Errorf("offset of %v is %q, want %q", at, got, want)
		}
	}
}
