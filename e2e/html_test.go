package e2e

import (
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/internal/headless"
)

// checkHTMLReport opens the run's HTML report in headless Chromium from
// file:// (internal/headless): its script runs to its end, it opens on the
// summary, above the chart, with the verdict and the first cause of the
// text the run printed (r.stdout) in the first screen, of which it takes a
// screenshot (kept in $ROLLCHECK_E2E_REPORTS when set); and the chart and a
// swimlane for each of at least pods pods are in the DOM.
func checkHTMLReport(t *testing.T, r result, path string, pods int) {
	t.Helper()
	verdict, cause := textVerdict(t, r.stdout)
	if verdict != string(r.report.Verdict) || (len(r.report.Causes) > 0 && cause != string(r.report.Causes[0].Code)) {
		t.Errorf("the text says %s, %s; the JSON report %s, %v", verdict, cause, r.report.Verdict, r.report.Causes)
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + ".png"
	dom, _ := headless.CheckFirstScreen(t, path, headless.FirstScreen{Verdict: verdict, Cause: cause, Shot: name})
	for _, want := range []string{`id="chart"`, `id="swimlanes"`, `class="fail"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %s", want)
		}
	}
	if n := strings.Count(dom, `class="lane" data-pod=`); n < pods {
		t.Errorf("%d pod swimlanes in the DOM, want at least %d", n, pods)
	}
}

// textVerdict reads the default text's verdict (its first line:
// "rollcheck: FAIL  deployment/…") and first cause (the first line under
// "Causes …:"; "" when it names none).
func textVerdict(t *testing.T, text string) (verdict, cause string) {
	t.Helper()
	lines := strings.Split(text, "\n")
	head := strings.Fields(lines[0])
	if len(head) < 2 || head[0] != "rollcheck:" {
		t.Fatalf("the text does not open on the verdict:\n%s", text)
	}
	for i, l := range lines {
		if strings.HasPrefix(l, "Causes") && i+1 < len(lines) {
			if f := strings.Fields(lines[i+1]); len(f) > 0 {
				cause = f[0]
			}
			break
		}
	}
	return head[1], cause
}
