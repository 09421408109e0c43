package diagnosis

// A server that stops at once on SIGTERM (nginx, Apache httpd): the
// kubelet's stop signal is its fast shutdown, which cuts the requests in
// flight and refuses new ones. What the evidence says of it, and the
// preStop that stops it gracefully instead (seed 000: nginx -s quit).

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/report/internal/format"
	"github.com/rollcheck/rollcheck/rollout"
	"github.com/rollcheck/rollcheck/workload"
)

// terminationCodes are the causes of a pod that stopped serving while it
// still had, or was still sent, requests.
var terminationCodes = []CauseCode{InflightCut, KeptConnectionClosed, TerminatingPodStillRouted, LBDeregistrationLag, KubeProxyLag, HTTP2ClosedWithoutGoaway}

// serverStop is a serving container whose server SIGTERM stopped at once
// (or will): nothing in its spec stops it gracefully, or only its
// lifecycle.stopSignal does and the run saw that signal not applied.
type serverStop struct {
	workload.Container
	// unapplied counts the container's starts in the run whose status
	// reported a stop signal other than the graceful one (0: the spec
	// sets none), and reported is the one they reported ("": none).
	unapplied int
	reported  string
}

// stopsAtOnce lists the serving containers that run a known server which
// nothing stops gracefully (workload.Container.StopsAtOnce), and those
// whose graceful lifecycle.stopSignal the kubelet did not report for any
// start of the run (workload.Container.BySignal): the signal is applied
// only where the API server and the kubelet enable ContainerStopSignals
// (alpha, off by default through Kubernetes 1.35) and the runtime
// implements it, and the kubelet then reports it in the container's
// status. None when the workload is unknown.
func (s settings) stopsAtOnce() []serverStop {
	if !s.known {
		return nil
	}
	var out []serverStop
	for _, c := range s.serving {
		if c.StopsAtOnce {
			out = append(out, serverStop{Container: c})
			continue
		}
		if !c.BySignal {
			continue
		}
		reported := s.stopSignals[c.Name]
		if len(reported) == 0 || slices.Contains(reported, string(c.Server.Graceful)) {
			continue
		}
		out = append(out, serverStop{Container: c, unapplied: len(reported), reported: reported[0]})
	}
	return out
}

// startedStopSignals are the stop signals the kubelet reported for each
// container's starts in the run, by container name ("" for none).
func startedStopSignals(events []rollout.Event) map[string][]string {
	out := map[string][]string{}
	for _, e := range events {
		if e.Type == rollout.ContainerStarted && e.Container != "" {
			out[e.Container] = append(out[e.Container], e.StopSignal)
		}
	}
	return out
}

// containersSeen are the containers the run's container events named, by
// name, sorted.
func containersSeen(events []rollout.Event) []string {
	var out []string
	for _, e := range events {
		if (e.Type == rollout.ContainerStarted || e.Type == rollout.ContainerExited) && e.Container != "" && !slices.Contains(out, e.Container) {
			out = append(out, e.Container)
		}
	}
	slices.Sort(out)
	return out
}

// unappliedText says why a stop signal set in the spec did not stop the
// server gracefully ("" when the spec sets none).
func (c serverStop) unappliedText() string {
	if c.unapplied == 0 {
		return ""
	}
	what := "no stop signal"
	if c.reported != "" {
		what = c.reported
	}
	return fmt.Sprintf("its lifecycle.stopSignal %s was not applied: the kubelet reported %s in the status of its %s in the run (KEP-4960, alpha and off by default through Kubernetes 1.35: the kubelet applies the field only with the ContainerStopSignals gate and a runtime that implements it, and reports it then), so the kubelet's SIGTERM stopped it",
		c.Server.Graceful, what, fmt.Sprintf("%d %s", c.unapplied, format.Pick(c.unapplied == 1, "start", "starts")))
}

