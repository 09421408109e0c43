package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"sigs.k8s.io/yaml"

	"github.com/rollcheck/rollcheck/preflight"
)

// lintOutputs are the formats of -o, as kubectl names them.
var lintOutputs = []string{"text", "wide", "json", "yaml"}

// lintDocument is the JSON and YAML output.
type lintDocument struct {
	Results []lintResult `json:"results"`
}

func writeLintJSON(w io.Writer, results []lintResult) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(lintDocument{results})
}

func writeLintYAML(w io.Writer, results []lintResult) error {
	data, err := yaml.Marshal(lintDocument{results})
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// lintSummary is the line that heads each workload's findings.
func lintSummary(r lintResult) string {
	count := map[preflight.Severity]int{}
	for _, f := range r.Findings {
		count[f.Severity]++
	}
	return fmt.Sprintf("%s (namespace %s): %d error(s), %d warning(s), %d info",
		r.Workload, r.Namespace, count[preflight.Error], count[preflight.Warning], count[preflight.Info])
}

// writeLintWide is -o wide: every column in one boxed table, whatever its
// width, and each rule's explanation under it.
func writeLintWide(w io.Writer, results []lintResult) error {
	for i, r := range results {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintln(w, lintSummary(r)); err != nil {
			return err
		}
		if len(r.Findings) == 0 {
			continue
		}
		t := tablewriter.NewTable(w, tablewriter.WithRowMaxWidth(48), tablewriter.WithRowAutoWrap(tw.WrapNormal), tablewriter.WithRowAlignment(tw.AlignLeft))
		t.Header("Severity", "Rule", "Object", "Field", "Current", "Suggested")
		for _, f := range r.Findings {
			if err := t.Append(string(f.Severity), f.Rule, f.Object, f.Path, f.Current, f.Suggested); err != nil {
				return err
			}
		}
		if err := t.Render(); err != nil {
			return err
		}
		// Why, once per rule, under the table.
		whys := map[string]string{}
		var rules []string
		for _, f := range r.Findings {
			if _, ok := whys[f.Rule]; !ok {
				rules = append(rules, f.Rule)
				whys[f.Rule] = f.Why
			}
		}
		for _, id := range rules {
			if _, err := fmt.Fprintf(w, "  %s: %s\n", id, whys[id]); err != nil {
				return err
			}
		}
	}
	return nil
}

// The text table's layout: lintGap spaces between columns; minCell, the
// narrowest a wrapped cell may get before the field, current and suggested
// values leave the table for lines under the row; minWidth, below which
// those lines cannot fit, so the text is laid out for minWidth and the
// terminal wraps it.
const (
	lintGap  = 2
	minCell  = 20
	minWidth = 40
)

// writeLintText is the default output: a table without borders that fits
// width columns, as kubectl's do. Long cells wrap within their column and
// each finding's explanation follows its row, indented. Too narrow for
// that, the rows keep the severity and the rule, and the rest goes under
// each row, one labelled line each. The object column is left out when
// every finding is about the workload of the summary line.
func writeLintText(w io.Writer, results []lintResult, width int) error {
	width = max(width, minWidth)
	var b strings.Builder
	for i, r := range results {
		if i > 0 {
			b.WriteString("\n")
		}
		for _, line := range wrap(lintSummary(r), width) {
			b.WriteString(line + "\n")
		}
		if len(r.Findings) > 0 {
			writeFindings(&b, r, width)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeFindings writes the table of r's findings into b.
func writeFindings(b *strings.Builder, r lintResult, width int) {
	showObject := false
	for _, f := range r.Findings {
		showObject = showObject || f.Object != r.Workload
	}
	header := []string{"SEVERITY", "RULE", "OBJECT", "FIELD", "CURRENT", "SUGGESTED"}
	row := func(f preflight.Finding) []string {
		return []string{string(f.Severity), f.Rule, f.Object, f.Path, f.Current, f.Suggested}
	}
	if !showObject {
		header = slices.Delete(header, 2, 3)
		row = func(f preflight.Finding) []string {
			return []string{string(f.Severity), f.Rule, f.Path, f.Current, f.Suggested}
		}
	}
	rows := [][]string{header}
	for _, f := range r.Findings {
		rows = append(rows, row(f))
	}
	// Severity and rule (and object) are short names, kept whole.
	fixed := len(header) - 3
	natural := naturalWidths(rows)
	widths := fitColumns(natural, fixed, width)
	stacked := false
	for i := fixed; i < len(widths); i++ {
		stacked = stacked || widths[i] < min(natural[i], minCell)
	}
	if stacked {
		for i := range rows {
			rows[i] = rows[i][:2]
		}
		widths = fitColumns(naturalWidths(rows), 2, width)
	}
	const indent = "    "
	shown := map[string]bool{}
	for i, cells := range rows {
		writeRow(b, cells, widths)
		if i == 0 {
			continue
		}
		f := r.Findings[i-1]
		if stacked {
			if showObject {
				writeLabelled(b, indent, "object:", f.Object, width)
			}
			writeLabelled(b, indent, "field:", f.Path, width)
			writeLabelled(b, indent, "current:", f.Current, width)
			writeLabelled(b, indent, "suggested:", f.Suggested, width)
		}
		// The explanation, once when findings share it.
		if f.Why == "" || shown[f.Why] {
			continue
		}
		shown[f.Why] = true
		for _, line := range wrap(f.Why, width-len(indent)) {
			b.WriteString(indent + line + "\n")
		}
	}
}

// writeLabelled writes "label value" at indent, the value wrapped to width
// and its lines aligned after the label.
func writeLabelled(b *strings.Builder, indent, label, value string, width int) {
	label = fmt.Sprintf("%-11s", label)
	pad := strings.Repeat(" ", len(label))
	for i, line := range wrap(value, width-len(indent)-len(label)) {
		if i == 0 {
			b.WriteString(strings.TrimRight(indent+label+line, " ") + "\n")
		} else {
			b.WriteString(indent + pad + line + "\n")
		}
	}
}

// naturalWidths is the width of each column of rows without wrapping.
func naturalWidths(rows [][]string) []int {
	widths := make([]int, len(rows[0]))
	for _, cells := range rows {
		for i, c := range cells {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	return widths
}

// fitColumns returns the width of each column, natural without wrapping,
// so that the table, with lintGap between columns, fits width. The first
// fixed columns keep their natural width while they take at most half of
// the width; the others share what is left, each getting its natural width
// when that is below an equal share of what remains.
func fitColumns(natural []int, fixed, width int) []int {
	n := len(natural)
	widths := slices.Clone(natural)
	room := width - lintGap*(n-1)
	total, fixedWidth := 0, 0
	for i, w := range natural {
		total += w
		if i < fixed {
			fixedWidth += w
		}
	}
	if total <= room {
		return widths
	}
	flex := make([]int, 0, n)
	for i := range n {
		flex = append(flex, i)
	}
	if fixedWidth <= room/2 {
		flex, room = flex[fixed:], room-fixedWidth
	}
	slices.SortStableFunc(flex, func(a, b int) int { return natural[a] - natural[b] })
	for k, i := range flex {
		share := room / (len(flex) - k)
		widths[i] = max(1, min(natural[i], share))
		room -= widths[i]
	}
	return widths
}

// writeRow writes one table row: each cell wrapped to its column's width,
// the row as tall as its tallest cell.
func writeRow(b *strings.Builder, cells []string, widths []int) {
	wrapped := make([][]string, len(cells))
	height := 0
	for i, c := range cells {
		wrapped[i] = wrap(c, widths[i])
		height = max(height, len(wrapped[i]))
	}
	for l := range height {
		var line strings.Builder
		for i, lines := range wrapped {
			cell := ""
			if l < len(lines) {
				cell = lines[l]
			}
			line.WriteString(cell)
			if i < len(wrapped)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)+lintGap))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// wrap breaks s into lines of at most width runes: between words, and a
// word longer than a line after a dot, slash, comma or bracket when one is
// near the end of the line (field paths), else anywhere.
func wrap(s string, width int) []string {
	width = max(width, 1)
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		for utf8.RuneCountInString(word) > width {
			if line != "" {
				lines = append(lines, line)
				line = ""
			}
			cut := breakWord(word, width)
			lines = append(lines, word[:cut])
			word = word[cut:]
		}
		switch {
		case line == "":
			line = word
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}

// breakWord is where to cut word, longer than width runes, for a first line
// of at most width runes: after the last of ".,/]})" in its second half,
// else at width.
func breakWord(word string, width int) int {
	atWidth, after, n := len(word), 0, 0
	for i, r := range word {
		if n == width {
			atWidth = i
			break
		}
		n++
		if n > width/2 && strings.ContainsRune(".,/]})", r) {
			after = i + utf8.RuneLen(r)
		}
	}
	if after > 0 {
		return after
	}
	return atWidth
}
