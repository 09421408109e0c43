package kubelet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Pdeathsig is delivered when the *thread* that forked the child exits, not
// the process. Go may retire threads, so every child is forked from one
// goroutine locked to a thread that lives as long as the kubelet.
var (
	spawnOnce sync.Once
	spawnReqs chan spawnReq
)

type spawnReq struct {
	cmd *exec.Cmd
	res chan error
}

func startCmd(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Its own process group, so that killing -pid takes its children too;
	// a new session (exec with a terminal) is a new group already, and
	// setpgid would fail in it.
	cmd.SysProcAttr.Setpgid = !cmd.SysProcAttr.Setsid
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must outlive children
			for r := range spawnReqs {
				r.res <- r.cmd.Start()
			}
		}()
	})
	res := make(chan error, 1)
	spawnReqs <- spawnReq{cmd: cmd, res: res}
	return <-res
}

// process is one running container process (its own process group).
type process struct {
	cmd    *exec.Cmd
	pid    int
	exited chan struct{}
	// set before exited is closed
	exitCode int
	state    *os.ProcessState
	log      *criLog
}

// startProcess starts argv with its stdout and stderr on pipes that
// newCRILog copies into logFile, which it closes when both streams end.
func startProcess(argv, env []string, dir string, logFile *os.File) (*process, error) {
	if len(argv) == 0 {
		_ = logFile.Close()
		return nil, errors.New("empty command")
	}
	var readers, writers []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			_ = f.Close()
		}
	}
	for range 2 {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(readers)
			closeAll(writers)
			_ = logFile.Close()
			return nil, fmt.Errorf("output pipe: %w", err)
		}
		readers, writers = append(readers, r), append(writers, w)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = writers[0], writers[1]
	err := startCmd(cmd)
	closeAll(writers) // the child has its own copies
	if err != nil {
		closeAll(readers)
		_ = logFile.Close()
		return nil, err
	}
	log := newCRILog(logFile, time.Now, map[string]io.ReadCloser{"stdout": readers[0], "stderr": readers[1]})
	p := &process{cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{}), log: log}
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		p.exitCode = exitCode(cmd.ProcessState)
		// The container is gone: like a PID namespace, take its children too.
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		close(p.exited)
	}()
	return p, nil
}

// signal sends sig to the main process only, as a container runtime does.
func (p *process) signal(sig syscall.Signal) {
	select {
	case <-p.exited:
	default:
		_ = syscall.Kill(p.pid, sig)
	}
}

// killGroup SIGKILLs the whole process group.
func (p *process) killGroup() {
	select {
	case <-p.exited:
	default:
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	}
}

// exitCode is the container exit code: 128+signal when killed by a signal.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
