package report

// The synthetic runs of this package's tests (fixture's, read as this
// package's Input), and the tests of what Build makes of the diagnosis.

import (
	"bytes"
	"flag"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

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

var (
	at               = fixture.At
	deployment       = fixture.Deployment
	withPreStopSleep = fixture.WithPreStopSleep
)

// ptrTo is fixture.Ptr, under the name these tests use.
func ptrTo[T any](v T) *T { return fixture.Ptr(v) }

// timeline is the shared synthetic run (fixture.Timeline), read as this
// package's Input.
type timeline struct{ *fixture.Timeline }

func newTimeline() *timeline { return &timeline{fixture.NewTimeline()} }

func (tl *timeline) input(spec *appsv1.Deployment) Input {
	return Input{Namespace: "default", Deployment: "web", Action: "restart", Services: []string{"web"}, Targets: []string{"http://127.0.0.1:8080/"},
		Attack: tl.A, Events: tl.Sorted(), Outcome: tl.O, Drained: tl.O.CompletedAt, Thresholds: DefaultThresholds(), Spec: spec}
}

func exitsAtOnce() *timeline         { return &timeline{fixture.ExitsAtOnce()} }
func exitsAtOnceNoHeader() *timeline { return &timeline{fixture.ExitsAtOnceNoHeader()} }

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
	if !slices.ContainsFunc(r.Recommendations, func(rec Recommendation) bool {
		return rec.Field == "spec.template.spec.containers[app].lifecycle.preStop"
	}) {
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

func TestOffsetsReadFromTheLoadStart(t *testing.T) {
	for at, want := range map[time.Time]string{{}: "-", t0: "+0.00s", t0.Add(-1500 * time.Millisecond): "-1.50s", t0.Add(12345 * time.Millisecond): "+12.35s"} {
		if got := format.Offset(t0, at); got != want {
			t.Errorf("offset of %v is %q, want %q", at, got, want)
		}
	}
}
