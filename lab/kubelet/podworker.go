package kubelet

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podWorker runs one pod: its sandbox (IP, loopback ports), containers,
// status reporting and termination. This file holds its state and the run
// loop that reacts to pod updates; each stage it drives has a file of its
// own (sandbox.go, container.go, status.go, termination.go). All of them
// guard the pod's and its containers' state with w.mu.
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
	// initialized: every native sidecar has started and the app
	// containers were started (PodInitialized).
	initialized bool
	deadline    time.Time
	deadlineCh  chan struct{} // closed and replaced when the deadline moves
	phase       v1.PodPhase   // set once terminal
	// reason and message go with a phase the kubelet imposed (deadline.go).
	reason, message string

	updated  chan struct{} // cap 1: a newer pod is in w.pod
	dirty    chan struct{} // cap 1: status needs a sync
	termCh   chan struct{} // closed when termination starts
	goneCh   chan struct{} // closed when the API object is gone
	goneOnce sync.Once
	syncMu   sync.Mutex // serializes status writes
	// relisted is closed and replaced at each relist (relist.go).
	relisted chan struct{}
}

func newPodWorker(k *Kubelet, pod *v1.Pod) *podWorker {
	w := &podWorker{
		k:        k,
		uid:      pod.UID,
		ns:       pod.Namespace,
		name:     pod.Name,
		logDir:   filepath.Join(k.cfg.Dir, "pods", pod.Namespace+"_"+pod.Name),
		pod:      pod.DeepCopy(),
		updated:  make(chan struct{}, 1),
		dirty:    make(chan struct{}, 1),
		termCh:   make(chan struct{}),
		goneCh:   make(chan struct{}),
		relisted: make(chan struct{}),
	}
	// Native sidecars (init containers with restartPolicy: Always) come
	// first, in their order: they start before the app containers and stop
	// after them (sidecar.go).
	for _, spec := range podContainers(pod) {
		w.containers = append(w.containers, &container{
			w:         w,
			spec:      spec,
			sidecar:   isSidecar(spec),
			done:      make(chan struct{}),
			startedCh: make(chan struct{}),
			state:     v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "ContainerCreating"}},
		})
	}
	for _, spec := range pod.Spec.InitContainers {
		if !isSidecar(spec) {
			w.logf("init container %s: only native sidecars (restartPolicy: Always) run here; it is skipped", spec.Name)
		}
	}
	for _, c := range w.containers {
		c.seen = c.snapshotLocked() // not shared yet
	}
	// A kubelet restart must not reset the restart counts users watch.
	for _, cs := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
		for _, c := range w.containers {
			if c.spec.Name == cs.Name {
				// A container running before is started again: a restart.
				c.restarts, c.pendingRestart = cs.RestartCount, cs.State.Running != nil
				c.seen.restarts = c.restarts
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

func (w *podWorker) logf(format string, args ...any) {
	w.k.cfg.Logf("pod %s/%s: %s", w.ns, w.name, fmt.Sprintf(format, args...))
}

func (w *podWorker) event(c *container, typ, reason, format string, args ...any) {
	pod := w.latest()
	ref := &v1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
		UID: pod.UID, ResourceVersion: pod.ResourceVersion,
	}
	if c != nil && c.sidecar {
		ref.FieldPath = fmt.Sprintf("spec.initContainers{%s}", c.spec.Name)
	} else if c != nil {
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
	if p := w.k.cfg.StatusRelist; p > 0 {
		go w.relistLoop(ctx, p)
	}
	w.mu.Lock()
	sandbox := w.sandbox
	w.mu.Unlock()
	if sandbox {
		go w.startContainers(ctx)
	} else {
		for _, c := range w.containers {
			close(c.done)
		}
	}
	w.markDirty()

	var termDone chan struct{}
	if p := w.latest(); p.DeletionTimestamp != nil {
		termDone = w.startTermination(p) // e.g. deleted while the kubelet was down
	}
	var deadline deadlineTimer
	defer deadline.stop()
	if termDone == nil {
		deadline.arm(w.activeDeadline())
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
				deadline.stop()
				termDone = w.startTermination(p)
			} else if p.DeletionTimestamp != nil {
				w.shortenGrace(p)
			} else if termDone == nil {
				deadline.arm(w.activeDeadline())
			}
			w.markDirty()
		case <-deadline.C:
			deadline.stop()
			if termDone == nil && !w.ranToCompletion() {
				termDone = w.exceedDeadline(w.latest())
			}
		case <-termDone:
			w.finish(ctx)
			w.k.markFinished(w.uid)
			return
		}
	}
}

func (w *podWorker) waitContainers() {
	for _, c := range w.containers {
		<-c.done
	}
}
