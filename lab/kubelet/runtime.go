package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
	"k8s.io/utils/ptr"
)

// defaultGrace is terminationGracePeriodSeconds' default.
const defaultGrace = 30 * time.Second

// podWorker runs one pod: its sandbox (IP, loopback ports), containers,
// status reporting and termination.
type podWorker struct {
	k      *Kubelet
	uid    types.UID
	ns     string
	name   string
	logDir string

	mu          sync.Mutex
	pod         *v1.Pod // latest seen
	ip          string
	ports       map[int32]int
	containers  []*container
	startTime   metav1.Time
	sandbox     bool // IP and ports assigned, processes may run
	terminating bool
	deadline    time.Time
	deadlineCh  chan struct{} // closed and replaced when the deadline moves
	phase       v1.PodPhase   // set once terminal

	updated  chan struct{} // cap 1: a newer pod is in w.pod
	dirty    chan struct{} // cap 1: status needs a sync
	termCh   chan struct{} // closed when termination starts
	goneCh   chan struct{} // closed when the API object is gone
	goneOnce sync.Once
	syncMu   sync.Mutex // serializes status writes
}

func newPodWorker(k *Kubelet, pod *v1.Pod) *podWorker {
	w := &podWorker{
		k:       k,
		uid:     pod.UID,
		ns:      pod.Namespace,
		name:    pod.Name,
		logDir:  filepath.Join(k.cfg.Dir, "pods", pod.Namespace+"_"+pod.Name),
		pod:     pod.DeepCopy(),
		updated: make(chan struct{}, 1),
		dirty:   make(chan struct{}, 1),
		termCh:  make(chan struct{}),
		goneCh:  make(chan struct{}),
	}
	for _, spec := range pod.Spec.Containers {
		w.containers = append(w.containers, &container{
			w:     w,
			spec:  spec,
			done:  make(chan struct{}),
			state: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "ContainerCreating"}},
		})
	}
	// A kubelet restart must not reset the restart counts users watch.
	for _, cs := range pod.Status.ContainerStatuses {
		for _, c := range w.containers {
			if c.spec.Name == cs.Name {
				// A container running before is started again: a restart.
				c.restarts, c.pendingRestart = cs.RestartCount, cs.State.Running != nil
			}
		}
	}
	return w
}

func (w *podWorker) update(pod *v1.Pod) {
	w.mu.Lock()
	w.pod = pod.DeepCopy()
	w.mu.Unlock()
	select {
	case w.updated <- struct{}{}:
	default:
	}
}

func (w *podWorker) removed() { w.goneOnce.Do(func() { close(w.goneCh) }) }

func (w *podWorker) markDirty() {
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

func (w *podWorker) latest() *v1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

func (w *podWorker) isTerminating() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.terminating
}

// graceDeadline returns the termination deadline and a channel closed when
// a shorter grace period moves it.
func (w *podWorker) graceDeadline() (time.Time, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deadline, w.deadlineCh
}

// shortenGrace applies a second, shorter deletion grace period: the API
// server only lets it shrink, and so does the deadline.
func (w *podWorker) shortenGrace(pod *v1.Pod) {
	if pod.DeletionGracePeriodSeconds == nil {
		return
	}
	d := time.Now().Add(time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !d.Before(w.deadline) {
		return
	}
	w.deadline = d
	close(w.deadlineCh)
	w.deadlineCh = make(chan struct{})
	w.logf("grace period shortened to %ds", *pod.DeletionGracePeriodSeconds)
}

func (w *podWorker) logf(format string, args ...any) {
	w.k.cfg.Logf("pod %s/%s: %s", w.ns, w.name, fmt.Sprintf(format, args...))
}

func (w *podWorker) event(c *container, typ, reason, format string, args ...any) {
	pod := w.latest()
	ref := &v1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
		UID: pod.UID, ResourceVersion: pod.ResourceVersion,
	}
	if c != nil {
		ref.FieldPath = fmt.Sprintf("spec.containers{%s}", c.spec.Name)
	}
	w.k.recorder.Eventf(ref, typ, reason, format, args...)
}

