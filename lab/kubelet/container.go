package kubelet

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// container is one container of a pod; its state is guarded by w.mu.
type container struct {
	w    *podWorker
	spec v1.Container
	done chan struct{}
	// sidecar: a native sidecar (sidecar.go); startedCh is closed the
	// first time the container counts as started (its startup probe
	// passed, or it ran with none), which the next container waits for.
	sidecar     bool
	startedCh   chan struct{}
	startedOnce bool

	state    v1.ContainerState
	last     v1.ContainerState
	restarts int32
	// pendingRestart: the process ended and the next start is a restart.
	pendingRestart bool
	ready          bool
	started        bool
	pid            int
	gen            int // bumped per process start; stale probe results are dropped
	// curRun and prevRun are the current and the previous process's log
	// files (kubectl logs and logs --previous); env is the current
	// process's environment, which exec gives its commands too.
	curRun, prevRun *logRun
	env             []string
	// seen is the state the pod status shows, as of the pod's last relist
	// (Config.StatusRelist; relist.go).
	seen seenState
}

// run starts the container and restarts it per restartPolicy until the pod
// terminates or the kubelet stops.
func (c *container) run(ctx context.Context) {
	defer close(c.done)
	w := c.w
	crashes := 0
	for {
		if w.isTerminating() || ctx.Err() != nil {
			return
		}
		proc, gen, err := c.start()
		if errors.Is(err, errNoImage) {
			c.imagePullFailed(ctx, err)
			return
		}
		exit := 128
		if err != nil {
			w.logf("container %s: start: %v", c.spec.Name, err)
			w.mu.Lock()
			c.countRestartLocked() // a start that failed still counts
			w.mu.Unlock()
			c.setState(v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
				ExitCode: 128, Reason: "StartError", Message: err.Error(), FinishedAt: metav1.Now().Rfc3339Copy(),
			}})
			w.event(c, v1.EventTypeWarning, "Failed", "Error: %v", err)
		} else {
			began := time.Now()
			if stopped := c.supervise(ctx, proc, gen); stopped {
				return
			}
			exit = proc.exitCode
			if time.Since(began) > 10*w.k.cfg.BackoffMax {
				crashes = 0
			}
		}
		if w.isTerminating() || ctx.Err() != nil {
			return
		}
		policy := w.latest().Spec.RestartPolicy
		if c.sidecar {
			policy = v1.RestartPolicyAlways // a sidecar's own restartPolicy
		}
		switch policy {
		case v1.RestartPolicyNever:
			return
		case v1.RestartPolicyOnFailure:
			if exit == 0 {
				return
			}
		}
		delay := time.Duration(0)
		if crashes > 0 {
			delay = w.k.cfg.BackoffBase << (crashes - 1)
			if delay > w.k.cfg.BackoffMax || delay <= 0 {
				delay = w.k.cfg.BackoffMax
			}
		}
		crashes++
		if delay > 0 {
			w.mu.Lock()
			c.last = c.state
			c.state = v1.ContainerState{Waiting: &v1.ContainerStateWaiting{
				Reason:  "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, c.spec.Name, w.name, w.ns, w.uid),
			}}
			w.mu.Unlock()
			w.markDirty()
			w.event(c, v1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.spec.Name, w.name, w.ns, w.uid)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-w.termCh:
				t.Stop()
				return
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		w.mu.Lock()
		// Counted when the next process starts, together with moving this
		// exit to lastState, as the kubelet does: a status never shows a
		// restart count without the termination that caused it.
		c.pendingRestart = true
		w.mu.Unlock()
	}
}

// countRestartLocked counts a pending restart; w.mu is held.
func (c *container) countRestartLocked() {
	if c.pendingRestart {
		c.restarts++
		c.pendingRestart = false
	}
}

func (c *container) setState(s v1.ContainerState) {
	c.w.mu.Lock()
	c.state = s
	c.ready, c.started = false, false
	c.w.mu.Unlock()
	c.w.markDirty()
}

func (c *container) imagePullFailed(ctx context.Context, err error) {
	w := c.w
	w.logf("container %s: %v", c.spec.Name, err)
	c.setState(v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "ErrImagePull", Message: err.Error()}})
	w.event(c, v1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.spec.Image, err)
	w.event(c, v1.EventTypeWarning, "Failed", "Error: ErrImagePull")
	t := time.NewTimer(w.k.cfg.BackoffBase)
	defer t.Stop()
	select {
	case <-t.C:
		c.setState(v1.ContainerState{Waiting: &v1.ContainerStateWaiting{
			Reason: "ImagePullBackOff", Message: fmt.Sprintf("Back-off pulling image %q: %v", c.spec.Image, err),
		}})
		w.event(c, v1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.spec.Image)
		w.event(c, v1.EventTypeWarning, "Failed", "Error: ImagePullBackOff")
	case <-w.termCh:
		return
	case <-ctx.Done():
		return
	}
	select {
	case <-w.termCh:
	case <-ctx.Done():
	}
}

