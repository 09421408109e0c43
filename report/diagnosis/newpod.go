package diagnosis

// A new pod Ready before it served (NEW_POD_NOT_SERVING): when its window
// is open, what its evidence says and the readiness advice.

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/format"
	"github.com/rollcheck/rollcheck/workload"
)

// newOpen reports whether a failure at t may come from new pod p, Ready but
// not serving yet. The window ends at its first success when the app names
// itself, else at the start window; once its failures began, it stays open
// only while they keep coming.
func (w *weigher) newOpen(p *life, t time.Time, gap time.Duration) (open, bound bool) {
	if p.initial || p.ready.IsZero() || t.Before(p.ready) || !p.del.IsZero() && !t.Before(p.del) {
		return false, false
	}
	if !p.lastCand.IsZero() && t.Sub(p.lastCand) > gap {
		return false, false // its failures had stopped
	}
	if !p.firstOK.IsZero() {
		// A request started after the pod's first success met a pod
		// that served.
		return t.Before(p.firstOK), true
	}
	if t.After(p.ready.Add(w.x.opt.StartWindow)) {
		return false, false
	}
	// When others' successes named their pods and p had none, it had
	// not served yet: the window is p's own.
	return true, w.headers
}

// connectionFailure reports whether the class is a failure to connect or a
// connection closed under the request: what a pod that is not listening
// yet causes, and a pod whose readiness probe had just connected does not.
func connectionFailure(c attack.Class) bool {
	switch c {
	case attack.ClassRefused, attack.Class502, attack.ClassReset, attack.ClassEOF, attack.ClassGoaway:
		return true
	}
	return false
}

// listensWhenReady reports whether the workload's new pods are Ready only
// once they listen, as the workload model answers it
// (workload.Deployment.ListensWhenReady, the answer lint's
// no-readiness-probe takes too): from in.Settings, for every kind, or from
// in.Spec when there are no Settings. Unknown is false.
func listensWhenReady(in Input) bool {
	switch {
	case in.Settings != nil:
		return in.Settings.ListensWhenReady()
	case in.Spec != nil:
		return workload.Read(in.Spec).ListensWhenReady()
	}
	return false
}

// newPod is the evidence of a new pod that failed requests after Ready.
func (e telling) newPod() string {
	c, p, name, more, classes, t0 := e.c, e.p, e.name, e.more, e.classes, e.t0
	var b strings.Builder
	switch {
	case !p.ready.IsZero() && !p.lastNewFail.IsZero():
		fmt.Fprintf(&b, "%s turned ready at %s and failed %d requests in the next %s", name, format.Offset(t0, p.ready), c.pods[name], format.Sec(p.lastNewFail.Sub(p.ready)))
		if !p.firstOK.IsZero() {
			fmt.Fprintf(&b, "; its first successful request came %s after ready", format.Sec(p.firstOK.Sub(p.ready)))
		}
	case !p.ready.IsZero():
		fmt.Fprintf(&b, "%s turned ready at %s; %d failures from %s to %s may be its", name, format.Offset(t0, p.ready), c.pods[name], format.Offset(t0, c.from), format.Offset(t0, c.to))
		if n := c.shared(); n > 0 {
			fmt.Fprintf(&b, " (%d of them fit another cause as well)", n)
		} else {
			b.WriteString(" (no success named a pod, so when it began to serve is unknown)")
		}
	default:
		fmt.Fprintf(&b, "%s failed %d requests before it was ever ready", name, c.pods[name])
	}
	fmt.Fprintf(&b, "; %d failed in all (%s)%s", c.failures, classes, more)
	return b.String()
}

// newPodAdvice: a new pod must not be Ready before it serves.
func newPodAdvice(s settings, causes []Cause, m Measurements) []Recommendation {
	if !hasCause(causes, NewPodNotServing) {
		return nil
	}
	var out []Recommendation
	var worst time.Duration
	for _, np := range m.NewPods {
		if np.ReadyToLastFailure != nil {
			worst = max(worst, time.Duration(*np.ReadyToLastFailure*float64(time.Second)))
		}
	}
	withheld := unsure(causes, NewPodNotServing)
	if withheld == "" && worst <= 0 {
		withheld = "no failure was measured after a new pod turned Ready (they came before it, or the pod is unknown)"
	}
	failedFor := "new pods failed requests after they turned Ready"
	if worst > 0 {
		failedFor = fmt.Sprintf("new pods failed requests up to %s after they turned Ready", format.Sec(worst))
	}
	if withheld != "" && unsure(causes, NewPodNotServing) != "" {
		failedFor = "requests that failed after new pods turned Ready may be theirs"
	}
	// A pod is Ready when every container is, so the probe of each
	// container that takes traffic must wait until it serves.
	for _, c := range s.serving {
		out = append(out, Recommendation{
			Field:     c.Path("readinessProbe"),
			Current:   s.current("readinessProbe " + probeText(c.Readiness) + ", startupProbe " + probeText(c.Startup)),
			Suggested: "httpGet on a path that answers 200 only once the app serves, periodSeconds 1-2 (a startupProbe for slow starts)",
			Why:       failedFor + ": the pod was Ready before it could serve",
			Satisfied: false,
			Causes:    []CauseCode{NewPodNotServing},
		})
	}
	sugg := ceilSeconds(worst) + 1
	minReady := int64(s.w.MinReady / time.Second)
	rec := Recommendation{
		Field:     "spec.minReadySeconds",
		Current:   s.current(strconv.FormatInt(minReady, 10)),
		Suggested: strconv.FormatInt(sugg, 10),
		Why:       fmt.Sprintf("new pods failed for up to %s after Ready; minReadySeconds keeps the old pods until a new one has been Ready that long (it does not keep traffic off the new pod: the readiness probe does)", format.Sec(worst)),
		Satisfied: s.known && minReady >= sugg,
		Causes:    []CauseCode{NewPodNotServing},
	}
	if withheld != "" {
		rec.Suggested = "longer than a new pod takes to serve after Ready (no number: " + withheld + ")"
		rec.Satisfied = false
		rec.Why = failedFor + "; minReadySeconds keeps the old pods until a new one has been Ready that long (it does not keep traffic off the new pod: the readiness probe does)"
		rec.Satisfied = false
		rec.Withheld = withheld
	}
	out = append(out, rec)
	return out
}
