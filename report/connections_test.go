package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
)

// bothStreams is a run of --connections both at 100/s: the new stream's
// refused connections, the reused stream's resets on kept connections and
// refused ones it had to open; failN scales the failures (0: none).
func bothStreams(failN int) (*attack.Result, Input) {
	a, o := run(nil, 100)
	a.Connections = attack.ConnectionsBoth
	a.Streams = []attack.StreamResult{
		{Stream: attack.StreamReused, Rate: 50, AchievedRate: 50, Requests: 1500, Failures: 3 * failN,
			ByClass:            map[attack.Class]int{attack.ClassOK: 1500 - 3*failN, attack.ClassReset: 2 * failN, attack.ClassRefused: failN},
			ReusedConnRequests: 1480, ReusedConnByClass: map[attack.Class]int{attack.ClassOK: 1480 - 2*failN, attack.ClassReset: 2 * failN}},
		{Stream: attack.StreamNew, Rate: 50, AchievedRate: 50, Requests: 1500, Failures: 4 * failN,
			ByClass:           map[attack.Class]int{attack.ClassOK: 1500 - 4*failN, attack.ClassRefused: 4 * failN},
			ReusedConnByClass: map[attack.Class]int{}},
	}
	return a, Input{Namespace: "default", Deployment: "web", Action: "restart", Attack: a, Outcome: o, Thresholds: DefaultThresholds()}
}

