package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rollcheck/rollcheck/exitcode"
)

func TestReportCommand(t *testing.T) {
	t.Run("--openmetrics writes a file the Prometheus text parser reads", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "as-is.prom")
		r := executeRoot(t, "report", asIs, "--openmetrics", path)
		if r.code != exitcode.Pass {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "rollcheck: FAIL") {
			t.Errorf("no text report on stdout:\n%s", r.stdout)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		families, err := p.TextToMetricFamilies(strings.NewReader(string(data)))
		if err != nil {
			t.Fatalf("does not parse: %v\n%s", err, data)
		}
		if got := families["rollcheck_failed_requests"].GetMetric()[0].GetGauge().GetValue(); got != 113 {
			t.Errorf("rollcheck_failed_requests %g, want 113", got)
		}
	})
	t.Run("--trend writes one page of every report given, in the order of their start", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "trend.html")
		r := executeRoot(t, "report", "--trend", night5, night3, night1, "--html", path)
		if r.code != exitcode.Pass {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		page := string(data)
		first, last := strings.Index(page, "<td>2026-11-24 12:00</td>"), strings.Index(page, "<td>2026-11-28 12:00</td>")
		if !strings.Contains(page, "3 runs, 2026-11-24 12:00 to 2026-11-28 12:00") || first < 0 || last < first {
			t.Errorf("the page does not list the three runs in order:\n%s", page)
		}
	})
	t.Run("--trend without --html writes the page to stdout", func(t *testing.T) {
		r := executeRoot(t, "report", "--trend", night1, night3)
		if r.code != exitcode.Pass || !strings.HasPrefix(r.stdout, "<!DOCTYPE html>") {
			t.Errorf("exit %d, stdout starts %.40q", r.code, r.stdout)
		}
	})
	for _, tt := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"several reports without --trend are a usage error", []string{"report", night1, night3}, "several are rendered together with --trend"},
		{"--trend with --openmetrics is a usage error", []string{"report", "--trend", night1, "--openmetrics", "x.prom"}, "--junit and --openmetrics are for one report"},
		{"a file that is not a report is a usage error", []string{"report", "--trend", night1, "reportcmd_test.go"}, "reportcmd_test.go"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := executeRoot(t, tt.args...)
			if r.code != exitcode.Usage || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, exitcode.Usage, tt.stderr)
			}
		})
	}
}
