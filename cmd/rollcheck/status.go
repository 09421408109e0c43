package main

import (
	"fmt"
	"io"
	"os"
	"strings"
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

// statusEveryEnv overrides how often the line is refreshed, as a Go
// duration (500ms): the end-to-end test reads a rollout of a few seconds
// from a log, where the 5 s default would show one or two lines of it.
const statusEveryEnv = "ROLLCHECK_STATUS_EVERY"

// every is how often the line is refreshed: four times a second on a
// terminal, where the line is redrawn in place, every 5 s in a log.
func (s *statusLine) every() time.Duration {
	if d, err := time.ParseDuration(os.Getenv(statusEveryEnv)); err == nil && d > 0 {
		return d
	}
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
		line := progressLine(p)
		if s.tty {
			// A line wider than the terminal wraps, and \r then redraws
			// only its last part: cut it one short of the edge.
			if cols := s.width(); cols > 1 && len(line) >= cols {
				line = line[:cols-1]
			}
			fmt.Fprint(s.w, "\r\033[K"+line)
			s.drawn = true
			return
		}
		fmt.Fprintln(s.w, line)
	}
}

// progressLine is one status line, at most 100 columns for a rollout of up
// to 99 replicas, 99999 requests at up to 9999 req/s and phases up to 8
// letters (baseline, step 2/3):
//
//	12.3s rollout   100 req/s  0/1230 failed  updated 1/4 ready 3 terminating 1  endpoints 3
//
// Before the rollout is triggered the pods are counted as "pods 4/4": all of
// them are of the spec the run found, and "updated" would say a rollout
// happened. In a weighted canary nothing is rolled out: the phase names the
// step's weights, and each backend Service's pods and endpoints are shown.
//
//	12.3s step 2/3 50/50  100 req/s  0/1230 failed  demo ready 4/4 endpoints 4, demo-canary ready 1/1 endpoints 1
func progressLine(p check.Progress) string {
	load := fmt.Sprintf("%6.1fs %-8s %4.0f req/s  %d/%d failed  ",
		p.Load.Elapsed.Seconds(), p.Phase, p.Load.Rate, p.Load.Failures, p.Load.Requests)
	if len(p.Backends) > 0 {
		backends := make([]string, len(p.Backends))
		for i, b := range p.Backends {
			backends[i] = fmt.Sprintf("%s ready %d/%d endpoints %d", b.Service, b.Status.Ready, b.Status.Desired, b.Status.ReadyEndpoints)
		}
		return load + strings.Join(backends, ", ")
	}
	r := p.Rollout
	pods := "pods"
	if r.Triggered {
		pods = "updated"
	}
	return load + fmt.Sprintf("%s %d/%d ready %d terminating %d  endpoints %d",
		pods, r.Updated, r.Desired, r.Ready, r.Terminating, r.ReadyEndpoints)
}

// width is the terminal's width now (it may have been resized), 0 when
// unknown.
func (s *statusLine) width() int {
	f, ok := s.w.(*os.File)
	if !ok {
		return 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return cols
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