// run drives the pod until it is deleted or the kubelet stops.
func (w *podWorker) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer w.release()

	pod := w.latest()
	if pod.DeletionTimestamp == nil {
		if err := w.setup(ctx); err != nil {
			w.logf("setup: %v", err)
			w.event(nil, v1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			return
		}
	}
	go w.statusLoop(ctx)
	w.mu.Lock()
	sandbox := w.sandbox
	w.mu.Unlock()
	for _, c := range w.containers {
		if sandbox {
			go c.run(ctx)
		} else {
			close(c.done)
		}
	}
	w.markDirty()

	var termDone chan struct{}
	if p := w.latest(); p.DeletionTimestamp != nil {
		termDone = w.startTermination(p) // e.g. deleted while the kubelet was down
	}
	for {
		select {
		case <-ctx.Done():
			w.waitContainers()
			return
		case <-w.goneCh:
			// Deleted behind our back (force delete): stop what still runs.
			cancel()
			w.waitContainers()
			return
		case <-w.updated:
			if p := w.latest(); p.DeletionTimestamp != nil && termDone == nil {
				termDone = w.startTermination(p)
			} else if p.DeletionTimestamp != nil {
				w.shortenGrace(p)
			}
			w.markDirty()
		case <-termDone:
			w.finish(ctx)
			w.k.markFinished(w.uid)
			return
		}
	}
}

// setup assigns the IP label and loopback ports and publishes the mapping.
func (w *podWorker) setup(ctx context.Context) error {
	pod := w.latest()
	// After a kubelet restart keep the pod's IP and, where still free, its
	// loopback ports: a running pod's address does not change.
	ip := pod.Status.PodIP
	if ip == "" || !w.k.ips.claim(ip) {
		var err error
		if ip, err = w.k.ips.allocate(); err != nil {
			return err
		}
	}
	var prev map[string]int
	_ = json.Unmarshal([]byte(pod.Annotations[PortsAnnotation]), &prev)
	ports := map[int32]int{}
	w.mu.Lock()
	w.ip, w.ports = ip, ports
	w.mu.Unlock()
	for _, cp := range podPorts(pod, w.k.cfg.Images) {
		lp := prev[strconv.Itoa(int(cp))]
		if lp == 0 || !w.k.ports.claim(lp) {
			var err error
			if lp, err = w.k.ports.allocate(); err != nil {
				return err
			}
		}
		w.mu.Lock()
		ports[cp] = lp
		w.mu.Unlock()
	}
	if err := os.MkdirAll(w.logDir, 0o755); err != nil {
		return fmt.Errorf("create pod dir: %w", err)
	}
	ann := map[string]int{}
	for cp, lp := range ports {
		ann[strconv.Itoa(int(cp))] = lp
	}
	annJSON, _ := json.Marshal(ann)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{PortsAnnotation: string(annJSON)},
	}})
	if _, err := w.k.client.CoreV1().Pods(w.ns).Patch(ctx, w.name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotate ports: %w", err)
	}
	w.mu.Lock()
	w.sandbox = true
	w.startTime = metav1.Now().Rfc3339Copy()
	w.mu.Unlock()
	w.logf("ip %s ports %s", ip, annJSON)
	return nil
}

func (w *podWorker) release() {
	w.mu.Lock()
	ip, ports := w.ip, w.ports
	w.ip, w.ports = "", nil
	w.mu.Unlock()
	if ip != "" {
		w.k.ips.release(ip)
	}
	for _, lp := range ports {
		w.k.ports.release(lp)
	}
}

func (w *podWorker) waitContainers() {
	for _, c := range w.containers {
		<-c.done
	}
}

