package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// child is one component process of the lab, run from this same binary.
type child struct {
	name string
	args []string
	// argv, if set, is the whole command line instead of this binary's
	// subcommand name and args (the real node's containerd, kubelet and
	// kube-proxy run under nsenter).
	argv []string
	// preStop, if set, runs when the lab stops, before c is signalled
	// (after the components started later are gone).
	preStop func()
	// grace is how long the component gets after SIGTERM before its
	// process group is killed.
	grace time.Duration
	// followsAPIServer: restart this component once a restarted API server
	// is ready again (see supervisor.recover).
	followsAPIServer bool

	mu     sync.Mutex
	cur    proc
	exited chan struct{} // closed when the current process has exited
	// bounced: the current process was stopped on purpose to be restarted
	// at once (no backoff, not counted as a crash).
	bounced bool
}

func (c *child) current() (proc, chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur, c.exited
}

// supervisor starts the lab's components and, once the lab is ready,
// restarts any that exits (unless DIR/hold/NAME exists). Before then an exit
// is a startup failure.
type supervisor struct {
	exe string
	dir string

	mu        sync.Mutex
	children  []*child
	stopping  bool
	restart   bool
	onRestart func()
	// apiReady reports whether the API server answers /readyz; with it, a
	// restarted API server is followed by a restart of the components that
	// follow it.
	apiReady func(context.Context) error
	failed   chan error
	wg       sync.WaitGroup
}

func newSupervisor(exe, dir string) *supervisor {
	return &supervisor{exe: exe, dir: dir, failed: make(chan error, 16)}
}

func (s *supervisor) logPath(name string) string {
	return filepath.Join(s.dir, logsDir, name+".log")
}

// start runs c for the first time and supervises it.
func (s *supervisor) start(c *child) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return errors.New("lab is stopping")
	}
	s.children = append(s.children, c)
	s.mu.Unlock()
	cmd, err := s.spawn(c, true)
	if err != nil {
		return err
	}
	s.wg.Add(1)
	go s.watch(c, cmd)
	return nil
}

