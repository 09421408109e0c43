package diagnosis

// A server that stops at once on SIGTERM (nginx, Apache httpd): the
// kubelet's stop signal is its fast shutdown, which cuts the requests in
// flight and refuses new ones. What the evidence says of it, and the
// preStop that stops it gracefully instead (seed 000: nginx -s quit).

import (
	"fmt"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/report/internal/format"
	"github.com/rollcheck/rollcheck/workload"
)

// terminationCodes are the causes of a pod that stopped serving while it
// still had, or was still sent, requests.
var terminationCodes = []CauseCode{InflightCut, KeptConnectionClosed, TerminatingPodStillRouted, LBDeregistrationLag, KubeProxyLag, HTTP2ClosedWithoutGoaway}

// stopsAtOnce lists the serving containers that run a known server which
// nothing stops gracefully (workload.Container.StopsAtOnce); none when the
// workload is unknown.
func (s settings) stopsAtOnce() []workload.Container {
	if !s.known {
		return nil
	}
	var out []workload.Container
	for _, c := range s.serving {
		if c.StopsAtOnce {
			out = append(out, c)
		}
	}
	return out
}

// serversText says which containers stop at once on SIGTERM, for the
// evidence of a cause that cut requests ("" when none does).
func serversText(cs []workload.Container) string {
	if len(cs) == 0 {
		return ""
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("container %s runs %s, which SIGTERM stops at once (its fast shutdown; %s stops it gracefully)", c.Name, c.Server.Name, c.Server.Graceful)
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
		suggested := fmt.Sprintf(`exec ["sh", "-c", "%s"]: the sleep, while the front still routes to the pod, then %s's graceful stop, which closes its listeners, finishes the requests in flight (the slowest took %s) and exits; or lifecycle.stopSignal: %s with the sleep alone (Kubernetes 1.33+, feature gate ContainerStopSignals, spec.os.name set)`,
			script, c.Server.Name, format.Sec(slowest), c.Server.Graceful)
		why := fmt.Sprintf("the kubelet stops a container with SIGTERM (after its preStop), and %s takes SIGTERM as a fast shutdown: it closes its connections at once, cutting requests in flight, where %s would let them finish (%s; seed 000: a preStop of nginx -s quit)", c.Server.Name, c.Server.Graceful, c.Server.Doc)
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
