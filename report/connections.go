package report

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/format"
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

// failedClasses are the failing classes any kind saw, in the order of
// attack.FailureClasses.
func (c *Connections) failedClasses() []string {
	var out []string
	for _, cl := range attack.FailureClasses {
		for _, k := range c.Kinds {
			if k.ByClass[string(cl)] > 0 {
				out = append(out, string(cl))
				break
			}
		}
	}
	return out
}

func (c *Connections) failures() int {
	n := 0
	for _, k := range c.Kinds {
		n += k.Failures
	}
	return n
}

// streamsText is the streams' rates in one line: "reused 25.0/s of 25.0/s,
// new 24.9/s of 25.0/s".
func (c *Connections) streamsText() string {
	parts := make([]string, len(c.Streams))
	for i, s := range c.Streams {
		parts[i] = fmt.Sprintf("%s %.1f/s of %.1f/s asked, %d failed", s.Stream, s.AchievedRate, s.Rate, s.Failures)
	}
	return strings.Join(parts, "; ")
}

// writeConnections prints, for a run of both streams, each stream's rate,
// and, when requests failed, the kind × class table.
func (r *Report) writeConnections(p *format.Printer) {
	c := r.Connections
	if c == nil {
		return
	}
	if c.Mode == string(attack.ConnectionsBoth) {
		p.Line("Streams   " + c.streamsText())
	}
	if c.failures() == 0 {
		return
	}
	classes := c.failedClasses()
	header := append([]string{"stream", "connection", "requests", "failed"}, classes...)
	p.Line("Failures by connection kind (stream: the client that sent them; connection: reused if kept from an earlier request, else new):")
	p.Table(header, func(add func(...any)) {
		for _, k := range c.Kinds {
			row := []any{string(k.Stream), k.Connection, k.Requests, k.Failures}
			for _, cl := range classes {
				row = append(row, k.ByClass[cl])
			}
			add(row...)
		}
	})
}

// connectionsHTML is the kind × class table of the HTML report ("" when no
// request failed or the report has no streams).
func connectionsHTML(r *Report) template.HTML {
	c := r.Connections
	if c == nil || c.failures() == 0 {
		return ""
	}
	var b strings.Builder
	classes := c.failedClasses()
	b.WriteString(`<h2>Failures by connection kind</h2><p><small>` + format.Esc(c.Mode) + ` connections; stream: the client that sent them (new: keep-alive off, reused: keep-alive); connection: reused if kept from an earlier request, else new</small></p>`)
	b.WriteString(`<table class="steps" id="connections"><tr><th>stream</th><th>connection</th><th>requests</th><th>failed</th>`)
	for _, cl := range classes {
		b.WriteString("<th>" + format.Esc(cl) + "</th>")
	}
	b.WriteString("</tr>")
	for _, k := range c.Kinds {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%d</td><td>%d</td>", format.Esc(string(k.Stream)), format.Esc(k.Connection), k.Requests, k.Failures)
		for _, cl := range classes {
			fmt.Fprintf(&b, "<td>%d</td>", k.ByClass[cl])
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table>")
	return template.HTML(b.String())
}

// junitProperties is a JUnit suite's <properties>.
type junitProperties struct {
	Items []junitProperty `xml:"property"`
}

// junitProperty is one <property> of a JUnit suite.
type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// connectionProperties are the split as JUnit suite properties:
// rollcheck.connections (the mode) and, per kind,
// rollcheck.connections.STREAM.CONNECTION.{requests,failed,CLASS}.
func connectionProperties(r *Report) *junitProperties {
	c := r.Connections
	if c == nil {
		return nil
	}
	out := []junitProperty{{Name: "rollcheck.connections", Value: c.Mode}}
	for _, k := range c.Kinds {
		prefix := fmt.Sprintf("rollcheck.connections.%s.%s.", k.Stream, k.Connection)
		out = append(out, junitProperty{prefix + "requests", fmt.Sprint(k.Requests)}, junitProperty{prefix + "failed", fmt.Sprint(k.Failures)})
		for _, cl := range attack.FailureClasses {
			if n := k.ByClass[string(cl)]; n > 0 {
				out = append(out, junitProperty{prefix + string(cl), fmt.Sprint(n)})
			}
		}
	}
	return &junitProperties{Items: out}
}
