package format

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// ansi matches the colour escapes the text report writes (SGR only).
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// Visible is how many columns s takes on a terminal: its runes, without
// colour escapes. The report's text is Latin, arrows and box drawing, all
// one column wide.
func Visible(s string) int { return utf8.RuneCountInString(ansi.ReplaceAllString(s, "")) }

// Wrap breaks text into lines of at most width columns: the first starts
// with first, the rest with rest (a hanging indent). Lines break at
// spaces, and the spaces inside a line are kept as they are; a word longer
// than a line is cut. Width 0 means no limit.
func Wrap(text, first, rest string, width int) []string {
	if width <= 0 {
		return []string{first + text}
	}
	var lines []string
	line, n := first, Visible(first)
	empty := true
	for _, m := range words.FindAllStringSubmatch(text, -1) {
		sp, w := m[1], m[2]
		wn := Visible(w)
		if !empty && n+len(sp)+wn > width {
			lines = append(lines, line)
			line, n, empty = rest, Visible(rest), true
		}
		for empty && n+wn > width && width-n > 1 && !strings.Contains(w, "\x1b") {
			// A word longer than the line (a URL, a path): cut it.
			cut := width - n
			lines = append(lines, line+string([]rune(w)[:cut]))
			w = string([]rune(w)[cut:])
			wn = Visible(w)
			line, n = rest, Visible(rest)
		}
		if !empty {
			line += sp
			n += len(sp)
		}
		line += w
		n += wn
		empty = false
	}
	return append(lines, line)
}

// words are a text's words, each with the spaces before it.
var words = regexp.MustCompile(`(\s*)(\S+)`)

// Clip cuts a line to width columns with an ellipsis. Width 0 means no
// limit. A line with colour escapes is returned whole: the report colours
// only lines it has laid out to fit.
func Clip(s string, width int) string {
	if width <= 0 || Visible(s) <= width || strings.Contains(s, "\x1b") {
		return s
	}
	return string([]rune(s)[:width-1]) + "…"
}

// Table prints a table that fits the printer's width: cells wrap at
// spaces first; if a row still does not fit, the columns named in drop
// leave, in that order, and a line under the table names them. A table
// with no width set prints whole.
func (p *Printer) Table(header []string, rows func(add func(...any))) {
	p.TableDrop(header, nil, rows)
}

// TableDrop is Table with the columns that may leave, in order, when the
// table does not fit. Past those, the last column leaves, then the one
// before, keeping the first; as a last resort lines are clipped.
func (p *Printer) TableDrop(header, drop []string, rows func(add func(...any))) {
	if p.err != nil {
		return
	}
	var data [][]string
	rows(func(cells ...any) {
		row := make([]string, len(cells))
		for i, c := range cells {
			row[i] = fmt.Sprint(c)
		}
		data = append(data, row)
	})
	keep := make([]bool, len(header))
	for i := range keep {
		keep[i] = true
	}
	order := slices.Clone(drop)
	for i := len(header) - 1; i > 0; i-- {
		if !slices.Contains(order, header[i]) {
			order = append(order, header[i])
		}
	}
	var dropped []string
	for {
		out, err := renderTable(header, data, keep, p.Width)
		if err != nil {
			p.err = err
			return
		}
		if p.Width <= 0 || widest(out) <= p.Width || len(order) == 0 {
			for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				p.Line(Clip(l, p.Width))
			}
			break
		}
		name := order[0]
		order = order[1:]
		if i := slices.Index(header, name); i >= 0 && keep[i] {
			keep[i] = false
			dropped = append(dropped, name)
		}
	}
	if len(dropped) > 0 {
		for _, l := range Wrap(fmt.Sprintf("(too wide: left out %s to fit %d columns; a wider terminal or $COLUMNS shows them)", strings.Join(dropped, ", "), p.Width), "", "", p.Width) {
			p.Line(l)
		}
	}
	p.Line("")
}

// renderTable draws the kept columns of a table, cells wrapped to fit
// width where width > 0.
func renderTable(header []string, data [][]string, keep []bool, width int) (string, error) {
	var b bytes.Buffer
	opts := []tablewriter.Option{}
	if width > 0 {
		opts = append(opts, tablewriter.WithMaxWidth(width), tablewriter.WithRowAutoWrap(tw.WrapNormal), tablewriter.WithHeaderAutoWrap(tw.WrapNormal))
	}
	t := tablewriter.NewTable(&b, opts...)
	t.Header(pick(header, keep)...)
	for _, row := range data {
		if err := t.Append(pick(row, keep)...); err != nil {
			return "", err
		}
	}
	if err := t.Render(); err != nil {
		return "", err
	}
	return b.String(), nil
}

func pick(cells []string, keep []bool) []any {
	var out []any
	for i, c := range cells {
		if i < len(keep) && keep[i] {
			out = append(out, c)
		}
	}
	return out
}

func widest(s string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		n = max(n, Visible(l))
	}
	return n
}
