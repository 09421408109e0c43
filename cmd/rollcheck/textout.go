package main

import (
	"io"
	"os"
	"strconv"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/rollcheck/rollcheck/report/render"
)

// textFlags are how the text report prints: the summary or every table
// (--details), and in colour or not (--color), at the terminal's width.
type textFlags struct {
	Details bool
	Color   string
}

// defaultWidth is the text's width when stdout is not a terminal and
// $COLUMNS is not set: a CI log viewer's.
const defaultWidth = 100

func (t *textFlags) add(fl *pflag.FlagSet) {
	fl.BoolVar(&t.Details, "details", false, "print the whole text report: every table, the failures, the attribution and the timeline (the default is a summary)")
	fl.StringVar(&t.Color, "color", "auto", "colour the text report: auto (on a terminal, unless NO_COLOR is set), always or never")
}

func (t *textFlags) validate() error {
	switch t.Color {
	case "auto", "always", "never":
		return nil
	}
	return usagef("--color %q: want auto, always or never", t.Color)
}

// options are the text report's options for out: its width ($COLUMNS,
// else the terminal's, else defaultWidth) and whether it is coloured.
func (t *textFlags) options(out io.Writer) render.TextOptions {
	width, tty := textWidth(out)
	color := t.Color == "always" || t.Color == "auto" && tty && os.Getenv("NO_COLOR") == ""
	return render.TextOptions{Width: width, Details: t.Details, Color: color}
}

// textWidth is the columns text written to out may take: $COLUMNS, else
// the terminal's width, else defaultWidth; tty says out is a terminal.
func textWidth(out io.Writer) (width int, tty bool) {
	fd := -1
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd = int(f.Fd())
	}
	width = defaultWidth
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		width = n
	} else if fd >= 0 {
		if w, _, err := term.GetSize(fd); err == nil && w > 0 {
			width = w
		}
	}
	return width, fd >= 0
}