// serversText says which containers stop at once on SIGTERM, for the
// evidence of a cause that cut requests ("" when none does).
func serversText(cs []serverStop) string {
	if len(cs) == 0 {
		return ""
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("container %s runs %s, which SIGTERM stops at once (its fast shutdown; %s stops it gracefully)", c.Name, c.Server.Name, c.Server.Graceful)
		if u := c.unappliedText(); u != "" {
			parts[i] += ", and " + u
		}
	}
	return "; " + strings.Join(parts, "; ")
}

// serverStopAdvice: the preStop of a container whose server stops at once
// on SIGTERM ends with the server's graceful stop, after the sleep that
// keeps it serving while the front still routes to it, and holds until the
// requests in flight have finished (the server exits then, and the
// container with it). It rewrites the preStop advice pre gave that
// container, or adds one.
func serverStopAdvice(s settings, causes []Cause, m Measurements, slowest time.Duration, pre preStop) preStop {
	cs := s.stopsAtOnce()
	if len(cs) == 0 || !hasCause(causes, terminationCodes...) {
		return pre
	}
	// The graceful stop waits for the requests in flight: the slowest
	// served, and a margin.
	slowest = slowestServed(m, slowest)
	wait := ceilSeconds(slowest + graceMargin)
	for _, c := range cs {
		i := -1
		for j, r := range pre.recs {
			if r.Field == c.Path("lifecycle.preStop") {
				i = j
			}
		}
		sleep := "N"
		switch {
		case i >= 0 && pre.withheld == "":
			sleep = fmt.Sprint(ceilSeconds(pre.target))
		case i < 0 && c.PreStop.Known && c.PreStop.Sleep > 0:
			sleep = fmt.Sprint(ceilSeconds(c.PreStop.Sleep))
		case i < 0:
			// No routing was measured: the graceful stop closes the
			// server's listeners, so the sleep is at least the margin
			// for a front to stop sending new connections.
			sleep = fmt.Sprint(ceilSeconds(minPreStopMargin))
		}
		script := fmt.Sprintf("sleep %s; %s; sleep %d", sleep, c.Server.Quit, wait)
		alternative := fmt.Sprintf("; or lifecycle.stopSignal: %s with the sleep alone, where the cluster applies it (Kubernetes 1.33+, alpha: the ContainerStopSignals gate on the API server and the kubelet, a runtime that implements it, spec.os.name set)", c.Server.Graceful)
		if c.unapplied > 0 {
			alternative = fmt.Sprintf(" (the lifecycle.stopSignal %s set now was not applied in this cluster: the preStop works on any)", c.Server.Graceful)
		}
		suggested := fmt.Sprintf(`exec ["sh", "-c", "%s"]: the sleep, while the front still routes to the pod, then %s's graceful stop, which closes its listeners, finishes the requests in flight (the slowest took %s) and exits%s`,
			script, c.Server.Name, format.Sec(slowest), alternative)
		why := fmt.Sprintf("the kubelet stops a container with SIGTERM (after its preStop), and %s takes SIGTERM as a fast shutdown: it closes its connections at once, cutting requests in flight, where %s would let them finish (%s; seed 000: a preStop of nginx -s quit)", c.Server.Name, c.Server.Graceful, c.Server.Doc)
		if u := c.unappliedText(); u != "" {
			why += "; " + u
		}
		rec := Recommendation{
			Field:   c.Path("lifecycle.preStop"),
			Current: s.current(c.PreStop.Text),
			Causes:  codes(causes, terminationCodes...),
		}
		if i >= 0 {
			rec = pre.recs[i]
			if pre.withheld != "" {
				suggested = strings.Replace(suggested, "the sleep,", "the sleep (N: "+rec.Suggested+"),", 1)
			}
			why = rec.Why + "; and " + why
		}
		rec.Suggested, rec.Why, rec.Satisfied = suggested, why, false
		rec.Causes = codes(causes, terminationCodes...)
		if i >= 0 {
			pre.recs[i] = rec
		} else {
			pre.recs = append(pre.recs, rec)
		}
	}
	return pre
}
