package diagnosis

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/format"
	"github.com/rollcheck/rollcheck/rollout"
)

func fmtSecs(v *float64) string {
	if v == nil {
		return "none"
	}
	return strconv.FormatFloat(*v, 'f', 2, 64) + " s"
}

// stampAt is what a server writes for a moment s seconds after t0 on its
// own clock, skew ahead of rollcheck's: whole seconds.
func stampAt(s float64, skew time.Duration) *time.Time {
	v := at(s).Add(skew).Truncate(time.Second)
	return &v
}

// realKubelet is a timeline as a real kubelet reports it: every pod
// transition carries the server's whole-second stamp of when it happened,
// the API server's own (creation, deletion) arrive within milliseconds,
// and the kubelet's exits arrive seconds late. skew is how far the
// servers' clocks run ahead of rollcheck's.
type realKubelet struct {
	*timeline
	skew time.Duration
}

func newRealKubelet(skew time.Duration) realKubelet {
	return realKubelet{timeline: newTimeline(), skew: skew}
}

// created adds a new pod created at c, whose container started at s (seen
// at seen) and which turned Ready at r.
func (k realKubelet) created(pod string, c, s, seen, r float64) {
	k.Event(c+0.01, rollout.Event{Type: rollout.PodCreated, Pod: pod, ServerTime: stampAt(c, k.skew)})
	k.Event(seen, rollout.Event{Type: rollout.ContainerStarted, Pod: pod, Container: "app", ServerTime: stampAt(s, k.skew)})
	k.Event(r, rollout.Event{Type: rollout.PodReady, Pod: pod, ServerTime: stampAt(r-0.05, k.skew)})
	k.Event(r+0.02, rollout.Event{Type: rollout.EndpointAdded, Service: "web", Pod: pod, IP: "ip-" + pod, Ready: ptrTo(true), Serving: ptrTo(true), Terminating: ptrTo(false)})
}

// stopped adds a pod's termination: deletion at d (grace 30 s), endpoint
// not ready at d+0.03, container exit at x with code, seen at seen, and
// removal from the endpoints just after.
func (k realKubelet) stopped(pod string, d, x float64, code int32, seen float64) {
	k.Event(d+0.01, rollout.Event{Type: rollout.DeletionRequested, Pod: pod, GracePeriod: ptrTo(30 * time.Second), Detail: "grace 30s", ServerTime: stampAt(d+30, k.skew)})
	k.Event(d+0.03, rollout.Event{Type: rollout.EndpointChanged, Service: "web", Pod: pod, IP: "ip-" + pod, Ready: ptrTo(false), Serving: ptrTo(true), Terminating: ptrTo(true)})
	k.Event(seen, rollout.Event{Type: rollout.ContainerExited, Pod: pod, Container: "app", ExitCode: ptrTo(code), ServerTime: stampAt(x, k.skew)})
	k.Event(seen+0.02, rollout.Event{Type: rollout.EndpointRemoved, Service: "web", Pod: pod, IP: "ip-" + pod})
	k.Event(seen+0.03, rollout.Event{Type: rollout.PodDeleted, Pod: pod})
}

