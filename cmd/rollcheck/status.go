package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
)

// statusLine prints progress on stderr while a run goes on: one line
// rewritten in place on a terminal, plain periodic lines otherwise (CI logs).
type statusLine struct {
	w        io.Writer
	tty      bool
	atk      *attack.Attack
	watch    *rollout.Watcher
	mu       sync.Mutex
	phase    string
	done     chan struct{}
	finished chan struct{}
}

func newStatusLine(w io.Writer, atk *attack.Attack, watch *rollout.Watcher) *statusLine {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &statusLine{w: w, tty: tty, atk: atk, watch: watch, done: make(chan struct{}), finished: make(chan struct{})}
}

func (s *statusLine) setPhase(p string) {
	s.mu.Lock()
	changed := s.phase != p
	s.phase = p
	s.mu.Unlock()
	if changed && !s.tty {
		s.print()
	}
}

func (s *statusLine) start(ctx context.Context) {
	every := 5 * time.Second
	if s.tty {
		every = 250 * time.Millisecond
	}
	go func() {
		defer close(s.finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.print()
			case <-ctx.Done():
				return
			case <-s.done:
				return
			}
		}
	}()
}

func (s *statusLine) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	<-s.finished
	if s.tty {
		fmt.Fprint(s.w, "\r\033[K")
	}
}

func (s *statusLine) print() {
	s.mu.Lock()
	phase := s.phase
	s.mu.Unlock()
	snap := s.atk.Snapshot()
	st := s.watch.Status()
	line := fmt.Sprintf("%6.1fs %-8s %7.1f req/s  %d requests  %d failed  pods updated %d/%d ready %d  ready endpoints %d",
		snap.Elapsed.Seconds(), phase, snap.Rate, snap.Requests, snap.Failures, st.Updated, st.Desired, st.Ready, st.ReadyEndpoints)
	if s.tty {
		fmt.Fprint(s.w, "\r\033[K"+line)
		return
	}
	fmt.Fprintln(s.w, line)
}
