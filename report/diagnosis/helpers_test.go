package diagnosis

// The synthetic runs of the diagnosis's tests (fixture's, read as this
// package's Input), and run, what Build keeps of a diagnosis.

import (
	appsv1 "k8s.io/api/apps/v1"

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
