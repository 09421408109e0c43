package report_test

// The tests here check what a built report shows once rendered: they sit
// outside package report because the renderers (report/render) import it.

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/internal/fixture"
	"github.com/rollcheck/rollcheck/report/render"
	"github.com/rollcheck/rollcheck/rollout"
)

var (
	t0  = fixture.T0
	run = fixture.Run
)

// TestAttackersInReport: the attackers show in the text, the JSON and the
// HTML; one that died makes a clean run INCONCLUSIVE naming it, while
// failures seen still FAIL.
func TestAttackersInReport(t *testing.T) {
	attackers := func(problem string) []attack.AttackerPod {
		return []attack.AttackerPod{
			{Pod: "rollcheck-attacker-x-0", Node: "node-a", CPURequest: "120m", MemoryRequest: "64Mi", Share: 50, Achieved: 49.8, Requests: 1494,
				Start: t0, End: t0.Add(30 * time.Second), Offset: 300 * time.Millisecond, Bound: 2 * time.Millisecond, FailureTimes: []time.Time{t0.Add(12 * time.Second)}},
			{Pod: "rollcheck-attacker-x-1", Node: "node-b", Share: 50, Achieved: 30, Requests: 600, Start: t0, End: t0.Add(12 * time.Second), Problem: problem},
		}
	}
	a, o := run(nil, 100)
	r := report.Build(report.Input{Attack: a, Outcome: o, Thresholds: report.DefaultThresholds(), Drained: t0.Add(21 * time.Second), Attackers: attackers("died: its stream ended before the run did")})
	if r.Verdict != report.Inconclusive || !strings.Contains(strings.Join(r.Reasons, " "), "attacker rollcheck-attacker-x-1 died") {
		t.Fatalf("verdict %s %v, want INCONCLUSIVE naming the dead attacker", r.Verdict, r.Reasons)
	}
	var text, js, html bytes.Buffer
	if err := writeDetails(r, &text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "rollcheck-attacker-x-0") || !strings.Contains(text.String(), "+300.0ms ± 2.0ms") || !strings.Contains(text.String(), "49.8/s (50.0/s)") {
		t.Errorf("text lacks the attackers:\n%s", text.String())
	}
	if err := render.WriteJSON(r, &js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Attackers []map[string]any `json:"attackers"`
	}
	if err := report.Validate(js.Bytes()); err != nil {
		t.Errorf("schema: %v", err)
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || len(doc.Attackers) != 2 || doc.Attackers[0]["clock_offset_seconds"] != 0.3 || doc.Attackers[1]["problem"] == nil {
		t.Errorf("JSON attackers %v (%v)", doc.Attackers, err)
	}
	if err := render.WriteHTML(r, &html); err != nil {
		t.Fatal(err)
	}
	h := html.String()
	if !strings.Contains(h, `id="attackers"`) || strings.Count(h, `class="attacker"`) != 2 || !strings.Contains(h, "rollcheck-attacker-x-1 on node-b") {
		t.Errorf("HTML lacks the attacker lanes")
	}

	a, o = run(map[int]int{12: 2}, 100)
	if r := report.Build(report.Input{Attack: a, Outcome: o, Thresholds: report.DefaultThresholds(), Drained: t0.Add(21 * time.Second), Attackers: attackers("fell behind")}); r.Verdict != report.Fail {
		t.Errorf("failures seen with a lost attacker: %s, want FAIL", r.Verdict)
	}
	a, o = run(nil, 100)
	if r := report.Build(report.Input{Attack: a, Outcome: o, Thresholds: report.DefaultThresholds(), Drained: t0.Add(21 * time.Second), Attackers: attackers("")}); r.Verdict != report.Pass {
		t.Errorf("attackers all fine: %s %v, want PASS", r.Verdict, r.Reasons)
	}
	if r := report.Build(report.Input{Attack: a, Outcome: o, Thresholds: report.DefaultThresholds(), Drained: t0.Add(21 * time.Second)}); strings.Contains(mustJSON(t, r), "attackers") {
		t.Error("a run without attackers has an attackers field")
	}
}

func mustJSON(t *testing.T, r *report.Report) string {
	var b bytes.Buffer
	if err := render.WriteJSON(r, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestConnectionsSplitByKind(t *testing.T) {
	_, in := report.BothStreams(5)
	r := report.Build(in)
	c := r.Connections
	if c == nil || c.Mode != "both" || len(c.Streams) != 2 {
		t.Fatalf("connections %+v", c)
	}
	want := []report.ConnectionKind{
		{Stream: attack.StreamNew, Connection: report.ConnNew, Requests: 1500, Failures: 20, ByClass: map[string]int{"refused": 20}},
		{Stream: attack.StreamReused, Connection: report.ConnReused, Requests: 1480, Failures: 10, ByClass: map[string]int{"reset": 10}},
		{Stream: attack.StreamReused, Connection: report.ConnNew, Requests: 20, Failures: 5, ByClass: map[string]int{"refused": 5}},
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
	if err := render.WriteJSON(r, &js); err != nil {
		t.Fatal(err)
	}
	if err := report.Validate(js.Bytes()); err != nil {
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
	if err := writeDetails(r, &text); err != nil {
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
	if err := render.WriteJUnit(r, &junit); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`<property name="rollcheck.connections" value="both">`, `<property name="rollcheck.connections.new.new.refused" value="20">`, `<property name="rollcheck.connections.reused.reused.reset" value="10">`} {
		if !strings.Contains(junit.String(), s) {
			t.Errorf("JUnit lacks %s:\n%s", s, junit.String())
		}
	}

	var html bytes.Buffer
	if err := render.WriteHTML(r, &html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), `<table class="steps" id="connections">`) || !strings.Contains(html.String(), "<td>reused</td><td>reused</td><td>1480</td><td>10</td>") {
		t.Errorf("HTML lacks the connections table")
	}
}

// With two streams, the first failures say which stream sent each; with one
// the column is left out (every failure has the same).
func TestFirstFailuresNameTheirStream(t *testing.T) {
	a, in := report.BothStreams(1)
	at := in.Outcome.StartedAt.Add(2 * time.Second)
	a.FailureList = []attack.Failure{
		{Time: at, Class: attack.ClassRefused, Error: "connect: connection refused", Stream: attack.StreamNew},
		{Time: at.Add(10 * time.Millisecond), Class: attack.ClassReset, Error: "read: connection reset by peer", Reused: true, Stream: attack.StreamReused},
	}
	var text bytes.Buffer
	if err := writeDetails(report.Build(in), &text); err != nil {
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
	if err := writeDetails(report.Build(in), &text); err != nil {
		t.Fatal(err)
	}
	if head := lineWith(text.String(), "AT", "CLASS", "CODE", "POD", "REUSED CONN"); head == "" || strings.Contains(head, "STREAM") {
		t.Errorf("one stream: failures header %q, want no stream column:\n%s", head, text.String())
	}
}

// Without failures the table is left out; the streams' rates stay.
func TestConnectionsTableOnlyWithFailures(t *testing.T) {
	_, in := report.BothStreams(0)
	r := report.Build(in)
	var text, html bytes.Buffer
	if err := writeDetails(r, &text); err != nil {
		t.Fatal(err)
	}
	if err := render.WriteHTML(r, &html); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), "Failures by connection kind") || strings.Contains(html.String(), `id="connections"`) {
		t.Errorf("a table without failures:\n%s", text.String())
	}
	if !strings.Contains(text.String(), "Streams   reused 50.0/s of 50.0/s asked, 0 failed; new") {
		t.Errorf("text lacks the streams line:\n%s", text.String())
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

func TestTextReportGolden(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   report.Input
	}{
		{"exits-at-once", report.ExitsAtOnceInput()},
		{"exits-at-once-no-header", report.ExitsAtOnceNoHeaderInput()},
		{"no-failure", report.NoFailureInput()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeDetails(report.Build(tt.in), &buf); err != nil {
				t.Fatal(err)
			}
			fixture.Golden(t, report.Update(), tt.name+".txt", buf.Bytes())
		})
	}
}

func TestTextReportShowsCausesBeforeDetails(t *testing.T) {
	var buf bytes.Buffer
	if err := writeDetails(report.Build(report.ExitsAtOnceInput()), &buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	causes, recs, load := strings.Index(out, "Causes"), strings.Index(out, "Recommendations:"), strings.Index(out, "Load ")
	if causes < 0 || recs < 0 || !(causes < recs && recs < load) {
		t.Errorf("want causes, then recommendations, then the load line:\n%s", out)
	}
	if !strings.Contains(out, "attributed by time window") {
		t.Errorf("text report does not say attribution was by time window")
	}
}

// BenchmarkRender times each renderer on the benchInput report.
func BenchmarkRender(b *testing.B) {
	r := report.Build(report.BenchInput())
	for _, rd := range []struct {
		name  string
		write render.Func
	}{{"text", writeDetails}, {"json", render.WriteJSON}, {"junit", render.WriteJUnit}, {"html", render.WriteHTML}} {
		b.Run(rd.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := rd.write(r, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestTextReportLeadsWithTheVerdict(t *testing.T) {
	a, o := run(map[int]int{12: 2}, 100)
	ready := false
	events := []rollout.Event{{Time: t0.Add(11 * time.Second), Type: rollout.DeletionRequested, Pod: "web-1"}, {Time: t0.Add(11500 * time.Millisecond), Type: rollout.EndpointChanged, Pod: "web-1", Ready: &ready}}
	r := report.Build(report.Input{Deployment: "web", Namespace: "default", Action: "restart", Targets: []string{"http://127.0.0.1:1/"}, Attack: a, Outcome: o, Drained: o.CompletedAt.Add(time.Second), Events: events, Thresholds: report.DefaultThresholds()})
	var buf bytes.Buffer
	if err := writeDetails(r, &buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.HasPrefix(out, "rollcheck: FAIL  deployment/web (restart) in namespace default\n") {
		t.Errorf("first line: %q", strings.SplitN(out, "\n", 2)[0])
	}
	for _, want := range []string{"2 requests failed", "+11.00s", "deletion-requested", "pod/web-1", "ready=false", "502", "Rollout   completed in 10.0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
}

// TestSteps cuts a run into three steps (triggers at 10 s, 14 s and 20 s;
// the last ends with the load at 30 s) and judges each on its own
// failures: 5 failures at 15 s fall in the second step only.
func TestSteps(t *testing.T) {
	a, _ := run(map[int]int{15: 5}, 100)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	steps := []report.StepInput{
		{Name: "1/3", Detail: "stable 3/canary 1", Outcome: rollout.Outcome{Triggered: true, Completed: true, StartedAt: at(10), CompletedAt: at(12)}},
		{Name: "2/3", Detail: "stable 2/canary 2", Outcome: rollout.Outcome{Triggered: true, Completed: true, StartedAt: at(14), CompletedAt: at(17)}},
		{Name: "3/3", Detail: "stable 0/canary 4", Outcome: rollout.Outcome{Triggered: true, StartedAt: at(20), Reason: "timeout"}},
		{Name: "never", Outcome: rollout.Outcome{}},
	}
	o := rollout.Outcome{Triggered: true, StartedAt: at(10), Reason: "timeout"}
	r := report.Build(report.Input{Deployment: "web", Attack: a, Outcome: o, Drained: o.CompletedAt.Add(time.Second), Thresholds: report.DefaultThresholds(), Steps: steps})
	if len(r.Steps) != 3 {
		t.Fatalf("%d steps, want 3 (a step never triggered has no window)", len(r.Steps))
	}
	want := []struct {
		requests, failures int
		end                time.Time
		passed             bool
	}{{400, 0, at(14), true}, {600, 5, at(20), false}, {1000, 0, at(30), false}}
	for i, w := range want {
		s := r.Steps[i]
		if s.Requests != w.requests || s.Failures != w.failures || !s.End.Equal(w.end) || s.Passed != w.passed {
			t.Errorf("step %s: %d requests %d failures end %s passed %t; want %+v", s.Name, s.Requests, s.Failures, s.End.Sub(t0), s.Passed, w)
		}
	}
	if r.Steps[0].RolloutSeconds != 2 || r.Steps[1].ByClass["502"] != 5 || r.Steps[1].DisruptedSeconds != 1 {
		t.Errorf("step details %+v %+v", r.Steps[0], r.Steps[1])
	}
	sum := r.StepSummary
	if sum.Steps != 3 || sum.Completed != 2 || sum.Passed != 1 || sum.TotalFailures != 5 || sum.WorstStep != "2/3" || sum.WorstFailures != 5 {
		t.Errorf("summary %+v", sum)
	}
	var text, junit, js bytes.Buffer
	if err := writeDetails(r, &text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Steps     3: 2 completed, 1 passed; 5 requests failed in all; worst: 2/3 with 5", "incomplete: timeout"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, text.String())
		}
	}
	if err := render.WriteJUnit(r, &junit); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(junit.String(), `classname="rollcheck.steps"`); n != 3 {
		t.Errorf("%d step test cases in JUnit, want 3", n)
	}
	if err := render.WriteJSON(r, &js); err != nil {
		t.Fatal(err)
	}
	if err := report.Validate(js.Bytes()); err != nil {
		t.Errorf("report with steps fails the schema: %v", err)
	}
}

// TestEveryRendererShowsHowSureACauseIs: the ambiguous case in JSON (valid
// against the v1 schema), JUnit and HTML carries each cause's confidence,
// its alternatives and why no number is given.
func TestEveryRendererShowsHowSureACauseIs(t *testing.T) {
	r := report.Build(report.ExitsAtOnceNoHeaderInput())
	as := func(w render.Func) string {
		t.Helper()
		var buf bytes.Buffer
		if err := w(r, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	js := as(render.WriteJSON)
	if err := report.Validate([]byte(js)); err != nil {
		t.Errorf("JSON: %v", err)
	}
	for name, wants := range map[string][]string{
		"JSON":  {`"confidence": "low"`, `"alternatives": [`, `"also_explains": 52`, `"separate_by": [`, `"withheld": "`, `"basis": [`},
		"JUnit": {`message="52 failed requests (confidence low)"`, "fits as well: NEW_POD_NOT_SERVING (web-new-a) for 52 of them", "to tell them apart:", `message="fits 52 failures counted under another cause (confidence low)"`},
		"HTML":  {`data-confidence="low"`, "low confidence", "fits as well: <b>NEW_POD_NOT_SERVING</b> (web-new-a) for 52 of them", "to tell them apart:", `<li class="withheld">`, "(no number: "},
	} {
		out := map[string]string{"JSON": js, "JUnit": as(render.WriteJUnit), "HTML": as(render.WriteHTML)}[name]
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %s", name, w)
			}
		}
	}
	t.Run("a confidence outside the three levels does not validate", func(t *testing.T) {
		bad := strings.Replace(js, `"confidence": "low"`, `"confidence": "sure"`, 1)
		if err := report.Validate([]byte(bad)); err == nil {
			t.Error("validated")
		}
	})
}

// A load stalled in a rollout that failed: the text report still says the
// run did not see all (TestRateWindows judges the verdict).
func TestTextSaysTheLoadStalled(t *testing.T) {
	in := report.SoundInput(map[int]int{12: 1})
	report.Stall(in.Attack, 13, 15)
	var text strings.Builder
	if err := writeDetails(report.Build(in), &text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "  - and the run did not see all: the load fell below 80%") {
		t.Errorf("the text report does not say the load stalled:\n%s", text.String())
	}
}

// writeDetails is the whole text report, every table (--details), with no
// width limit: what the tests here read.
func writeDetails(r *report.Report, w io.Writer) error {
	return render.TextOptions{Details: true}.Write(r, w)
}