// startTermination starts the graceful stop of every container in parallel;
// the grace is timed from now, when we observe the deletion.
func (w *podWorker) startTermination(pod *v1.Pod) chan struct{} {
	grace := defaultGrace
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	if pod.DeletionGracePeriodSeconds != nil {
		grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	w.mu.Lock()
	w.terminating = true
	w.deadline = time.Now().Add(grace)
	w.deadlineCh = make(chan struct{})
	w.mu.Unlock()
	w.logf("terminating, grace %s", grace)
	close(w.termCh)
	done := make(chan struct{})
	go func() {
		w.waitContainers()
		close(done)
	}()
	return done
}

// finish sets the terminal phase and deletes the pod object with grace 0.
func (w *podWorker) finish(ctx context.Context) {
	w.mu.Lock()
	phase := v1.PodSucceeded
	for _, c := range w.containers {
		if t := c.state.Terminated; t == nil || t.ExitCode != 0 {
			phase = v1.PodFailed
		}
	}
	w.phase = phase
	w.mu.Unlock()
	if err := w.syncStatus(ctx); err != nil {
		w.logf("final status: %v", err)
	}
	err := w.k.client.CoreV1().Pods(w.ns).Delete(ctx, w.name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &w.uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		w.logf("delete: %v", err)
	}
	w.logf("terminated (%s), deleted", phase)
}

// podPorts lists the ports that need a loopback port: declared container
// ports first, then numeric probe/hook ports and port flags of the image.
func podPorts(pod *v1.Pod, images *ImageMap) []int32 {
	var out []int32
	seen := map[int32]bool{}
	add := func(p int32) {
		if p > 0 && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			add(p.ContainerPort)
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, pr := range []*v1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
			if pr != nil {
				add(handlerPort(pr.HTTPGet, pr.TCPSocket))
			}
		}
		if lc := c.Lifecycle; lc != nil {
			for _, h := range []*v1.LifecycleHandler{lc.PreStop, lc.PostStart} {
				if h != nil {
					add(handlerPort(h.HTTPGet, h.TCPSocket))
				}
			}
		}
		if rule, ok := images.Lookup(c.Image); ok {
			for _, p := range portFlagPorts(append(append([]string(nil), c.Command...), c.Args...), rule.PortFlags) {
				add(p)
			}
		}
	}
	return out
}

func handlerPort(h *v1.HTTPGetAction, t *v1.TCPSocketAction) int32 {
	if h != nil && h.Port.IntVal > 0 {
		return h.Port.IntVal
	}
	if t != nil && t.Port.IntVal > 0 {
		return t.Port.IntVal
	}
	return 0
}

// containerEnv builds the process environment: a base (PATH, HOME), the lab
// variables, then the container's env in order with $(VAR) expansion.
func (w *podWorker) containerEnv(spec *v1.Container) ([]string, map[string]string) {
	pod := w.latest()
	w.mu.Lock()
	ip, ports := w.ip, w.ports
	w.mu.Unlock()
	var keys []string
	vars := map[string]string{}
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			keys = append(keys, k)
		}
		vars[k] = v
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			set(k, v)
		}
	}
	set("HOSTNAME", pod.Name)
	set("POD_NAME", pod.Name)
	set("POD_NAMESPACE", pod.Namespace)
	set("POD_IP", ip)
	set("NODE_NAME", w.k.cfg.NodeName)
	first := int32(0)
	for _, p := range spec.Ports {
		if first == 0 {
			first = p.ContainerPort
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if first == 0 {
				first = p.ContainerPort
			}
		}
	}
	if lp, ok := ports[first]; ok {
		set("PORT", strconv.Itoa(lp))
	}
	for cp, lp := range ports {
		set("PORT_"+strconv.Itoa(int(cp)), strconv.Itoa(lp))
	}
	for _, e := range spec.Env {
		val := e.Value
		if e.ValueFrom == nil {
			val = expansion.Expand(val, expansion.MappingFuncFor(vars))
		} else if fr := e.ValueFrom.FieldRef; fr != nil {
			val = w.fieldValue(pod, fr.FieldPath)
		} else {
			w.logf("env %s of container %s: only value and fieldRef are supported", e.Name, spec.Name)
		}
		set(e.Name, val)
	}
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, k+"="+vars[k])
	}
	return env, vars
}

func (w *podWorker) fieldValue(pod *v1.Pod, path string) string {
	w.mu.Lock()
	ip := w.ip
	w.mu.Unlock()
	switch path {
	case "metadata.name":
		return pod.Name
	case "metadata.namespace":
		return pod.Namespace
	case "metadata.uid":
		return string(pod.UID)
	case "spec.nodeName":
		return pod.Spec.NodeName
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName
	case "status.podIP", "status.podIPs":
		return ip
	case "status.hostIP", "status.hostIPs":
		return w.k.nodeIP
	}
	var key string
	if _, err := fmt.Sscanf(path, "metadata.labels['%s", &key); err == nil {
		return pod.Labels[trimKey(key)]
	}
	if _, err := fmt.Sscanf(path, "metadata.annotations['%s", &key); err == nil {
		return pod.Annotations[trimKey(key)]
	}
	return ""
}