func (s *supervisor) spawn(c *child, truncate bool) (*exec.Cmd, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if truncate {
		flags |= os.O_TRUNC
	}
	logf, err := os.OpenFile(s.logPath(c.name), flags, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	argv := c.argv
	if argv == nil {
		argv = append([]string{s.exe, c.name}, c.args...)
	}
	fmt.Fprintf(logf, "==== %s %s %q\n", time.Now().UTC().Format(time.RFC3339Nano), c.name, argv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group: a terminal's Ctrl-C reaches only `up`, which stops
	// the components in order. Pdeathsig: nothing outlives a killed `up`.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.name, err)
	}
	start, _ := procStart(cmd.Process.Pid)
	c.mu.Lock()
	c.cur = proc{PID: cmd.Process.Pid, Start: start}
	c.exited = make(chan struct{})
	c.mu.Unlock()
	return cmd, nil
}

// watch waits for c's process to exit and restarts it while the lab runs.
func (s *supervisor) watch(c *child, cmd *exec.Cmd) {
	defer s.wg.Done()
	const minBackoff, maxBackoff = 500 * time.Millisecond, 10 * time.Second
	backoff := minBackoff
	runningSince := time.Now()
	for {
		err := cmd.Wait()
		_, exited := c.current()
		close(exited)
		c.mu.Lock()
		bounced := c.bounced
		c.bounced = false
		c.mu.Unlock()
		if bounced {
			backoff = 0
		}
		s.mu.Lock()
		stopping, restart := s.stopping, s.restart
		s.mu.Unlock()
		if stopping {
			return
		}
		if !restart {
			// Fails the startup, which then stops the lab; but if the
			// startup has just succeeded, the loop below restarts c.
			select {
			case s.failed <- fmt.Errorf("%s exited during startup (%v); see %s", c.name, err, s.logPath(c.name)):
			default:
			}
		}
		if time.Since(runningSince) > time.Minute {
			backoff = minBackoff
		}
		wake := time.Now().Add(backoff)
		for {
			time.Sleep(100 * time.Millisecond)
			if time.Now().Before(wake) {
				if s.isStopping() {
					return
				}
				continue
			}
			s.mu.Lock()
			if s.stopping {
				s.mu.Unlock()
				return
			}
			if !s.restart {
				s.mu.Unlock()
				continue
			}
			if _, err := os.Stat(filepath.Join(s.dir, holdDir, c.name)); err == nil {
				s.mu.Unlock()
				continue // held by stop-component
			}
			// Spawn under the lock so that stop either sees the new process
			// or prevents it.
			cmd, err = s.spawn(c, false)
			onRestart := s.onRestart
			s.mu.Unlock()
			if err == nil {
				if onRestart != nil {
					onRestart()
				}
				if c.name == "apiserver" {
					s.wg.Add(1)
					go s.recover()
				}
				break
			}
			backoff = min(2*backoff, maxBackoff)
			wake = time.Now().Add(backoff)
		}
		runningSince = time.Now()
		// A component that keeps crashing is restarted ever more slowly.
		backoff = max(minBackoff, min(2*backoff, maxBackoff))
	}
}

func (s *supervisor) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// enableRestarts switches from startup (an exit is fatal) to supervision (an
// exit is restarted); onRestart runs after each restart. apiReady, if not
// nil, tells when a restarted API server is ready again.
func (s *supervisor) enableRestarts(onRestart func(), apiReady func(context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restart = true
	s.onRestart = onRestart
	s.apiReady = apiReady
}

// recoverTimeout bounds how long recover waits for a restarted API server.
const recoverTimeout = 2 * time.Minute

// recover runs after the API server was restarted: once it answers /readyz,
// it restarts the components that follow it (the controller-manager and the
// scheduler). A cluster with several API servers hardly notices one
// restarting; the lab has one, and the upstream controllers' informers back
// off after each failed list (doubling up to 30 s), so without this a
// rollout stalls for tens of seconds after a 3 s restart and a foreground
// deletion may not finish for minutes. A fresh process lists everything at
// once. The lab's own clients (kubelet, lb) wait for the API server instead
// (package apiwait) and keep running: restarting them would stop pods or
// drop connections.
func (s *supervisor) recover() {
	defer s.wg.Done()
	s.mu.Lock()
	ready := s.apiReady
	children := append([]*child(nil), s.children...)
	s.mu.Unlock()
	if ready == nil {
		return
	}
	deadline := time.Now().Add(recoverTimeout)
	for {
		if s.isStopping() || time.Now().After(deadline) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := ready(ctx)
		cancel()
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range children {
		if c.followsAPIServer {
			s.bounce(c)
		}
	}
}

// bounce stops c's current process so that watch restarts it at once.
func (s *supervisor) bounce(c *child) {
	c.mu.Lock()
	p, exited := c.cur, c.exited
	c.bounced = true
	c.mu.Unlock()
	if p.PID == 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "rollcheck-lab: the API server is back; restarting %s (pid %d)\n", c.name, p.PID)
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(c.grace):
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	}
}

// pids returns the current pid and start time of every component.
func (s *supervisor) pids() (map[string]int, map[string]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pids, starts := map[string]int{}, map[string]uint64{}
	for _, c := range s.children {
		p, _ := c.current()
		pids[c.name], starts[c.name] = p.PID, p.Start
	}
	return pids, starts
}

// stop stops the components in reverse start order: SIGTERM, then SIGKILL to
// the component's process group after its grace period.
func (s *supervisor) stop() {
	s.mu.Lock()
	s.stopping = true
	children := append([]*child(nil), s.children...)
	s.mu.Unlock()
	for i := len(children) - 1; i >= 0; i-- {
		c := children[i]
		p, exited := c.current()
		if p.PID == 0 {
			continue
		}
		select {
		case <-exited:
		default:
			if c.preStop != nil {
				c.preStop()
			}
			_ = syscall.Kill(p.PID, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(c.grace):
				_ = syscall.Kill(-p.PID, syscall.SIGKILL)
				select {
				case <-exited:
				case <-time.After(5 * time.Second):
				}
			}
		}
		// Whatever the component left in its process group goes too.
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	}
	s.wg.Wait()
}