func TestServerClockBoundsTheServersStamps(t *testing.T) {
	for _, skew := range []time.Duration{0, 400 * time.Millisecond, -1700 * time.Millisecond} {
		k := newRealKubelet(skew)
		k.Running("web-old-a")
		k.created("web-new-a", 10.3, 10.6, 11.4, 11.5)
		k.created("web-new-b", 12.8, 13.1, 13.9, 14.2)
		k.stopped("web-old-a", 11.72, 11.9, 0, 14.1)
		c := serverClockOf(k.input(nil).Events)
		if !c.ok {
			t.Fatalf("skew %s: no clock from the stamps", skew)
		}
		// rollcheck time = server time + off, off = -skew.
		if off := -skew; off < c.lo || off > c.hi {
			t.Errorf("skew %s: offset bounds [%s, %s] do not hold the true offset %s", skew, c.lo, c.hi, off)
		}
		if w := c.hi - c.lo; w > serverTick+promptTol {
			t.Errorf("skew %s: offset bounds %s wide, want at most a tick and the delivery tolerance", skew, w)
		}
		// The exit at 11.9 s, seen at 14.1 s, is bounded by its stamp.
		p := lifecycles(k.input(nil).Events)["web-old-a"]
		if !p.exitStamped || p.exitLo.After(at(11.9)) || p.exitHi.Before(at(11.9)) || p.exitHi.Sub(p.exitLo) > serverTick+promptTol+10*time.Millisecond {
			t.Errorf("skew %s: exit bounds %s to %s (seen %s), want about a second around +11.90s", skew, format.Offset(t0, p.exitLo), format.Offset(t0, p.exitHi), format.Offset(t0, p.exited))
		}
		if !p.exitHi.Before(p.exited) {
			t.Errorf("skew %s: the exit's latest time %s is not before it was seen (%s)", skew, format.Offset(t0, p.exitHi), format.Offset(t0, p.exited))
		}
	}

	t.Run("stamps that contradict the timeline are not used", func(t *testing.T) {
		k := newRealKubelet(0)
		k.created("web-new-a", 10.3, 10.6, 11.4, 11.5)
		// A creation stamped 5 s after it was seen: a clock that jumped.
		k.Event(12, rollout.Event{Type: rollout.PodCreated, Pod: "web-new-b", ServerTime: stampAt(17, 0)})
		if c := serverClockOf(k.input(nil).Events); c.ok {
			t.Errorf("clock %+v from contradicting stamps, want none", c)
		}
	})
	t.Run("without stamps an exit is taken as seen", func(t *testing.T) {
		tl := newTimeline()
		tl.Running("web-old-a")
		tl.Deleted("web-old-a", 12, 12.02, 12.12, 0, 12.2)
		p := lifecycles(tl.input(nil).Events)["web-old-a"]
		if p.exitStamped || !p.exitLo.Equal(p.exited) || !p.exitHi.Equal(p.exited) {
			t.Errorf("exit bounds %s to %s, want both at +12.12s", format.Offset(t0, p.exitLo), format.Offset(t0, p.exitHi))
		}
	})
}

