package headless

import (
	"html"
	"regexp"
	"strings"
	"testing"
)

// The first screen of rollcheck's HTML report, as the unit tests (on a
// rendered fixture) and the end-to-end tests (on a lab run's report) both
// check it: the page opens on the summary the text prints by default.

// Screen is the first screen the report is checked in and shot at.
const (
	ScreenWidth  = 1200
	ScreenHeight = 900
)

// FirstScreen says what the report's first screen must show.
type FirstScreen struct {
	Verdict string // as the text's first line names it: FAIL
	Cause   string // the text's first cause, "" when it names none
	// Whole asks for the whole summary in the first screen, not only the
	// verdict and the first cause.
	Whole bool
	Shot  string // the screenshot's file name
}

// CheckFirstScreen opens the HTML report at path in headless Chromium and
// checks that its script ran to its end, that it opens on the summary
// section (before the chart), which names the verdict and the first cause
// and is laid out with both in the first screen, then takes a screenshot
// of that screen. It returns the DOM and the screenshot's path.
func CheckFirstScreen(t testing.TB, path string, want FirstScreen) (dom, shot string) {
	t.Helper()
	sels := []string{"#summary", "#summary .verdict", "#chart"}
	if want.Cause != "" {
		sels = append(sels, `#summary .cause[data-code="`+want.Cause+`"]`)
	}
	boxes, dom := Layout(t, path, ScreenWidth, sels...)
	if !strings.Contains(dom, `data-ok="1"`) {
		t.Error("the page's script did not run to its end (no data-ok=\"1\")")
	}
	sec := Section(t, dom)
	text := Visible(sec)
	if v := Attrs(sec, "data-verdict"); len(v) != 1 || v[0] != want.Verdict || !strings.HasPrefix(text, "rollcheck: "+want.Verdict+" ") {
		t.Errorf("the summary's verdict is %v, want %s as the text says:\n%s", v, want.Verdict, text)
	}
	codes := Attrs(sec, "data-code")
	switch {
	case want.Cause == "" && len(codes) > 0:
		t.Errorf("the summary names causes %v, the text none", codes)
	case want.Cause != "" && (len(codes) == 0 || codes[0] != want.Cause || !strings.Contains(text, want.Cause)):
		t.Errorf("the summary's causes are %v, want %s first as the text says", codes, want.Cause)
	}
	for _, s := range sels {
		b := boxes[s]
		switch {
		case !b.Found:
			t.Errorf("%s is not on the page", s)
		case s != "#summary" && s != "#chart" && b.Bottom > ScreenHeight:
			t.Errorf("%s ends at %.0f px, past the first screen (%d px)", s, b.Bottom, ScreenHeight)
		}
	}
	if sum, chart := boxes["#summary"], boxes["#chart"]; chart.Top < sum.Bottom {
		t.Errorf("the chart (top %.0f px) is not below the summary (bottom %.0f px)", chart.Top, sum.Bottom)
	}
	if chart := boxes["#chart"]; chart.Right > ScreenWidth {
		t.Errorf("the chart is %.0f px wide, past the screen's %d px: the page scrolls sideways", chart.Right, ScreenWidth)
	}
	if sum := boxes["#summary"]; (want.Whole && sum.Bottom > ScreenHeight) || sum.Right > ScreenWidth {
		t.Errorf("the summary spans to %.0f×%.0f px, past the first screen (%d×%d)", sum.Right, sum.Bottom, ScreenWidth, ScreenHeight)
	}
	return dom, Screenshot(t, path, want.Shot, ScreenWidth, ScreenHeight)
}

// Section is the report's summary section, which must come before the
// chart.
func Section(t testing.TB, page string) string {
	t.Helper()
	start, chart := strings.Index(page, `<section id="summary"`), strings.Index(page, `id="chart"`)
	if start < 0 || chart < 0 || start > chart {
		t.Fatalf("the summary section (at %d) does not come before the chart (at %d)", start, chart)
	}
	end := strings.Index(page[start:], "</section>")
	if end < 0 {
		t.Fatal("the summary section does not end")
	}
	return page[start : start+end]
}

var (
	tag    = regexp.MustCompile(`<[^>]*>`)
	spaces = regexp.MustCompile(`\s+`)
)

// Visible is the text a browser shows of an HTML fragment, its spaces
// collapsed.
func Visible(fragment string) string {
	return strings.TrimSpace(spaces.ReplaceAllString(html.UnescapeString(tag.ReplaceAllString(fragment, " ")), " "))
}

// Attrs are the values of an attribute in a fragment, in order.
func Attrs(fragment, name string) []string {
	var out []string
	for _, m := range regexp.MustCompile(name+`="([^"]*)"`).FindAllStringSubmatch(fragment, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}
