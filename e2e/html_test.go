package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium finds Debian's Chromium. In CI (.ci/run installs it) its absence
// fails the test; elsewhere the check is skipped.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (.ci/run installs Debian's chromium package)")
	}
	t.Skip("chromium not installed: apt-get install chromium")
	return ""
}

// headless runs Chromium on a local file with the flags this machine needs
// (no sandbox as root, no background network).
func headless(t *testing.T, args ...string) string {
	t.Helper()
	bin := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}

// checkHTMLReport opens the HTML report in headless Chromium from file://,
// asserts the page's script ran to its end (it sets data-ok="1", which a
// script error would prevent) and the chart and swimlanes are in the DOM, and
// takes a screenshot (copied to $ROLLCHECK_SCREENSHOT when set).
func checkHTMLReport(t *testing.T, path string, pods int) {
	t.Helper()
	url := "file://" + path
	dom := headless(t, "--dump-dom", url)
	for _, want := range []string{`data-ok="1"`, `id="chart"`, `id="swimlanes"`, `class="fail"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %s", want)
		}
	}
	if n := strings.Count(dom, `class="lane" data-pod=`); n < pods {
		t.Errorf("%d pod swimlanes in the DOM, want at least %d", n, pods)
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	headless(t, "--window-size=1280,1100", "--screenshot="+shot, url)
	info, err := os.Stat(shot)
	if err != nil || info.Size() < 10000 {
		t.Fatalf("screenshot %s: %v (size %v)", shot, err, info)
	}
	if dst := os.Getenv("ROLLCHECK_SCREENSHOT"); dst != "" {
		data, err := os.ReadFile(shot)
		if err == nil {
			err = os.WriteFile(dst, data, 0o644)
		}
		if err != nil {
			t.Errorf("copying the screenshot: %v", err)
		}
	}
}
