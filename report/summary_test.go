package report_test

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/internal/fixture"
	"github.com/rollcheck/rollcheck/report/render"
)

// The widths the text report is checked at: a small terminal, the width
// when the output is not a terminal, and a wide one.
var widths = []int{80, 100, 160}

func text(t *testing.T, r *report.Report, o render.TextOptions) []string {
	t.Helper()
	var b bytes.Buffer
	if err := o.Write(r, &b); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// fits fails the test for each line wider than width.
func fits(t *testing.T, name string, lines []string, width int) {
	t.Helper()
	for i, l := range lines {
		if n := utf8.RuneCountInString(l); n > width {
			t.Errorf("%s at %d columns: line %d is %d wide: %q", name, width, i+1, n, l)
		}
	}
}

// TestSummaryGolden: the default text of the as-is FAIL, the same run
// without the pod header (causes of low confidence, withheld numbers) and
// the to-be PASS, at each width, as in testdata/summary-*.txt.
func TestSummaryGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   report.Input
	}{{"as-is", report.ExitsAtOnceInput()}, {"as-is-no-header", report.ExitsAtOnceNoHeaderInput()}, {"to-be", report.ToBeInput()}} {
		for _, w := range widths {
			lines := text(t, report.Build(tc.in), render.TextOptions{Width: w, Files: []string{"as-is.html", "as-is.json"}})
			fits(t, tc.name, lines, w)
			fixture.Golden(t, report.Update(), fmt.Sprintf("summary-%s-%d.txt", tc.name, w), []byte(strings.Join(lines, "\n")+"\n"))
		}
	}
}

// TestSummaryActsInTenSeconds: the as-is FAIL fits in 40 lines and still
// names the cause, the measured lag and the preStop number; the to-be PASS
// fits in 12 lines; both end on where the details are.
func TestSummaryActsInTenSeconds(t *testing.T) {
	for _, w := range widths {
		asIs := text(t, report.Build(report.ExitsAtOnceInput()), render.TextOptions{Width: w, Files: []string{"as-is.html"}})
		all := strings.Join(asIs, "\n")
		if len(asIs) > 40 {
			t.Errorf("as-is at %d columns: %d lines, want at most 40", w, len(asIs))
		}
		for _, want := range []string{"FAIL", "TERMINATING_POD_STILL_ROUTED", "high confidence", "1.98 s after", "sleep 4", "details: --details", "as-is.html"} {
			if !strings.Contains(all, want) {
				t.Errorf("as-is at %d columns lacks %q:\n%s", w, want, all)
			}
		}
		toBe := text(t, report.Build(report.ToBeInput()), render.TextOptions{Width: w})
		if len(toBe) > 12 || !strings.HasPrefix(toBe[0], "rollcheck: PASS") {
			t.Errorf("to-be at %d columns: %d lines, want a PASS in at most 12:\n%s", w, len(toBe), strings.Join(toBe, "\n"))
		}
	}
}

// TestSummaryOfManyPods: 50 pods that each failed requests keep the
// default text under 45 lines at every width, listing the worst pods and
// counting the rest, while --details lists every pod.
func TestSummaryOfManyPods(t *testing.T) {
	r := report.Build(report.ManyPodsInput(50))
	if r.Verdict != report.Fail || len(r.Measurements.TerminatingPods) != 50 {
		t.Fatalf("verdict %s with %d terminating pods, want a FAIL of 50", r.Verdict, len(r.Measurements.TerminatingPods))
	}
	for _, w := range widths {
		lines := text(t, r, render.TextOptions{Width: w})
		fits(t, "50 pods", lines, w)
		all := strings.Join(lines, "\n")
		if len(lines) >= 45 {
			t.Errorf("50 pods at %d columns: %d lines, want fewer than 45:\n%s", w, len(lines), all)
		}
		if !strings.Contains(all, "50 old pods: exit") || !regexp.MustCompile(`and \d+ more pods that failed requests`).MatchString(all) {
			t.Errorf("50 pods at %d columns: no pod summary or count of the rest:\n%s", w, all)
		}
		details := strings.Join(text(t, r, render.TextOptions{Width: w, Details: true}), "\n")
		for i := range 50 {
			if pod := fmt.Sprintf("web-old-%02d", i); !strings.Contains(details, pod) {
				t.Errorf("--details at %d columns does not list %s", w, pod)
			}
		}
	}
}

