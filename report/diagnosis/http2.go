package diagnosis

// An HTTP/2 connection closed without GOAWAY
// (HTTP2_CONNECTION_CLOSED_WITHOUT_GOAWAY): an HTTP/2 client multiplexes
// every request to a target over one connection, which an L4 front
// (kube-proxy, an NLB) keeps on the pod it first reached. A terminating
// pod that closes it without GOAWAY fails every stream in flight, and the
// client had no word to open a new connection before: the pod must say
// GOAWAY, then finish its streams.

import (
	"fmt"
	"strings"

	"github.com/rollcheck/rollcheck/attack"
)

// HTTP2ClosedWithoutGoaway: over HTTP/2, a terminating pod closed the
// connection its client's streams shared without a GOAWAY first.
const HTTP2ClosedWithoutGoaway CauseCode = "HTTP2_CONNECTION_CLOSED_WITHOUT_GOAWAY"

// noGoaway reports whether a failure a terminating pod caused by closing
// a kept connection under the request (code: cut at its exit, or a kept
// connection closed) came over HTTP/2 without a GOAWAY: after one, the
// transport words the error as a GOAWAY (class goaway), not an EOF or a
// reset.
func noGoaway(a *attack.Result, it item, code CauseCode) bool {
	if !a.HTTP2 || !it.reused || it.class != attack.ClassEOF && it.class != attack.ClassReset {
		return false
	}
	return code == InflightCut || code == KeptConnectionClosed
}

// noGoaway is the evidence of HTTP2_CONNECTION_CLOSED_WITHOUT_GOAWAY.
func (e telling) noGoaway(goaways int) string {
	c, p, name, more, classes, window := e.c, e.p, e.name, e.more, e.classes, e.window
	var b strings.Builder
	fmt.Fprintf(&b, "%d HTTP/2 streams failed (%s) from %s on connections kept to %s%s", c.failures, classes, window, name, more)
	if p != nil && !p.exited.IsZero() {
		fmt.Fprintf(&b, ", which exited (code %s) %s after deletion", code(p.exitCode), p.exitAfterDeletion())
	}
	if goaways == 0 {
		b.WriteString(", without a GOAWAY first: none of the load's streams ended with one")
	} else {
		fmt.Fprintf(&b, ", without a GOAWAY first (%d other streams of the load failed after one, class goaway)", goaways)
	}
	if e.fm.via != "" {
		fmt.Fprintf(&b, "; the load went through %s, and an HTTP/2 client sends all its requests to a target over one connection", e.fm.via)
	} else {
		b.WriteString("; an HTTP/2 client sends all its requests to a target over one connection, which an L4 front keeps on the pod it first reached")
	}
	return b.String()
}

// noGoawayAdvice: the pod says GOAWAY before it stops, after a drain in
// which the client moves; the client renews its connections.
func noGoawayAdvice(s settings, causes []Cause) []Recommendation {
	if !hasCause(causes, HTTP2ClosedWithoutGoaway) {
		return nil
	}
	cs := codes(causes, HTTP2ClosedWithoutGoaway)
	var out []Recommendation
	for _, c := range s.serving {
		out = append(out, Recommendation{
			Field:     "container " + c.Name + ": the app's shutdown on SIGTERM",
			Current:   "closes its HTTP/2 connections without GOAWAY",
			Suggested: "send GOAWAY, then finish the streams in flight before exiting (Go: http.Server.Shutdown; gRPC: GracefulStop), after a drain in which responses carry Connection: close (Go's HTTP/2 server sends GOAWAY for it) so that clients open a new connection to a ready pod",
			Why:       "after a GOAWAY an HTTP/2 client sends no new stream on the connection and opens another, which the front routes to a ready pod; without one, every stream in flight fails when the connection closes. terminationGracePeriodSeconds must cover the drain and the streams",
			Causes:    cs,
		})
	}
	return append(out, Recommendation{
		Field:     "the HTTP/2 clients' connection lifetime",
		Current:   "a connection lasts as long as its pod",
		Suggested: "a maximum connection age: gRPC's server keepalive MaxConnectionAge with MaxConnectionAgeGrace, Envoy's max_connection_duration, or the client's own",
		Why:       "an HTTP/2 connection pinned to one pod by an L4 front never reaches the pods a rollout adds, and meets every pod's exit; one renewed every few minutes spreads over the ready pods",
		Causes:    cs,
	})
}
