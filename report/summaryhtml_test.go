package report_test

import (
	"bytes"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/internal/headless"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/render"
)

// textSummary is what a reader finds in the default text: the verdict,
// each cause's code and confidence, the fixes' fields, the labelled lines
// unwrapped ("Load" → "http://… at 100.0/s asked, …") and the pods listed
// as failing.
type textSummary struct {
	verdict     string
	codes       []string
	confidences []string
	fixes       []string
	lines       map[string]string
	pods        []string
	more        string // "and 45 more pods that failed requests"
}

var (
	causeLine = regexp.MustCompile(`^  ([A-Z][A-Z_]+)  (?:(high|medium|low) confidence, )?`)
	fixLine   = regexp.MustCompile(`^  (\S+): `)
	podLine   = regexp.MustCompile(`^  (\S+)  \d+ failed`)
	moreLine  = regexp.MustCompile(`^  (and \d+ more pods? that failed requests)`)
)

// readText reads the default text at 100 columns, with no colour.
func readText(t *testing.T, r *report.Report) textSummary {
	t.Helper()
	lines := text(t, r, render.TextOptions{Width: 100})
	s := textSummary{verdict: strings.Fields(lines[0])[1], lines: map[string]string{}}
	part, label := "", ""
	for _, l := range lines[1:] {
		switch {
		case l == "":
			part = ""
			continue
		case strings.HasPrefix(l, "Causes"):
			part = "causes"
			continue
		case l == "Fix:":
			part = "fix"
			continue
		}
		if m := causeLine.FindStringSubmatch(l); part == "causes" && m != nil {
			s.codes, s.confidences = append(s.codes, m[1]), append(s.confidences, m[2])
		}
		if m := fixLine.FindStringSubmatch(l); part == "fix" && m != nil && m[1] != "already" {
			s.fixes = append(s.fixes, m[1])
		}
		if strings.HasPrefix(l, "          ") && label != "" { // a labelled line wrapped
			s.lines[label] += " " + strings.TrimSpace(l)
			continue
		}
		label = ""
		if l[0] != ' ' && part == "" {
			if head, rest, ok := strings.Cut(l, " "); ok && head != "details:" {
				label = head
				s.lines[label] = strings.TrimSpace(rest)
			}
		}
		if m := podLine.FindStringSubmatch(l); m != nil && part == "" {
			s.pods = append(s.pods, m[1])
		}
		if m := moreLine.FindStringSubmatch(l); m != nil {
			s.more = m[1]
		}
	}
	return s
}

