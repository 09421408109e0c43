package report

import (
	"github.com/rollcheck/rollcheck/attack"
)

// Connections is the load split by connection kind (run --connections): each
// stream's totals and, per kind of connection, its failures by class, so
// that "a new connection was refused" and "a kept connection was reset" are
// told apart.
type Connections struct {
	// Mode is --connections: reused, new or both.
	Mode string `json:"mode"`
	// Streams are the totals of each load stream, with the asked and the
	// achieved rate of each.
	Streams []attack.StreamResult `json:"streams"`
	// Kinds are the requests by stream and connection, only the ones that
	// occurred, in the order new/new, reused/reused, reused/new.
	Kinds []ConnectionKind `json:"kinds"`
}

// ConnectionKind is the requests of one stream over one kind of connection.
type ConnectionKind struct {
	// Stream is the load stream that sent them: new (keep-alive off) or
	// reused (keep-alive).
	Stream attack.Stream `json:"stream"`
	// Connection is "reused" for requests that went over a kept connection
	// (a failure's reused_conn), "new" for those that opened theirs.
	Connection string `json:"connection"`
	Requests   int    `json:"requests"`
	Failures   int    `json:"failed"`
	// ByClass counts the failing classes only.
	ByClass map[string]int `json:"by_class,omitempty"`
}

// Connection kinds of ConnectionKind.Connection.
const (
	ConnNew    = "new"
	ConnReused = "reused"
)

// buildConnections splits the load by connection kind; nil for a result
// that has no streams (a report written before them).
func buildConnections(a *attack.Result) *Connections {
	if a == nil || len(a.Streams) == 0 {
		return nil
	}
	c := &Connections{Mode: string(a.Connections), Streams: a.Streams, Kinds: []ConnectionKind{}}
	if c.Mode == "" {
		c.Mode = string(a.Streams[0].Stream)
	}
	add := func(s attack.Stream, conn string, byClass map[attack.Class]int) {
		k := ConnectionKind{Stream: s, Connection: conn}
		for cl, n := range byClass {
			k.Requests += n
			if cl != attack.ClassOK && n > 0 {
				if k.ByClass == nil {
					k.ByClass = map[string]int{}
				}
				k.ByClass[string(cl)] = n
				k.Failures += n
			}
		}
		if k.Requests > 0 {
			c.Kinds = append(c.Kinds, k)
		}
	}
	for _, s := range []attack.Stream{attack.StreamNew, attack.StreamReused} {
		for _, sr := range a.Streams {
			if sr.Stream != s {
				continue
			}
			if s == attack.StreamReused {
				add(s, ConnReused, sr.ReusedConnByClass)
			}
			add(s, ConnNew, sr.NewConnByClass())
		}
	}
	return c
}