func trimKey(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ']' || s[len(s)-1] == '\'') {
		s = s[:len(s)-1]
	}
	return s
}

var errNoImage = errors.New("no local command for image")

// command resolves the process argv: rule prefix + command + args, after
// $(VAR) expansion and port-flag rewriting.
func (w *podWorker) command(spec *v1.Container, vars map[string]string) ([]string, error) {
	rule, ok := w.k.cfg.Images.Lookup(spec.Image)
	if !ok {
		return nil, fmt.Errorf("%w %q (add it with --image-map)", errNoImage, spec.Image)
	}
	mapping := expansion.MappingFuncFor(vars)
	var args []string
	for _, a := range append(append([]string(nil), spec.Command...), spec.Args...) {
		args = append(args, expansion.Expand(a, mapping))
	}
	w.mu.Lock()
	ports := w.ports
	w.mu.Unlock()
	args = rewritePortFlags(args, rule.PortFlags, ports)
	if rule.fixArgs != nil {
		args = rule.fixArgs(args, ports)
	}
	return append(append([]string(nil), rule.Command...), args...), nil
}

// container is one container of a pod; its state is guarded by w.mu.
type container struct {
	w    *podWorker
	spec v1.Container
	done chan struct{}

	state    v1.ContainerState
	last     v1.ContainerState
	restarts int32
	// pendingRestart: the process ended and the next start is a restart.
	pendingRestart bool
	ready          bool
	started        bool
	pid            int
	gen            int // bumped per process start; stale probe results are dropped
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
		switch w.latest().Spec.RestartPolicy {
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
	logFile, err := os.OpenFile(filepath.Join(w.logDir, c.spec.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("open log: %w", err)
	}
	w.event(c, v1.EventTypeNormal, "Created", "Created container: %s", c.spec.Name)
	proc, err := startProcess(argv, env, w.logDir, logFile)
	if err != nil {
		_ = logFile.Close()
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

func (c *container) podGrace() time.Duration {
	if g := c.w.latest().Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return defaultGrace
}

func lifecycle(spec v1.Container, preStop bool) *v1.LifecycleHandler {
	if spec.Lifecycle == nil {
		return nil
	}
	if preStop {
		return spec.Lifecycle.PreStop
	}
	return spec.Lifecycle.PostStart
}

// kill stops proc like kuberuntime's killContainer: preStop first, inside
// the grace period; then SIGTERM; SIGKILL of the process group when the
// (remaining) grace, floored at MinGracePeriod, expires. A preStop still
// running at the deadline thus gets the one-off MinGracePeriod extension,
// during which the process also has SIGTERM.
func (c *container) kill(ctx context.Context, proc *process, deadlineFn func() (time.Time, <-chan struct{}), preStop bool) {
	w := c.w
	deadline, moved := deadlineFn()
	if h := lifecycle(c.spec, true); preStop && h != nil && time.Until(deadline) > 0 {
		hookCtx, stopHook := context.WithCancel(ctx)
		defer stopHook() // the hook dies with the container
		hookErr := make(chan error, 1)
		go func() { hookErr <- w.runHook(hookCtx, c, *h) }()
	hook:
		for {
			t := time.NewTimer(time.Until(deadline))
			select {
			case err := <-hookErr:
				if err != nil {
					w.logf("container %s: preStop: %v", c.spec.Name, err)
					w.event(c, v1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
				}
			case <-t.C:
				w.logf("container %s: preStop hook did not finish within the grace period", c.spec.Name)
			case <-moved:
				deadline, moved = deadlineFn()
				t.Stop()
				continue hook
			case <-proc.exited:
			case <-ctx.Done():
			}
			t.Stop()
			break
		}
	}
	proc.signal(syscall.SIGTERM)
	floor := time.Now().Add(w.k.cfg.MinGracePeriod)
	for {
		killAt := deadline
		if killAt.Before(floor) {
			killAt = floor
		}
		t := time.NewTimer(time.Until(killAt))
		select {
		case <-proc.exited:
			t.Stop()
			return
		case <-moved:
			t.Stop()
			deadline, moved = deadlineFn()
			continue
		case <-t.C:
			w.logf("container %s: still running after grace period, SIGKILL", c.spec.Name)
			w.event(nil, v1.EventTypeWarning, "ExceededGracePeriod", "Container runtime did not kill the pod within specified grace period.")
		case <-ctx.Done():
			t.Stop()
		}
		break
	}
	proc.killGroup()
	<-proc.exited
}

// fixedDeadline is a deadline that never moves (liveness kills).
func fixedDeadline(d time.Time) func() (time.Time, <-chan struct{}) {
	return func() (time.Time, <-chan struct{}) { return d, nil }
}

// exited records the process's exit as the terminated state.
func (c *container) exited(proc *process, gen int) {
	<-proc.exited
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
	w.mu.Unlock()
	w.logf("container %s: pid %d exited with %d", c.spec.Name, proc.pid, code)
	w.markDirty()
}

// startProbes runs the startup probe, then readiness and liveness. A failed
// liveness or startup probe sends the Killing message on restart.
func (c *container) startProbes(ctx context.Context, gen int, restart chan<- string) {
	w := c.w
	requestRestart := func(msg string) {
		select {
		case restart <- msg:
		default:
		}
	}
	afterStartup := func() {
		c.setProbeResult(gen, func() { c.started = true })
		if p := c.spec.ReadinessProbe; p == nil {
			c.setProbeResult(gen, func() { c.ready = true })
		} else {
			go c.probeLoop(ctx, "Readiness", p, failed, func(ok bool) bool {
				c.setProbeResult(gen, func() { c.ready = ok })
				return false
			})
		}
		if p := c.spec.LivenessProbe; p != nil {
			go c.probeLoop(ctx, "Liveness", p, succeeded, func(ok bool) bool {
				if !ok {
					requestRestart(fmt.Sprintf("Container %s failed liveness probe, will be restarted", c.spec.Name))
				}
				return !ok
			})
		}
	}
	p := c.spec.StartupProbe
	if p == nil {
		afterStartup()
		return
	}
	go c.probeLoop(ctx, "Startup", p, unknown, func(ok bool) bool {
		if ok {
			afterStartup()
		} else if !w.isTerminating() {
			requestRestart(fmt.Sprintf("Container %s failed startup probe, will be restarted", c.spec.Name))
		}
		return true
	})
}

// setProbeResult applies f if the probed process is still the running one.
func (c *container) setProbeResult(gen int, f func()) {
	w := c.w
	w.mu.Lock()
	if c.gen != gen || c.state.Running == nil {
		w.mu.Unlock()
		return
	}
	f()
	w.mu.Unlock()
	w.markDirty()
}

// probeLoop probes every period and calls set when the result flips after
// successThreshold/failureThreshold consecutive results; set returns true to
// stop. Liveness and startup stop once the pod terminates (their result is
// then taken as success); readiness keeps running.
func (c *container) probeLoop(ctx context.Context, kind string, p *v1.Probe, initial probeResult, set func(bool) bool) {
	w := c.w
	secs := func(v, def int32) time.Duration {
		if v <= 0 {
			v = def
		}
		return time.Duration(v) * time.Second
	}
	period := secs(p.PeriodSeconds, 10)
	timeout := secs(p.TimeoutSeconds, 1)
	success, failure := int(max(p.SuccessThreshold, 1)), int(p.FailureThreshold)
	if failure <= 0 {
		failure = 3
	}
	if d := time.Duration(p.InitialDelaySeconds) * time.Second; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
	result, last, run := initial, unknown, 0
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		if kind != "Readiness" && w.isTerminating() {
			return
		}
		ok, msg := w.probe(ctx, c, p.ProbeHandler, timeout)
		if ctx.Err() != nil {
			return
		}
		if !ok {
			w.event(c, v1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", kind, msg)
		}
		r := resultOf(ok)
		if r != last {
			run = 0
		}
		last = r
		if r == result {
			run = 0
		} else {
			run++
			need := failure
			if ok {
				need = success
			}
			if run >= need {
				result, run = r, 0
				if set(ok) {
					return
				}
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// probeResult is a probe worker's current result; startup starts unknown so
// its first failures count.
type probeResult int

const (
	unknown probeResult = iota
	succeeded
	failed
)

func resultOf(ok bool) probeResult {
	if ok {
		return succeeded
	}
	return failed
}
