package diagnosis

// A kept connection closed under a request through a front that pins
// connections (KEPT_CONNECTION_CLOSED): its evidence and the graceful
// shutdown it asks for instead of a preStop.

import (
	"fmt"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/report/internal/format"
)

// kept is the evidence of kept connections a terminating pod closed.
func (e telling) kept() string {
	c, p, name, more, classes, window := e.c, e.p, e.name, e.more, e.classes, e.window
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests failed (%s) from %s on connections kept alive to %s%s", c.failures, classes, window, name, more)
	if !p.exited.IsZero() {
		fmt.Fprintf(&b, ", which exited (code %s) %s after deletion", code(p.exitCode), p.exitAfterDeletion())
	}
	fmt.Fprintf(&b, "; the load went through %s: an established connection stays on its pod after the endpoint turns not-ready, so it failed when the pod closed it under a request, and a longer preStop only delays that", e.fm.via)
	b.WriteString(e.servers)
	return b.String()
}

// keptAdvice: through a front that pins connections, a pod must close its
// kept connections itself, gracefully, before it exits.
func keptAdvice(s settings, causes []Cause, m Measurements) []Recommendation {
	if !hasCause(causes, KeptConnectionClosed) {
		return nil
	}
	current := "closes kept connections under requests when it stops"
	if m.MaxShutdown != nil {
		current += fmt.Sprintf(" (shutdown took %s after the preStop)", format.Sec(time.Duration(*m.MaxShutdown*float64(time.Second))))
	}
	var out []Recommendation
	for _, c := range s.serving {
		out = append(out, Recommendation{
			Field:     "container " + c.Name + ": the app's shutdown on SIGTERM",
			Current:   current,
			Suggested: "close kept connections gracefully: on SIGTERM keep serving for a while but answer with Connection: close (HTTP/2: send GOAWAY), so that clients reconnect to a ready pod, then close the idle ones and exit once in-flight requests are done (Go: set the header while draining, then Server.Shutdown)",
			Why:       "an established connection stays on its pod whatever the endpoints say (kube-proxy's conntrack, an NLB), so clients keep sending on it until the pod closes it; closing it between requests makes them reconnect through the front to a ready pod, while a preStop sleep only moves the reset later. terminationGracePeriodSeconds must cover the drain",
			Causes:    codes(causes, KeptConnectionClosed),
		})
	}
	return out
}
