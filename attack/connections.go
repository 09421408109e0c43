package attack

import (
	"fmt"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Connections says how the load uses its connections (`--connections`).
type Connections string

// Connection modes.
const (
	// ConnectionsReused is one keep-alive stream: requests go over kept
	// connections, and a new one is opened only when none is idle.
	ConnectionsReused Connections = "reused"
	// ConnectionsNew is one stream that opens a new connection for every
	// request (keep-alive off).
	ConnectionsNew Connections = "new"
	// ConnectionsBoth runs the two streams side by side, each at half the
	// asked rate, aggregated on one clock.
	ConnectionsBoth Connections = "both"
)

// Stream names the load stream a request belonged to: the client that sent
// it. It is the stream, not the connection: in the reused stream the first
// request on each connection (and a retry the transport made on a fresh one)
// still went over a new connection; Failure.Reused tells which.
type Stream string

// Load streams, named after the --connections mode that runs them alone.
const (
	// StreamReused is the keep-alive client's stream.
	StreamReused Stream = "reused"
	// StreamNew is the client with keep-alive off: every request opens, and
	// then closes, its own connection.
	StreamNew Stream = "new"
)

// Stream indices for the aggregator's fixed counters.
const (
	idxStreamReused = iota
	idxStreamNew
	numStreams
)

var streamNames = [numStreams]Stream{StreamReused, StreamNew}

// Streams lists the streams in report order.
var Streams = streamNames[:]

// ParseConnections reads a --connections value: new, reused or both.
func ParseConnections(s string) (Connections, error) {
	switch c := Connections(strings.TrimSpace(s)); c {
	case ConnectionsReused, ConnectionsNew, ConnectionsBoth:
		return c, nil
	}
	return "", fmt.Errorf("connections %q: want new, reused or both", s)
}

// ResolveConnections merges a --connections value with the older
// --keepalive flag, for the commands that have both. connections "" means
// not given: keepAlive decides (false is new, true reused). When both were
// given (keepAliveSet), they must agree: --keepalive=false is the same as
// --connections new, and --keepalive=true conflicts with new only.
func ResolveConnections(connections string, keepAlive, keepAliveSet bool) (Connections, error) {
	if connections == "" {
		if keepAlive {
			return ConnectionsReused, nil
		}
		return ConnectionsNew, nil
	}
	c, err := ParseConnections(connections)
	if err != nil {
		return "", err
	}
	if keepAliveSet {
		switch {
		case !keepAlive && c != ConnectionsNew:
			return "", fmt.Errorf("keepalive false means connections new; it conflicts with connections %s", c)
		case keepAlive && c == ConnectionsNew:
			return "", fmt.Errorf("keepalive true conflicts with connections new (a new connection for every request); give one of them")
		}
	}
	return c, nil
}

// streamsOf returns the stream indices a mode runs, in start order.
func streamsOf(c Connections) []int {
	switch c {
	case ConnectionsNew:
		return []int{idxStreamNew}
	case ConnectionsBoth:
		return []int{idxStreamReused, idxStreamNew}
	}
	return []int{idxStreamReused}
}

// splitRate is each stream's rate when n streams share r: the same number
// of requests over n times the period, so the shares sum to r exactly
// (51/s is 51/2s twice, never 26/s and 25/s).
func splitRate(r Rate, n int) Rate {
	if n <= 1 {
		return r
	}
	return Rate{Freq: r.Freq, Per: r.Per * time.Duration(n)}
}

// ResultStream returns the stream a result belonged to, from the attack
// name this package gives vegeta (Result.Attack, kept in the results file
// and in results streamed from elsewhere); ok is false for any other name.
func ResultStream(r *vegeta.Result) (s Stream, ok bool) {
	i, ok := streamIndex(r.Attack)
	if !ok {
		return "", false
	}
	return streamNames[i], true
}

func streamIndex(name string) (int, bool) {
	switch Stream(name) {
	case StreamReused:
		return idxStreamReused, true
	case StreamNew:
		return idxStreamNew, true
	}
	return 0, false
}
