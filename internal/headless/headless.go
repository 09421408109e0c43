// Package headless opens a page in headless Chromium for the tests that
// check the HTML report as a browser shows it: the DOM after the page's
// script ran, where its parts are laid out, and a screenshot. The unit
// tests run it on a rendered fixture, the end-to-end tests on a lab run's
// report.
package headless

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// Chromium finds Debian's Chromium. In CI (.ci/run installs it) its
// absence fails the test; elsewhere the test is skipped.
func Chromium(t testing.TB) string {
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

// Run runs Chromium headless with the flags this machine needs (no
// sandbox as root, no background network) and returns its stdout.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	bin := Chromium(t)
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

// DOM is the page at path, a local file, after its scripts ran.
func DOM(t testing.TB, path string) string {
	t.Helper()
	return Run(t, "--dump-dom", "file://"+path)
}

// Screenshot takes a w×h screenshot of the page at path, a local file,
// into $ROLLCHECK_E2E_REPORTS (where the tests keep what they would show
// a person; the test's temporary directory when unset) as name, and
// returns the screenshot's path.
func Screenshot(t testing.TB, path, name string, w, h int) string {
	t.Helper()
	dir := os.Getenv("ROLLCHECK_E2E_REPORTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, name)
	Run(t, "--window-size="+size(w, h), "--screenshot="+shot, "file://"+path)
	info, err := os.Stat(shot)
	if err != nil || info.Size() < 10000 {
		t.Fatalf("screenshot %s: %v (size %v)", shot, err, info)
	}
	t.Logf("screenshot: %s", shot)
	return shot
}

// Box is where an element is laid out, in CSS pixels from the page's top
// left; Found is false when no element matched.
type Box struct {
	Found                    bool
	Top, Bottom, Left, Right float64
}

// Layout lays the page at path out in a window w pixels wide and returns
// where the first element matching each CSS selector is, and the DOM: a
// copy of the page, with a script appended that measures them, is opened
// (the page's own script runs first).
func Layout(t testing.TB, path string, w int, selectors ...string) (map[string]Box, string) {
	t.Helper()
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := json.Marshal(selectors)
	if err != nil {
		t.Fatal(err)
	}
	measure := `<script>(function(){var out={};` + string(sel) + `.forEach(function(s){var e=document.querySelector(s);` +
		`if(!e)return;var r=e.getBoundingClientRect();out[s]={Found:true,Top:r.top+scrollY,Bottom:r.bottom+scrollY,Left:r.left,Right:r.right};});` +
		`document.body.setAttribute('data-layout',JSON.stringify(out));})();</script></body>`
	i := bytes.LastIndex(page, []byte("</body>"))
	if i < 0 {
		t.Fatalf("%s has no </body>", path)
	}
	copied := filepath.Join(t.TempDir(), "layout.html")
	if err := os.WriteFile(copied, append(append(bytes.Clone(page[:i]), measure...), page[i+len("</body>"):]...), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := Run(t, "--window-size="+size(w, 900), "--dump-dom", "file://"+copied)
	m := layoutAttr.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the measuring script did not run:\n%s", clip(dom))
	}
	boxes := map[string]Box{}
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &boxes); err != nil {
		t.Fatalf("layout %s: %v", m[1], err)
	}
	return boxes, dom
}

var layoutAttr = regexp.MustCompile(`data-layout="([^"]*)"`)

func size(w, h int) string { return fmt.Sprintf("%d,%d", w, h) }

func clip(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}
