package compare

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/report"
)

var trendSeries = []string{"verdict", "failures", "disrupted", "causes", "p99"}

// readNights reads testdata/trend/night-N.json in the order given.
func readNights(t *testing.T, order ...int) []*report.Report {
	t.Helper()
	var rs []*report.Report
	for _, n := range order {
		r, err := report.ReadFile(fmt.Sprintf("testdata/trend/night-%d.json", n))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

// pointsBySeries counts the points in each series' SVG of a page or DOM.
func pointsBySeries(t *testing.T, page string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, id := range trendSeries {
		start := strings.Index(page, `id="series-`+id+`"`)
		if start < 0 {
			t.Errorf("no %s series", id)
			continue
		}
		end := strings.Index(page[start:], "</svg>")
		if end < 0 {
			t.Fatalf("series %s does not end", id)
		}
		out[id] = strings.Count(page[start:start+end], `class="point`)
	}
	return out
}

func TestTrendPage(t *testing.T) {
	// Given out of order: the page orders the runs by their start.
	rs := readNights(t, 3, 1, 5, 2, 4)
	rs[0].Rollout.Deployment = `web<script>alert(1)</script>`
	var buf bytes.Buffer
	if err := WriteTrend(rs, &buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	t.Run("every series has a point per run", func(t *testing.T) {
		for id, n := range pointsBySeries(t, page) {
			if n != 5 {
				t.Errorf("series %s has %d points, want 5", id, n)
			}
		}
	})
	t.Run("the runs are in the order of their start", func(t *testing.T) {
		last := -1
		for day := 24; day <= 28; day++ {
			at := strings.Index(page, fmt.Sprintf("<td>2026-11-%d 12:00</td>", day))
			if at < 0 || at < last {
				t.Errorf("the run of 2026-11-%d is not after the one before (at %d, previous %d)", day, at, last)
			}
			last = at
		}
		if !strings.Contains(page, "5 runs, 2026-11-24 12:00 to 2026-11-28 12:00") {
			t.Error("the title does not span the runs")
		}
	})
	t.Run("the page carries each run's numbers", func(t *testing.T) {
		for _, want := range []string{
			"2 PASS, 3 FAIL, 0 INCONCLUSIVE",
			`<td class="FAIL">FAIL</td><td>3000</td><td>113</td><td>3.0s</td><td>6.0 ms</td><td>TERMINATING_POD_STILL_ROUTED (113)</td>`,
			`<td class="PASS">PASS</td><td>3000</td><td>0</td><td>0.0s</td><td>7.1 ms</td><td>-</td>`,
			`data-cause="TERMINATING_POD_STILL_ROUTED"`, "113 of 3000 failed", "p99 in rollout 12ms",
		} {
			if !strings.Contains(page, want) && !strings.Contains(page, strings.ReplaceAll(want, "113 of 3000 failed", "113 of 3000 failed")) {
				t.Errorf("page lacks %q", want)
			}
		}
	})
	t.Run("the page is self-contained and escapes what it shows", func(t *testing.T) {
		if strings.Contains(page, "<script>alert(1)") {
			t.Error("a report's string reached the page unescaped")
		}
		for _, banned := range []string{`src="http`, `href="http`, "@import", "url("} {
			if strings.Contains(page, banned) {
				t.Errorf("page fetches from the network: %s", banned)
			}
		}
	})
	t.Run("no report is an error", func(t *testing.T) {
		if err := WriteTrend(nil, &bytes.Buffer{}); err == nil {
			t.Error("no error")
		}
	})
}

// TestTrendPageInChromium opens the trend page of five nights in headless
// Chromium and finds a point per night in every series of the rendered DOM,
// after the page's script ran to its end (it sets data-ok="1").
func TestTrendPageInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed")
		}
		t.Skip("chromium not installed: apt-get install chromium")
	}
	path := filepath.Join(t.TempDir(), "trend.html")
	var buf bytes.Buffer
	if err := WriteTrend(readNights(t, 1, 2, 3, 4, 5), &buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The flags e2e/html_test.go runs Chromium with: no sandbox as root, no
	// background network.
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--dump-dom", "file://"+path)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, errOut.String())
	}
	dom := out.String()
	if !strings.Contains(dom, `data-ok="1"`) {
		t.Error("the page's script did not run to its end")
	}
	for id, n := range pointsBySeries(t, dom) {
		if n != 5 {
			t.Errorf("series %s has %d points in the DOM, want 5", id, n)
		}
	}
}
