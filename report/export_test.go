package report

import (
	"fmt"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/fixture"
)

// The synthetic runs of this package's tests, for its external tests
// (rendered_test.go), which render them.

var (
	BothStreams = bothStreams
	BenchInput  = benchInput
	SoundInput  = soundInput
	Stall       = stall
)

// ExitsAtOnceInput is the run of an app that exits on SIGTERM at once.
func ExitsAtOnceInput() Input { return exitsAtOnce().input(deployment()) }

// ExitsAtOnceNoHeaderInput is ExitsAtOnceInput with no pod header.
func ExitsAtOnceNoHeaderInput() Input { return exitsAtOnceNoHeader().input(deployment()) }

// NoFailureInput is a rollout no request failed in.
func NoFailureInput() Input { return newTimeline().input(nil) }

// Update is the -update flag: rewrite the golden files.
func Update() bool { return *update }

// ToBeInput is the to-be run: the old pod sleeps 10 s in its preStop while
// the load balancer still routes to it for 1.98 s, and nothing fails.
func ToBeInput() Input {
	tl := newTimeline()
	tl.Running("web-old-a")
	tl.Started("web-new-a", 10, 10.5, 11.5)
	tl.Deleted("web-old-a", 12, 12.02, 22.1, 0, 22.2)
	tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = fixture.At(11.6), fixture.At(29.9)
	tl.A.FirstByPod["web-old-a"], tl.A.LastByPod["web-old-a"] = fixture.At(0), fixture.At(14.0)
	return tl.input(deployment(withPreStopSleep("10")))
}

// ManyPodsInput is a rollout of n pods whose old pods each exit at once
// and fail requests while the load balancer still routes to them, one
// after another: pod i is deleted at 10+i/5 s.
func ManyPodsInput(n int) Input {
	tl := newTimeline()
	for i := range n {
		old, nw := fmt.Sprintf("web-old-%02d", i), fmt.Sprintf("web-new-%02d", i)
		d := 10 + float64(i)/5
		tl.Running(old)
		tl.Started(nw, d-1.5, d-1, d-0.1)
		tl.Deleted(old, d, d+0.02, d+0.1+float64(i%5)/10, 0, d+0.2)
		tl.A.FirstByPod[old], tl.A.LastByPod[old] = fixture.At(0), fixture.At(d+0.05)
		tl.A.FirstByPod[nw], tl.A.LastByPod[nw] = fixture.At(d), fixture.At(29.9)
		tl.Fails(d+0.11+float64(i%5)/10, d+0.5+float64(i%5)/10, 0.05, attack.ClassRefused, old)
	}
	return tl.input(deployment())
}
