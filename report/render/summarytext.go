package render

import (
	"fmt"
	"strings"

	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// ANSI colours of the text report on a terminal.
const (
	sgrRed    = "1;31"
	sgrGreen  = "1;32"
	sgrYellow = "1;33"
	sgrBold   = "1"
)

func (o TextOptions) paint(sgr, s string) string {
	if !o.Color || s == "" {
		return s
	}
	return "\x1b[" + sgr + "m" + s + "\x1b[0m"
}

// verdict is the verdict in its colour: PASS green, FAIL red,
// INCONCLUSIVE yellow.
func (o TextOptions) verdict(v report.Verdict) string {
	switch v {
	case report.Pass:
		return o.paint(sgrGreen, string(v))
	case report.Fail:
		return o.paint(sgrRed, string(v))
	}
	return o.paint(sgrYellow, string(v))
}

// cause is a cause's code, red when its confidence is high: the cause to
// act on.
func (o TextOptions) cause(c report.Cause) string {
	if c.Confidence == report.ConfidenceHigh {
		return o.paint(sgrRed, string(c.Code))
	}
	return string(c.Code)
}

// severity is a lint severity padded to pad columns, error red and warning
// yellow.
func (o TextOptions) severity(s string, pad int) string {
	padded := fmt.Sprintf("%-*s", pad, s)
	switch s {
	case "error":
		return strings.Replace(padded, s, o.paint(sgrRed, s), 1)
	case "warning":
		return strings.Replace(padded, s, o.paint(sgrYellow, s), 1)
	}
	return padded
}

// summaryLines lays the summary out at the options' width, with less of
// each part until it fits maxSummaryLines.
func (o TextOptions) summaryLines(s summary) []string {
	var lines []string
	for _, lv := range summaryLevels {
		lines = o.layout(s, lv)
		if len(lines) <= maxSummaryLines {
			break
		}
	}
	return lines
}

// block collects wrapped lines.
type block struct {
	width int
	lines []string
}

// add wraps text after first, continued after rest, in at most n lines
// (n <= 0: no limit); a text cut short ends with an ellipsis.
func (b *block) add(first, rest, text string, n int) {
	ls := format.Wrap(text, first, rest, b.width)
	if n > 0 && len(ls) > n {
		ls = ls[:n]
		last := ls[n-1]
		if b.width > 0 && format.Visible(last)+1 > b.width {
			last = string([]rune(last)[:len([]rune(last))-1])
		}
		ls[n-1] = last + "…"
	}
	b.lines = append(b.lines, ls...)
}

func (b *block) blank() {
	if len(b.lines) > 0 && b.lines[len(b.lines)-1] != "" {
		b.lines = append(b.lines, "")
	}
}

const (
	indent = "  "
	hang   = "    "
	field  = "          " // under the text after "Load      "
)

func (o TextOptions) layout(s summary, lv summaryLevel) []string {
	b := &block{width: o.Width}
	b.add("", indent, "rollcheck: "+o.verdict(s.Verdict)+"  "+s.Subject, 0)
	for i, r := range s.Reasons {
		if i == lv.reasons {
			b.add(indent+"- ", hang, fmt.Sprintf("and %d more (%s)", len(s.Reasons)-i, o.hint()), 1)
			break
		}
		b.add(indent+"- ", hang, r, 2)
	}
	b.blank()
	if len(s.Causes) > 0 {
		head := "Causes:"
		if s.Attribution != "" {
			head = "Causes (" + s.Attribution + "):"
		}
		b.add("", indent, head, 2)
		shown := 0
		for _, c := range s.Causes {
			if shown == lv.causes || !c.Own && !lv.alternatives {
				continue
			}
			shown++
			code := c.Code
			if c.Confidence == report.ConfidenceHigh {
				code = o.paint(sgrRed, code)
			}
			conf := ""
			if c.Confidence != "" {
				conf = string(c.Confidence) + " confidence, "
			}
			b.add(indent, hang, code+"  "+conf+c.Failed, 2)
			b.add(hang, hang, c.Evidence, lv.evidence)
			if c.Also != "" {
				b.add(hang, hang, c.Also, 1)
			}
		}
		if n := len(s.Causes) - shown; n > 0 {
			b.add(indent, hang, fmt.Sprintf("and %s (%s)", plural(n, "more cause", "more causes"), o.hint()), 1)
		}
		b.blank()
	}
	if len(s.Fixes) > 0 {
		b.add("", indent, "Fix:", 1)
		for i, f := range s.Fixes {
			if i == lv.fixes {
				b.add(indent, hang, fmt.Sprintf("and %d more (%s)", len(s.Fixes)-i, o.hint()), 1)
				break
			}
			b.add(indent, hang+"  ", fmt.Sprintf("%s: %s -> %s", shortField(f.Field), f.Current, f.Suggested), 4)
			if f.Withheld == "" && lv.why > 0 { // a withheld number's reason is in Suggested
				b.add(hang, hang, f.Why, lv.why)
			}
		}
	}
	if len(s.Right) > 0 && s.Verdict != report.Pass {
		b.add(indent, hang, "already right: "+strings.Join(s.Right, ", "), 2)
	}
	b.blank()
	if s.Preflight != "" {
		p := s.Preflight
		for _, sev := range []string{"error", "warning"} {
			if strings.Contains(p, " "+sev) {
				p = strings.Replace(p, " "+sev, " "+o.severity(sev, 0), 1)
			}
		}
		b.add("", field, p, 2)
	}
	if s.Front != "" {
		// One line, so that a PASS still fits its dozen lines; --details
		// and the HTML give the whole why.
		b.add("", field, s.Front, 1)
	}
	for _, l := range []string{s.Load, s.Streams, s.Rollout, s.Drain, s.KubeProxy, s.Weights, s.Attackers, s.Measured} {
		if l != "" {
			b.add("", field, l, 3)
		}
	}
	if s.Steps != "" {
		b.add("", field, s.Steps, 2)
		for i, st := range s.FailedSteps {
			if i == lv.steps {
				b.add(indent, hang, fmt.Sprintf("and %d more failed steps", len(s.FailedSteps)-i), 1)
				break
			}
			b.add(indent, hang, st, 1)
		}
	}
	if len(s.Pods) > 0 && s.Verdict != report.Pass {
		line := strings.Join(s.Pods, "; ")
		if len(s.FailedPods) > 0 && s.QuietPods > 0 {
			line += fmt.Sprintf("; %s failed no request", plural(s.QuietPods, "pod", "pods"))
		}
		b.add("Pods      ", field, line, 3)
	}
	for i, p := range s.FailedPods {
		if i == lv.pods {
			more := "and %d more %s that failed requests"
			if i == 0 {
				more = "%d %s failed requests (" + o.hint() + ")"
			}
			b.add(indent, hang, fmt.Sprintf(more, len(s.FailedPods)-i, pluralWord(len(s.FailedPods)-i, "pod", "pods")), 1)
			break
		}
		text := fmt.Sprintf("%s  %d failed", p.Pod, p.Failures)
		if p.Detail != "" {
			text += "  (" + p.Detail + ")"
		}
		b.add(indent, hang, text, 2)
	}
	b.blank()
	details := o.hint() + " (every table and the timeline)"
	var files []string
	for _, f := range o.Files {
		if !strings.HasSuffix(o.DetailsHint, " "+f) {
			files = append(files, f)
		}
	}
	if len(files) > 0 {
		details += "; written: " + strings.Join(files, ", ")
	}
	b.add("details: ", hang, details, 3)
	return b.lines
}

func (o TextOptions) hint() string {
	if o.DetailsHint != "" {
		return o.DetailsHint
	}
	return "--details"
}
