package main

// The labs the suite runs on: each held up by a test binary in hold mode
// (ROLLCHECK_E2E_HOLD=1) until released.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// heldLab is a lab kept up by a test binary in hold mode until release.
type heldLab struct {
	mode  string
	dir   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	once  sync.Once
}

// release closes the holder's standard input, on which it takes the lab
// down, and waits for it.
func (h *heldLab) release() {
	h.once.Do(func() {
		_ = h.stdin.Close()
		done := make(chan struct{})
		go func() { _ = h.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Minute):
			_ = h.cmd.Process.Kill()
			<-done
		}
	})
}

// startLabs starts every lab at once and waits for all; on error the labs
// already up are returned too, for release.
func startLabs(ctx context.Context, bin string, labs []labSpec, out io.Writer) ([]*heldLab, error) {
	type started struct {
		i   int
		h   *heldLab
		err error
	}
	ch := make(chan started, len(labs))
	for i, l := range labs {
		go func() {
			h, err := holdLab(ctx, bin, l.mode)
			ch <- started{i, h, err}
		}()
	}
	held := make([]*heldLab, len(labs))
	var errs []error
	for range labs {
		s := <-ch
		if s.err != nil {
			errs = append(errs, fmt.Errorf("lab %d (%s): %w", s.i+1, labs[s.i].mode, s.err))
			continue
		}
		held[s.i] = s.h
		fmt.Fprintf(out, "e2e: lab %d (%s) ready: %s\n", s.i+1, s.h.mode, s.h.dir)
	}
	var ok []*heldLab
	for _, h := range held {
		if h != nil {
			ok = append(ok, h)
		}
	}
	return ok, errors.Join(errs...)
}

func holdLab(ctx context.Context, bin, mode string) (*heldLab, error) {
	cmd := exec.Command(bin, "-test.run", "^$")
	cmd.Env = append(withoutE2E(os.Environ()), "ROLLCHECK_E2E=1", "ROLLCHECK_E2E_HOLD=1", "ROLLCHECK_E2E_NODE="+mode)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// Its own process group: a Ctrl-C of the runner reaches the runner,
	// which takes the labs down in order, not every holder at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &heldLab{mode: mode, cmd: cmd, stdin: stdin}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if dir, ok := strings.CutPrefix(sc.Text(), "lab ready "); ok {
				ready <- dir
			}
		}
		close(ready)
	}()
	select {
	case dir, ok := <-ready:
		if !ok {
			h.release()
			return nil, fmt.Errorf("the lab did not come up:\n%s", stderr.String())
		}
		h.dir = dir
		return h, nil
	case <-ctx.Done():
		h.release()
		return nil, ctx.Err()
	}
}
