package diagnosis

// The synthetic runs of the diagnosis's tests (fixture's, read as this
// package's Input), and run, what Build keeps of a diagnosis.

import (
	appsv1 "k8s.io/api/apps/v1"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/fixture"
)

var (
	t0               = fixture.T0
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
	return Input{Services: []string{"web"}, Attack: tl.A, Events: tl.Sorted(), Outcome: tl.O, Spec: spec}
}

func exitsAtOnce() *timeline         { return &timeline{fixture.ExitsAtOnce()} }
func exitsAtOnceNoHeader() *timeline { return &timeline{fixture.ExitsAtOnceNoHeader()} }

// run is a diagnosis with its recommendations, as report.Build keeps it
// for a run without lint findings or watch gaps, and the failures the
// load counted.
type run struct {
	*Result
	Recommendations []Recommendation
	Failures        int
}

func build(in Input) *run {
	d := Diagnose(in)
	n := 0
	if in.Attack != nil {
		n = in.Attack.Failures
	}
	return &run{Result: d, Recommendations: d.Recommend(d.Causes), Failures: n}
}

// exitReportedLate is web-old-a deleted at 12 s with its exit reported
// only at 14 s (a real kubelet, no finishedAt to bound it), beside
// web-old-b, which keeps serving.
func exitReportedLate() *timeline {
	tl := newTimeline()
	tl.Running("web-old-a")
	tl.Running("web-old-b")
	tl.Deleted("web-old-a", 12, 12.02, 14, 0, 14.1)
	return tl
}

// keptFails records failures of class every step seconds from from to to,
// each on a connection kept from an earlier request.
func keptFails(tl *timeline, from, to, step float64, class attack.Class) {
	n := len(tl.A.FailureList)
	tl.Fails(from, to, step, class, "")
	for i := n; i < len(tl.A.FailureList); i++ {
		f := &tl.A.FailureList[i]
		f.Reused, f.Stream = true, attack.StreamReused
	}
}

// refusedThenKeptReset is exitReportedLate with new connections refused
// from 14.05 s to 14.95 s (after the exit) and kept ones reset from
// 15.05 s to 15.45 s.
func refusedThenKeptReset() *timeline {
	tl := exitReportedLate()
	tl.Fails(14.05, 15.0, 0.1, attack.ClassRefused, "")
	for i := range tl.A.FailureList {
		tl.A.FailureList[i].Stream = attack.StreamNew
	}
	keptFails(tl, 15.05, 15.5, 0.1, attack.ClassReset)
	return tl
}