func TestConnectionsSplitByKind(t *testing.T) {
	_, in := bothStreams(5)
	r := Build(in)
	c := r.Connections
	if c == nil || c.Mode != "both" || len(c.Streams) != 2 {
		t.Fatalf("connections %+v", c)
	}
	want := []ConnectionKind{
		{Stream: attack.StreamNew, Connection: ConnNew, Requests: 1500, Failures: 20, ByClass: map[string]int{"refused": 20}},
		{Stream: attack.StreamReused, Connection: ConnReused, Requests: 1480, Failures: 10, ByClass: map[string]int{"reset": 10}},
		{Stream: attack.StreamReused, Connection: ConnNew, Requests: 20, Failures: 5, ByClass: map[string]int{"refused": 5}},
	}
	if len(c.Kinds) != len(want) {
		t.Fatalf("kinds %+v, want %+v", c.Kinds, want)
	}
	for i, k := range c.Kinds {
		w := want[i]
		if k.Stream != w.Stream || k.Connection != w.Connection || k.Requests != w.Requests || k.Failures != w.Failures || len(k.ByClass) != len(w.ByClass) {
			t.Errorf("kind %d = %+v, want %+v", i, k, w)
		}
		for cl, n := range w.ByClass {
			if k.ByClass[cl] != n {
				t.Errorf("kind %d %s = %d, want %d", i, cl, k.ByClass[cl], n)
			}
		}
	}

	var js bytes.Buffer
	if err := WriteJSON(r, &js); err != nil {
		t.Fatal(err)
	}
	if err := Validate(js.Bytes()); err != nil {
		t.Fatalf("schema: %v", err)
	}
	var doc struct {
		Connections struct {
			Kinds []struct {
				Stream, Connection string
				ByClass            map[string]int `json:"by_class"`
			} `json:"kinds"`
		} `json:"connections"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || len(doc.Connections.Kinds) != 3 || doc.Connections.Kinds[1].ByClass["reset"] != 10 {
		t.Fatalf("JSON connections %+v (%v)", doc.Connections, err)
	}

	var text bytes.Buffer
	if err := WriteText(r, &text); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	for _, s := range []string{"Streams   reused 50.0/s of 50.0/s asked, 15 failed; new 50.0/s of 50.0/s asked, 20 failed", "Failures by connection kind", "STREAM", "REFUSED"} {
		if !strings.Contains(out, s) {
			t.Errorf("text lacks %q:\n%s", s, out)
		}
	}
	if row := lineWith(out, "reused", "reused", "1480"); !strings.Contains(row, "10") {
		t.Errorf("no reused/reused row with 10 failures:\n%s", out)
	}

	var junit bytes.Buffer
	if err := WriteJUnit(r, &junit); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`<property name="rollcheck.connections" value="both">`, `<property name="rollcheck.connections.new.new.refused" value="20">`, `<property name="rollcheck.connections.reused.reused.reset" value="10">`} {
		if !strings.Contains(junit.String(), s) {
			t.Errorf("JUnit lacks %s:\n%s", s, junit.String())
		}
	}

	var html bytes.Buffer
	if err := WriteHTML(r, &html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), `<table class="steps" id="connections">`) || !strings.Contains(html.String(), "<td>reused</td><td>reused</td><td>1480</td><td>10</td>") {
		t.Errorf("HTML lacks the connections table")
	}
}

// With two streams, the first failures say which stream sent each; with one
// the column is left out (every failure has the same).
func TestFirstFailuresNameTheirStream(t *testing.T) {
	a, in := bothStreams(1)
	at := in.Outcome.StartedAt.Add(2 * time.Second)
	a.FailureList = []attack.Failure{
		{Time: at, Class: attack.ClassRefused, Error: "connect: connection refused", Stream: attack.StreamNew},
		{Time: at.Add(10 * time.Millisecond), Class: attack.ClassReset, Error: "read: connection reset by peer", Reused: true, Stream: attack.StreamReused},
	}
	var text bytes.Buffer
	if err := WriteText(Build(in), &text); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	if lineWith(out, "AT", "CLASS", "CODE", "POD", "STREAM", "REUSED CONN", "ERROR") == "" {
		t.Errorf("the failures table has no stream column:\n%s", out)
	}
	if row := lineWith(out, "refused", "new", "false", "connection refused"); row == "" {
		t.Errorf("no refused failure of the new stream:\n%s", out)
	}
	if row := lineWith(out, "reset", "reused", "true", "reset by peer"); row == "" {
		t.Errorf("no reset failure of the reused stream:\n%s", out)
	}

	a.Streams = a.Streams[:1]
	text.Reset()
	if err := WriteText(Build(in), &text); err != nil {
		t.Fatal(err)
	}
	if head := lineWith(text.String(), "AT", "CLASS", "CODE", "POD", "REUSED CONN"); head == "" || strings.Contains(head, "STREAM") {
		t.Errorf("one stream: failures header %q, want no stream column:\n%s", head, text.String())
	}
}

// Without failures the table is left out; the streams' rates stay.
func TestConnectionsTableOnlyWithFailures(t *testing.T) {
	_, in := bothStreams(0)
	r := Build(in)
	var text, html bytes.Buffer
	if err := WriteText(r, &text); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(r, &html); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), "Failures by connection kind") || strings.Contains(html.String(), `id="connections"`) {
		t.Errorf("a table without failures:\n%s", text.String())
	}
	if !strings.Contains(text.String(), "Streams   reused 50.0/s of 50.0/s asked, 0 failed; new") {
		t.Errorf("text lacks the streams line:\n%s", text.String())
	}
}

// A result with no streams (a report from before them) has no split.
func TestConnectionsAbsentWithoutStreams(t *testing.T) {
	a, o := run(map[int]int{12: 1}, 100)
	r := Build(Input{Attack: a, Outcome: o, Thresholds: DefaultThresholds()})
	if r.Connections != nil {
		t.Fatalf("connections %+v", r.Connections)
	}
	var js bytes.Buffer
	if err := WriteJSON(r, &js); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(js.String(), `"connections"`) {
		t.Error("JSON has connections")
	}
}

// lineWith returns the first line that has every word, in order.
func lineWith(text string, words ...string) string {
	for _, l := range strings.Split(text, "\n") {
		rest, ok := l, true
		for _, w := range words {
			i := strings.Index(rest, w)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(w):]
		}
		if ok {
			return l
		}
	}
	return ""
}