// start launches the process and marks the container running.
func (c *container) start() (*process, int, error) {
	w := c.w
	env, vars := w.containerEnv(&c.spec)
	argv, err := w.command(&c.spec, vars)
	if err != nil {
		return nil, 0, err
	}
	w.event(c, v1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.spec.Image)
	logFile, logPath, err := c.openRunLog()
	if err != nil {
		return nil, 0, err
	}
	w.event(c, v1.EventTypeNormal, "Created", "Created container: %s", c.spec.Name)
	proc, err := startProcess(argv, env, w.logDir, logFile)
	if err != nil {
		return nil, 0, err
	}
	w.logf("container %s: pid %d: %q", c.spec.Name, proc.pid, argv)
	w.mu.Lock()
	if c.state.Terminated != nil {
		c.last = c.state
	} else if c.state.Waiting != nil && c.last.Terminated == nil {
		c.last = v1.ContainerState{}
	}
	c.countRestartLocked()
	c.gen++
	gen := c.gen
	c.pid = proc.pid
	if c.curRun != nil {
		c.prevRun = c.curRun
	}
	c.curRun = newLogRun(logPath)
	c.env = env
	c.state = v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: metav1.Now().Rfc3339Copy()}}
	c.ready, c.started = false, false
	w.mu.Unlock()
	w.markDirty()
	w.event(c, v1.EventTypeNormal, "Started", "Started container %s", c.spec.Name)
	return proc, gen, nil
}

// supervise watches a running process: its exit, liveness/startup failure,
// pod termination and kubelet shutdown. It returns true when the container
// must not be restarted.
func (c *container) supervise(ctx context.Context, proc *process, gen int) (stopped bool) {
	w := c.w
	probeCtx, stopProbes := context.WithCancel(ctx)
	defer stopProbes()

	if h := lifecycle(c.spec, false); h != nil {
		if err := w.runHook(probeCtx, c, *h); err != nil {
			w.event(c, v1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %v", err)
			w.event(c, v1.EventTypeNormal, "Killing", "FailedPostStartHook")
			c.kill(ctx, proc, fixedDeadline(time.Now().Add(c.podGrace())), false)
			c.exited(proc, gen)
			return w.isTerminating()
		}
	}
	restart := make(chan string, 1)
	c.startProbes(probeCtx, gen, restart)
	select {
	case <-proc.exited:
		c.exited(proc, gen)
		return w.isTerminating()
	case msg := <-restart:
		w.event(c, v1.EventTypeNormal, "Killing", "%s", msg)
		grace := c.podGrace()
		if p := c.spec.LivenessProbe; p != nil && p.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
		}
		c.kill(ctx, proc, fixedDeadline(time.Now().Add(grace)), true)
		c.exited(proc, gen)
		return w.isTerminating() || ctx.Err() != nil
	case <-w.termCh:
		w.event(c, v1.EventTypeNormal, "Killing", "Stopping container %s", c.spec.Name)
		c.kill(ctx, proc, w.graceDeadline, true)
		c.exited(proc, gen)
		return true
	case <-ctx.Done():
		proc.signal(syscall.SIGTERM)
		t := time.NewTimer(w.k.cfg.ShutdownGrace)
		select {
		case <-proc.exited:
		case <-t.C:
			proc.killGroup()
			<-proc.exited
		}
		t.Stop()
		c.exited(proc, gen)
		return true
	}
}

// exited records the process's exit as the terminated state.
func (c *container) exited(proc *process, gen int) {
	<-proc.exited
	proc.log.wait(logDrain)
	w := c.w
	code := proc.exitCode
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	w.mu.Lock()
	var started metav1.Time
	if c.gen == gen && c.state.Running != nil {
		started = c.state.Running.StartedAt
	}
	c.state = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
		ExitCode:    int32(code),
		Reason:      reason,
		StartedAt:   started,
		FinishedAt:  metav1.Now().Rfc3339Copy(),
		ContainerID: fmt.Sprintf("lab://%d", proc.pid),
	}}
	c.ready, c.started = false, false
	if c.curRun != nil && !c.curRun.finished() {
		close(c.curRun.done)
	}
	w.mu.Unlock()
	w.logf("container %s: pid %d exited with %d", c.spec.Name, proc.pid, code)
	w.markDirty()
}
