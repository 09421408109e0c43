package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/rollcheck/rollcheck/check"
)

// statusLine shows a run's progress on stderr: one line rewritten in place
// on a terminal, plain lines on each phase and every few seconds otherwise
// (CI logs). Notices and warnings go on lines of their own.
type statusLine struct {
	w     io.Writer
	tty   bool
	drawn bool // a status line is on the terminal's last line
}

func newStatusLine(w io.Writer) *statusLine {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &statusLine{w: w, tty: tty}
}

// every is how often the line is refreshed.
func (s *statusLine) every() time.Duration {
	if s.tty {
		return 250 * time.Millisecond
	}
	return 5 * time.Second
}

// show is the run's progress callback; the run calls it one at a time.
func (s *statusLine) show(p check.Progress) {
	switch p.Kind {
	case check.ProgressNotice:
		s.clear()
		fmt.Fprintln(s.w, p.Message)
	case check.ProgressWarning:
		s.clear()
		warn(s.w, p.Message)
	default:
		if !p.Started {
			return
		}
		line := fmt.Sprintf("%6.1fs %-8s %7.1f req/s  %d requests  %d failed  pods updated %d/%d ready %d  ready endpoints %d",
			p.Load.Elapsed.Seconds(), p.Phase, p.Load.Rate, p.Load.Requests, p.Load.Failures,
			p.Rollout.Updated, p.Rollout.Desired, p.Rollout.Ready, p.Rollout.ReadyEndpoints)
		if s.tty {
			fmt.Fprint(s.w, "\r\033[K"+line)
			s.drawn = true
			return
		}
		fmt.Fprintln(s.w, line)
	}
}

// clear removes the status line from the terminal.
func (s *statusLine) clear() {
	if s.drawn {
		fmt.Fprint(s.w, "\r\033[K")
		s.drawn = false
	}
}

// finish clears the line before the report is printed.
func (s *statusLine) finish() { s.clear() }

// warn prints a warning the one way every command spells it, as kubectl
// does.
func warn(w io.Writer, msg string) {
	fmt.Fprintln(w, "Warning: "+msg)
}
