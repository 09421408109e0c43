package report_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/render"
)

// TestFrontInTheReport: the front the run assumed is in the JSON (valid
// against the schema, read back as written), on one Front line of the
// summary (cut to one line) and of --details (whole) right before Load,
// within the width, and in the HTML summary; a report without one has no
// such line.
func TestFrontInTheReport(t *testing.T) {
	in := report.ExitsAtOnceInput()
	in.Front = &report.Front{Name: "kube-proxy", Inferred: true, Why: "an in-cluster client to the ClusterIP of Service web: kube-proxy"}
	r := report.Build(in)
	var buf bytes.Buffer
	if err := render.WriteJSON(r, &buf); err != nil {
		t.Fatal(err)
	}
	if err := report.Validate(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Front *report.Front `json:"front"`
	}
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Front == nil || *back.Front != *in.Front {
		t.Errorf("front in the JSON = %+v, want %+v", back.Front, in.Front)
	}
	want := "Front     kube-proxy (inferred: an in-cluster client to the ClusterIP of Service web: kube-proxy)"
	for _, w := range widths {
		for _, details := range []bool{false, true} {
			lines := text(t, r, render.TextOptions{Width: w, Details: details})
			fits(t, "front", lines, w)
			all := strings.Join(lines, "\n")
			i, j := strings.Index(all, "Front     kube-proxy (inferred: "), strings.Index(all, "Load      ")
			if i < 0 || j < i {
				t.Errorf("at %d columns (details %v) no Front line before Load:\n%s", w, details, all)
			}
			if (w == 160 || details) && !strings.Contains(strings.Join(strings.Fields(all), " "), strings.Join(strings.Fields(want), " ")) {
				t.Errorf("at 160 columns (details %v) the Front line is not %q", details, want)
			}
		}
	}

	// A PASS keeps its dozen lines with a front (the summary gives the
	// front one line; --details the whole why).
	toBe := report.ToBeInput()
	toBe.Front = in.Front
	for _, w := range widths {
		if lines := text(t, report.Build(toBe), render.TextOptions{Width: w}); len(lines) > 12 {
			t.Errorf("to-be with a front at %d columns: %d lines, want at most 12:\n%s", w, len(lines), strings.Join(lines, "\n"))
		}
	}

	in.Front = &report.Front{Name: "alb"}
	lines := text(t, report.Build(in), render.TextOptions{Width: 100})
	if !strings.Contains(strings.Join(lines, "\n"), "Front     alb (--front)") {
		t.Errorf("a front given with --front is not said so:\n%s", strings.Join(lines, "\n"))
	}
	buf.Reset()
	if err := render.WriteHTML(report.Build(in), &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "alb (--front)") {
		t.Error("the HTML summary has no Front line")
	}

	in.Front = nil
	if all := strings.Join(text(t, report.Build(in), render.TextOptions{Width: 100, Details: true}), "\n"); strings.Contains(all, "Front ") {
		t.Errorf("a report without a front prints a Front line:\n%s", all)
	}
}