func writeHTML(t *testing.T, r *report.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := render.WriteHTML(r, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestHTMLOpensOnTheTextSummary: the HTML report opens, before its chart,
// on what the default text says: the same verdict, the same causes in the
// same order with the same confidence, the same fixes, the same load,
// rollout, measured and pods lines, and the same failing pods with the
// rest counted; the page does not repeat them in another header.
func TestHTMLOpensOnTheTextSummary(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    report.Input
		wants []string // in the summary's visible text
	}{
		{"as-is", report.ExitsAtOnceInput(), []string{"FAIL", "TERMINATING_POD_STILL_ROUTED high confidence 52 failed", "containers[app].lifecycle.preStop : none → sleep 4", "already right: terminationGracePeriodSeconds (30)"}},
		{"as-is without the pod header", report.ExitsAtOnceNoHeaderInput(), []string{"low confidence", "fits as well: NEW_POD_NOT_SERVING (52)", "(no number: "}},
		{"to-be", report.ToBeInput(), []string{"PASS", "3000 requests, 0 over the thresholds"}},
		{"50 pods", report.ManyPodsInput(50), []string{"50 old pods: exit", "and 45 more pods that failed requests"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := report.Build(tc.in)
			want := readText(t, r)
			page := writeHTML(t, r)
			sec := headless.Section(t, page)
			got := headless.Visible(sec)
			if v := headless.Attrs(sec, "data-verdict"); len(v) != 1 || v[0] != want.verdict || !strings.HasPrefix(got, "rollcheck: "+want.verdict+" ") {
				t.Errorf("HTML verdict %v (%.40q), text %s", v, got, want.verdict)
			}
			if codes := headless.Attrs(sec, "data-code"); strings.Join(codes, " ") != strings.Join(want.codes, " ") {
				t.Errorf("HTML causes %v, text %v", codes, want.codes)
			}
			if confs := headless.Attrs(sec, "data-confidence"); strings.Join(confs, " ") != strings.Join(want.confidences, " ") {
				t.Errorf("HTML confidences %v, text %v", confs, want.confidences)
			}
			for i, code := range want.codes {
				if want.confidences[i] == "high" && !regexp.MustCompile(`<div class="cause high" data-code="`+code+`"`).MatchString(sec) {
					t.Errorf("%s of high confidence is not emphasised", code)
				}
			}
			var fields []string
			for _, f := range regexp.MustCompile(`<li(?: class="withheld")?><code>([^<]*)</code>`).FindAllStringSubmatch(sec, -1) {
				fields = append(fields, html.UnescapeString(f[1]))
			}
			if strings.Join(fields, " ") != strings.Join(want.fixes, " ") {
				t.Errorf("HTML fixes %v, text %v", fields, want.fixes)
			}
			for _, label := range []string{"Load", "Rollout", "Measured", "Pods"} {
				line, ok := want.lines[label]
				if ok && !strings.Contains(got, label+" "+line) {
					t.Errorf("HTML lacks the text's %s line %q:\n%s", label, line, got)
				}
			}
			if _, ok := want.lines["Load"]; !ok {
				t.Errorf("no Load line read from the text: %v", want.lines)
			}
			if pods := headless.Attrs(sec, "data-pod"); strings.Join(pods, " ") != strings.Join(want.pods, " ") {
				t.Errorf("HTML lists failing pods %v, text %v", pods, want.pods)
			}
			if want.more != "" && !strings.Contains(got, want.more) {
				t.Errorf("HTML does not count the rest: %q", want.more)
			}
			for _, w := range tc.wants {
				if !strings.Contains(got, w) {
					t.Errorf("HTML summary lacks %q:\n%s", w, got)
				}
			}
			for what, n := range map[string]int{`class="verdict `: 1, "<h2>Causes": min(1, len(want.codes)), "<h2>Recommendations": 0, `data-code="`: len(want.codes)} {
				if c := strings.Count(page, what); c != n {
					t.Errorf("the page has %q %d times, want %d", what, c, n)
				}
			}
		})
	}
}

// TestHTMLSummaryInChromium opens the HTML report in headless Chromium
// and takes a screenshot of its first screen: the page's script runs to its
// end, the summary names the text's verdict and first cause above the
// chart, and both are in the first screen; for the as-is run the whole
// summary is, and with 50 pods still the verdict and the first cause.
func TestHTMLSummaryInChromium(t *testing.T) {
	headless.Chromium(t)
	for _, tc := range []struct {
		name  string
		in    report.Input
		whole bool
	}{{"as-is", report.ExitsAtOnceInput(), true}, {"to-be", report.ToBeInput(), true}, {"many-pods", report.ManyPodsInput(50), false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits mostly on its own Chromium
			r := report.Build(tc.in)
			want := readText(t, r)
			path := filepath.Join(t.TempDir(), tc.name+".html")
			if err := os.WriteFile(path, []byte(writeHTML(t, r)), 0o644); err != nil {
				t.Fatal(err)
			}
			screen := headless.FirstScreen{Verdict: want.verdict, Whole: tc.whole, Shot: "summary-" + tc.name + ".png"}
			if len(want.codes) > 0 {
				screen.Cause = want.codes[0]
			}
			headless.CheckFirstScreen(t, path, screen)
		})
	}
}
