package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/tools/remotecommand"
	remotecommandserver "k8s.io/kubelet/pkg/cri/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// execPipeDrain bounds how long an exec'd command's output is still copied
// after the command exits (a background child may hold the pipes open).
const execPipeDrain = 2 * time.Second

// serveExec answers /exec/{namespace}/{pod}[/{uid}]/{container}?command=...
// through the real kubelet's stream server code (SPDY, or websockets when
// the client speaks them); the command runs as a process of the container.
func (k *Kubelet) serveExec(rw http.ResponseWriter, r *http.Request) {
	opts, err := remotecommandserver.NewOptions(r)
	if err != nil {
		statusError(rw, http.StatusBadRequest, err)
		return
	}
	uid := types.UID(r.PathValue("uid"))
	c, code, err := k.findContainer(r.PathValue("namespace"), r.PathValue("pod"), uid, r.PathValue("container"))
	if err != nil {
		statusError(rw, code, err)
		return
	}
	if _, err := c.running(); err != nil {
		statusError(rw, http.StatusNotFound, err)
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		statusError(rw, http.StatusBadRequest, errors.New("no command given"))
		return
	}
	remotecommandserver.ServeExec(rw, r, containerExecutor{c}, c.w.name, c.w.uid, c.spec.Name, cmd, opts,
		streamIdleTimeout, remotecommandconsts.DefaultStreamCreationTimeout, remotecommandconsts.SupportedStreamingProtocols)
}

// running returns the environment of the container's running process, or
// an error when no process runs.
func (c *container) running() (env []string, err error) {
	w := c.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.curRun == nil || c.curRun.finished() {
		return nil, fmt.Errorf("container %q in pod %s/%s is not running", c.spec.Name, w.ns, w.name)
	}
	return c.env, nil
}

// containerExecutor runs exec'd commands as processes with the container's
// environment and working directory.
type containerExecutor struct{ c *container }

// ExecInContainer runs cmd until it exits; it is killed (with its process
// group) when ctx is done, the container's process exits (as a runtime's
// exec dies with its container) or timeout expires.
func (e containerExecutor) ExecInContainer(ctx context.Context, _ string, _ types.UID, _ string, argv []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, timeout time.Duration) error {
	c := e.c
	c.w.mu.Lock()
	run := c.curRun
	c.w.mu.Unlock()
	env, err := c.running()
	if err != nil {
		return err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = c.w.logDir
	cmd.WaitDelay = execPipeDrain
	var term *ptyTerm
	if tty {
		if term, err = attachPTY(cmd, in, out, resize); err != nil {
			return err
		}
		defer term.close()
	} else {
		if in != nil {
			cmd.Stdin = in
		}
		if out != nil {
			cmd.Stdout = out
		}
		if errOut != nil {
			cmd.Stderr = errOut
		}
	}
	if err := startCmd(cmd); err != nil {
		return err
	}
	c.w.logf("container %s: exec pid %d: %q", c.spec.Name, cmd.Process.Pid, argv)
	pgid := cmd.Process.Pid
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	waited := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-run.done:
		case <-expired:
		case <-waited:
			return
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}()
	if term != nil {
		term.started()
	}
	err = cmd.Wait()
	close(waited)
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // its children go with it, as in a container
	if term != nil {
		term.drain(execPipeDrain)
	}
	if code := exitCode(cmd.ProcessState); code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		return nil // it exited 0; a leftover child held its output open
	}
	return err
}
