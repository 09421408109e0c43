package diagnosis

import (
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// TestFailureClassNotErrorText shows that the diagnosis reads the class
// attack.Classify gave a failure, never its error's text: for the errors a
// load generator reports, the class says what the text said before
// ("refused" in it), so in-flight cuts and kept connections closed are
// found as they were.
func TestFailureClassNotErrorText(t *testing.T) {
	const u = "http://web.default/"
	exit := t0.Add(10 * time.Second)
	p := &life{name: "web-a", del: t0, exited: exit, exitLo: exit, exitHi: exit}
	cases := []struct {
		name string
		code uint16
		err  string
	}{
		{"a refused dial", 0, `Get "` + u + `": dial tcp 10.0.0.7:8080: connect: connection refused`},
		{"a reset", 0, `Get "` + u + `": read tcp 10.0.0.1:5555->10.0.0.7:8080: read: connection reset by peer`},
		{"a broken pipe", 0, `Post "` + u + `": write tcp 10.0.0.1:5555->10.0.0.7:8080: write: broken pipe`},
		{"an EOF", 0, `Get "` + u + `": EOF`},
		{"an idle connection closed", 0, `Get "` + u + `": http: server closed idle connection`},
		{"a 502", 502, "502 Bad Gateway"},
		{"a 504", 504, "504 Gateway Timeout"},
		{"a timeout", 0, `Get "` + u + `": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`},
	}
	for _, c := range cases {
		for _, reused := range []bool{false, true} {
			it := item{t: exit.Add(-time.Second), lat: time.Second, class: attack.Classify(c.code, c.err, u), n: 1, reused: reused}
			// What the diagnosis decided when it also searched the text.
			textSaysRefused := strings.Contains(c.err, "refused")
			wasKept := it.reused && (it.class == attack.ClassReset || it.class == attack.ClassEOF) && !textSaysRefused
			wasInflight := !textSaysRefused && inflight(p, it)
			t.Run(c.name+format.Pick(reused, " on a kept connection", " on a new connection")+" is classed as before", func(t *testing.T) {
				if got := keptClosed(it); got != wasKept {
					t.Errorf("keptClosed = %v, was %v (class %s)", got, wasKept, it.class)
				}
				if got := inflight(p, it); got != wasInflight {
					t.Errorf("inflight = %v, was %v (class %s)", got, wasInflight, it.class)
				}
			})
		}
	}
	t.Run("a refused dial is never an in-flight cut nor a kept connection closed", func(t *testing.T) {
		it := item{t: exit.Add(-time.Second), lat: time.Second, class: attack.ClassRefused, n: 1, reused: true}
		if inflight(p, it) || keptClosed(it) {
			t.Error("a refused dial counted as cut")
		}
	})
	t.Run("a path that names refused does not decide the class", func(t *testing.T) {
		const v = "http://web.default/refused"
		it := item{t: exit.Add(-time.Second), lat: time.Second, class: attack.Classify(0, `Get "`+v+`": EOF`, v), n: 1, reused: true}
		if !keptClosed(it) || !inflight(p, it) {
			t.Errorf("an EOF on %s was not taken as cut (class %s)", v, it.class)
		}
	})
}
