// Package format holds the few ways the report's parts print numbers,
// moments and tables, so that the model's messages, the diagnosis's
// evidence and the renderers read alike: a moment named in a cause's
// evidence is found at the same offset in the printed timeline.
package format

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// Sec prints a duration in seconds with two decimals: "1.25 s".
func Sec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// Offset is t on the report's relative clock, in the words of the
// timeline the renderers print, so that a moment named in evidence can be
// found there: "+12.34s" after t0, "-" when either is unknown.
func Offset(t0, t time.Time) string {
	if t0.IsZero() || t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%+.2fs", t.Sub(t0).Seconds())
}

// Took prints a duration in seconds for people: one decimal, or two below
// a second, so that a 20 ms switch does not read "0.0s".
func Took(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.2fs", s)
	}
	return fmt.Sprintf("%.1fs", s)
}

// Secs prints seconds as a Go duration, to a tenth of a millisecond.
func Secs(s float64) string {
	d := time.Duration(s * float64(time.Second))
	return d.Round(time.Millisecond / 10).String()
}

// Dash is s, or "-" when empty.
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Truncate cuts s to n bytes with an ellipsis.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// Printer keeps the first write error so rendering code stays linear.
type Printer struct {
	w   io.Writer
	err error
	// Width is the columns the text may take (0: no limit): tables wrap
	// their cells and leave out columns to fit it (width.go).
	Width int
}

// NewPrinter prints to w.
func NewPrinter(w io.Writer) *Printer { return &Printer{w: w} }

// Err is the first write error.
func (p *Printer) Err() error { return p.err }

// Line prints one line.
// A line wider than Width wraps at spaces, its continuations indented two
// columns more than it.
func (p *Printer) Line(s string) {
	if p.err != nil {
		return
	}
	if p.Width > 0 && Visible(s) > p.Width {
		lead := s[:len(s)-len(strings.TrimLeft(s, " "))]
		s = strings.Join(Wrap(s, lead, lead+"  ", p.Width), "\n")
	}
	_, p.err = fmt.Fprintln(p.w, s)
}

// Pick is yes when cond holds, else no.
func Pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

// SVG accumulates markup; text parts are escaped by Esc.
type SVG struct{ B strings.Builder }

// F appends formatted markup.
func (s *SVG) F(format string, a ...any) { fmt.Fprintf(&s.B, format, a...) }

// Esc escapes text for HTML and SVG.
func Esc(s string) string { return template.HTMLEscapeString(s) }

// SVGWidth is the width of every chart of the HTML pages, in pixels.
const SVGWidth = 1200
