package format

import (
	"bytes"
	"strings"
	"testing"
)

// TestWrap: lines break at spaces within the width, keep the spaces inside
// a line, cut a word longer than a line, and do not count colour escapes.
func TestWrap(t *testing.T) {
	got := Wrap("Load      a b "+strings.Repeat("x", 30)+" \x1b[1;31mFAIL\x1b[0m end", "", "  ", 12)
	want := []string{"Load      a", "  b", "  xxxxxxxxxx", "  xxxxxxxxxx", "  xxxxxxxxxx", "  FAIL end"}
	for i := range got {
		got[i] = ansi.ReplaceAllString(got[i], "")
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Wrap = %q, want %q", got, want)
	}
}

// TestTableDropsColumnsInOrder: a table that does not fit even wrapped
// leaves out the columns named first, says so, and no line passes the width.
func TestTableDropsColumnsInOrder(t *testing.T) {
	var b bytes.Buffer
	p := NewPrinter(&b)
	p.Width = 34
	p.TableDrop([]string{"pod", "error", "failed"}, []string{"error"}, func(add func(...any)) {
		add("web-5f7d8c9b6-x2k4q", "dial tcp 10.0.0.1:8080: connect: connection refused", 52)
	})
	out := b.String()
	for _, l := range strings.Split(out, "\n") {
		if Visible(l) > 34 {
			t.Errorf("line %q is %d wide", l, Visible(l))
		}
	}
	if strings.Contains(out, "ERROR") || !strings.Contains(out, "left out error") || !strings.Contains(out, "52") {
		t.Errorf("want the error column left out and said so:\n%s", out)
	}
}
