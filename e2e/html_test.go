package e2e

import (
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/internal/headless"
)

// checkHTMLReport opens the HTML report in headless Chromium from file://
// (internal/headless), asserts the page's script ran to its end (it sets
// data-ok="1", which a script error would prevent) and the chart and
// swimlanes are in the DOM, and takes a screenshot (kept in
// $ROLLCHECK_E2E_REPORTS when set).
func checkHTMLReport(t *testing.T, path string, pods int) {
	t.Helper()
	dom := headless.DOM(t, path)
	for _, want := range []string{`data-ok="1"`, `id="chart"`, `id="swimlanes"`, `class="fail"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %s", want)
		}
	}
	if n := strings.Count(dom, `class="lane" data-pod=`); n < pods {
		t.Errorf("%d pod swimlanes in the DOM, want at least %d", n, pods)
	}
	headless.Screenshot(t, path, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".png", 1280, 1100)
}