// tableHeads are the column heads of a text's tables: a table's head row
// is the first row under its top border.
func tableHeads(lines []string) []string {
	var heads []string
	for i, l := range lines {
		if strings.HasPrefix(l, "┌") && i+1 < len(lines) {
			heads = append(heads, strings.Join(strings.Fields(strings.NewReplacer("│", " ").Replace(lines[i+1])), " "))
		}
	}
	return heads
}

// TestDetailsFitTheWidth: --details has every table of the whole text at
// every width, no line past it; a table too wide even wrapped leaves out
// columns and says which.
func TestDetailsFitTheWidth(t *testing.T) {
	for _, in := range []report.Input{report.ExitsAtOnceInput(), report.ExitsAtOnceNoHeaderInput(), report.ManyPodsInput(8)} {
		r := report.Build(in)
		whole := text(t, r, render.TextOptions{Details: true})
		want := len(tableHeads(whole))
		for _, w := range widths {
			lines := text(t, r, render.TextOptions{Details: true, Width: w})
			fits(t, "details", lines, w)
			if got := strings.Count(strings.Join(lines, "\n"), "┌"); got != want {
				t.Errorf("details at %d columns: %d tables, want %d", w, got, want)
			}
		}
	}
	narrow := text(t, report.Build(report.ExitsAtOnceInput()), render.TextOptions{Details: true, Width: 40})
	fits(t, "details", narrow, 40)
	if !strings.Contains(strings.Join(narrow, "\n"), "(too wide: left out") {
		t.Errorf("at 40 columns no table says which columns it left out:\n%s", strings.Join(narrow, "\n"))
	}
}

// TestColorOnlyWhenAsked: the verdict and a cause of high confidence are
// coloured with Color, and no escape is written without it.
func TestColorOnlyWhenAsked(t *testing.T) {
	r := report.Build(report.ExitsAtOnceInput())
	plain := strings.Join(text(t, r, render.TextOptions{Width: 100}), "\n")
	if strings.Contains(plain, "\x1b[") {
		t.Errorf("escapes without Color:\n%q", plain)
	}
	lines := text(t, r, render.TextOptions{Width: 100, Color: true})
	coloured := strings.Join(lines, "\n")
	for _, want := range []string{"\x1b[1;31mFAIL\x1b[0m", "\x1b[1;31mTERMINATING_POD_STILL_ROUTED\x1b[0m"} {
		if !strings.Contains(coloured, want) {
			t.Errorf("coloured text lacks %q:\n%q", want, coloured)
		}
	}
	stripped := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(coloured, "")
	if stripped != plain {
		t.Errorf("colour changed the layout:\n%s\n---\n%s", stripped, plain)
	}
}

// TestPodsOnSeveralNodesSayWhichNode: when the timeline's pods ran on more
// than one Node, the failed pods and the attribution table name each
// pod's Node; on one Node (every golden above) they do not.
func TestPodsOnSeveralNodesSayWhichNode(t *testing.T) {
	in := report.ExitsAtOnceInput()
	nodes := map[string]string{}
	for i := range in.Events {
		e := &in.Events[i]
		if e.Pod == "" {
			continue
		}
		if _, ok := nodes[e.Pod]; !ok {
			nodes[e.Pod] = fmt.Sprintf("node-%d", len(nodes)%2+1)
		}
		e.Node = nodes[e.Pod]
	}
	r := report.Build(in)
	if len(r.Attributed) == 0 {
		t.Fatal("no attributed failures")
	}
	for _, a := range r.Attributed {
		if a.Pod != "" && a.Node != nodes[a.Pod] {
			t.Errorf("attributed %s on %q, want %q", a.Pod, a.Node, nodes[a.Pod])
		}
	}
	all := strings.Join(text(t, r, render.TextOptions{Width: 160}), "\n")
	if !regexp.MustCompile(`old pod on node-[12]:`).MatchString(all) {
		t.Errorf("the failed pods do not name their Node:\n%s", all)
	}
	details := text(t, r, render.TextOptions{Width: 160, Details: true})
	if heads := strings.Join(tableHeads(details), "\n"); !strings.Contains(heads, "POD NODE PHASE") {
		t.Errorf("the attribution table has no node column: %s", heads)
	}
}