// TestDiagnosisOnRealKubeletTiming: the causes rest on when exits happened,
// by their stamps, not on when a late status showed them.
func TestDiagnosisOnRealKubeletTiming(t *testing.T) {
	t.Run("an app that exits at once, its exit seen 2.4 s late, while the LB routes to it for 2 s: a terminating pod still routed, lag measured", func(t *testing.T) {
		k := newRealKubelet(300 * time.Millisecond)
		k.Running("web-old-a")
		k.created("web-new-a", 10.3, 10.6, 11.4, 11.5)
		k.stopped("web-old-a", 12, 12.15, 2, 14.55)
		k.A.FirstByPod["web-new-a"], k.A.LastByPod["web-new-a"] = at(11.55), at(29.9)
		k.A.FirstByPod["web-old-a"], k.A.LastByPod["web-old-a"] = at(0), at(12.1)
		k.Fails(12.2, 14.0, 0.05, attack.Class502, "")
		r := build(k.input(deployment()))
		if len(r.Causes) != 1 || r.Causes[0].Code != TerminatingPodStillRouted || r.Causes[0].Confidence != ConfidenceHigh || r.Causes[0].Failures != r.Failures {
			t.Fatalf("causes %+v, want only TERMINATING_POD_STILL_ROUTED, high, for all %d failures", r.Causes, r.Failures)
		}
		if lag := r.Measurements.MaxRoutingLag; lag == nil || math.Abs(*lag-1.97) > 0.02 {
			t.Errorf("routing lag %v, want 1.97 (from the endpoint's not-ready to the last failure)", lag)
		}
		ev := r.Causes[0].Evidence
		if !strings.Contains(ev, "exited (code 2) 0.00 to 1.") {
			t.Errorf("evidence %q does not bound the exit by its stamp", ev)
		}
		tp := r.Measurements.TerminatingPods[0]
		if tp.DeletionToExitMin == nil || tp.DeletionToExitMax == nil || *tp.DeletionToExitMax > 1.5 || *tp.DeletionToExit < 2.5 {
			t.Errorf("deletion to exit %v, bounds %v to %v; want seen at 2.55 s, bounded within 1.5 s", tp.DeletionToExit, tp.DeletionToExitMin, tp.DeletionToExitMax)
		}
	})

	t.Run("requests longer than the grace period, cut by SIGKILL whose exit shows 2.5 s late: in-flight cut, shutdown from the stamp", func(t *testing.T) {
		k := newRealKubelet(0)
		k.Running("web-old-a")
		k.created("web-new-a", 10.3, 10.6, 11.4, 11.5)
		k.stopped("web-old-a", 12, 15.4, exitCodeKilled, 17.9)
		// Requests of 3 s that began before the SIGKILL end with it.
		for _, s := range []float64{12.5, 13.0, 13.5} {
			k.Fail(s, attack.Class502, "", time.Duration((15.4-s)*float64(time.Second)))
		}
		r := build(k.input(deployment(withPreStopSleep("2"))))
		if len(r.Causes) != 1 || r.Causes[0].Code != InflightCut || r.Causes[0].Failures != 3 {
			t.Fatalf("causes %+v, want the 3 failures as INFLIGHT_CUT", r.Causes)
		}
		if tp := r.Measurements.TerminatingPods[0]; tp.DeletionToExitMax == nil || *tp.DeletionToExitMax > 4.5 {
			t.Errorf("deletion to exit at most %v, want the stamp's bound (about 4 s), not the 5.9 s it was seen at", tp.DeletionToExitMax)
		}
	})

	t.Run("requests to a pod IP gone with its pod time out: the grace period holds the cut requests, not the client's timeout", func(t *testing.T) {
		k := newRealKubelet(0)
		k.Running("web-old-a")
		k.created("web-new-a", 10.3, 10.6, 11.4, 11.5)
		k.stopped("web-old-a", 12, 15.4, exitCodeKilled, 17.9)
		for _, s := range []float64{12.5, 13.0} {
			k.Fail(s, attack.Class502, "", time.Duration((15.4-s)*float64(time.Second)))
		}
		// Routed to the gone pod's address until the LB deregistered it:
		// no answer until the client's 5 s timeout.
		k.Fail(15.6, attack.ClassTimeout, "", 5*time.Second)
		r := build(k.input(deployment(withPreStopSleep("2"))))
		rec, ok := findRec(r, "spec.template.spec.terminationGracePeriodSeconds")
		if !ok {
			t.Fatal("no grace period advice")
		}
		// The shutdown to hold is the longest cut (2.9 s), not the 5 s
		// timeout.
		if !strings.Contains(rec.Why, "2.90 s") || strings.Contains(rec.Why, "5.00 s") {
			t.Errorf("grace period %q because %q; want it from the 2.90 s the cut requests had been open, not the 5 s timeout", rec.Suggested, rec.Why)
		}
	})

	t.Run("old pods replaced 1.8 s apart behind a 3 s lag, exits seen late: each later failure is the later pod's, the lag is 3 s", func(t *testing.T) {
		k := newRealKubelet(0)
		for i, n := range []string{"a", "b", "c"} {
			d := 12 + 1.8*float64(i)
			k.Running("web-old-" + n)
			k.created("web-new-"+n, d-1.5, d-1.2, d-0.5, d-0.1)
			// Killed at the end of a 1 s grace; the exit shows 1.5 s late.
			k.stopped("web-old-"+n, d, d+1.2, exitCodeKilled, d+2.7)
			k.A.FirstByPod["web-old-"+n], k.A.LastByPod["web-old-"+n] = at(0), at(d+1.15)
			k.A.FirstByPod["web-new-"+n], k.A.LastByPod["web-new-"+n] = at(d-0.1), at(29.9)
			// The LB routes to it until 3 s after its endpoint turned
			// not ready (d+0.03).
			k.Fails(d+1.25, d+3.0, 0.1, attack.Class502, "")
		}
		r := build(k.input(deployment()))
		if lag := r.Measurements.MaxRoutingLag; lag == nil || *lag > 3.1 {
			t.Errorf("routing lag %s, want about 3 s: a failure was tied to an older pod than the one the lag explains", fmtSecs(lag))
		}
		if len(r.Causes) != 1 || r.Causes[0].Code != LBDeregistrationLag {
			t.Errorf("causes %+v, want LB_DEREGISTRATION_LAG alone", r.Causes)
		}
	})

	t.Run("a pod the LB had stopped sending requests to, whose exit shows late, is left out by its stamp", func(t *testing.T) {
		k := newRealKubelet(0)
		k.Running("web-old-a")
		k.Running("web-old-b")
		k.created("web-new-a", 10.3, 10.6, 11.4, 11.5)
		// web-old-a drains on SIGTERM: its successes stop at 12.3 and it
		// exits only at 16.2 (seen at 18).
		k.stopped("web-old-a", 12, 16.2, 0, 18)
		k.A.FirstByPod["web-old-a"], k.A.LastByPod["web-old-a"] = at(0), at(12.3)
		k.A.FirstByPod["web-new-a"], k.A.LastByPod["web-new-a"] = at(11.55), at(29.9)
		k.Fails(17.2, 17.6, 0.1, attack.Class502, "")
		r := build(k.input(deployment()))
		for _, c := range r.Causes {
			if c.Code != Unattributed {
				t.Errorf("cause %s (%d failures) for failures after a pod the LB no longer used had exited: %s", c.Code, c.Failures, c.Evidence)
			}
		}
	})
}
