package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/util/flushwriter"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	crilogs "k8s.io/cri-client/pkg/logs"
	corev1conv "k8s.io/kubernetes/pkg/apis/core/v1"
)

// logDrain bounds how long a container's exit waits for the last of its
// output to reach the log (a child that left its process group may hold
// the output open).
const logDrain = 2 * time.Second

// logOptionsCodec decodes the query of a containerLogs request with the
// API's own conversion, as the kubelet does (it uses the whole legacy scheme;
// PodLogOptions is all this needs).
var logOptionsCodec = func() runtime.ParameterCodec {
	s := runtime.NewScheme()
	s.AddKnownTypes(v1.SchemeGroupVersion, &v1.PodLogOptions{})
	utilruntime.Must(s.AddConversionFunc((*url.Values)(nil), (*v1.PodLogOptions)(nil), func(a, b any, scope conversion.Scope) error {
		return corev1conv.Convert_url_Values_To_v1_PodLogOptions(a.(*url.Values), b.(*v1.PodLogOptions), scope)
	}))
	return runtime.NewParameterCodec(s)
}()

// logRun is one container process's log file. As with a real kubelet and
// runtime, each run of a container writes its own file in the CRI log
// format, DIR/pods/<ns>_<pod>/<container>/<restartCount>.log; the current
// and the previous run's files are kept.
type logRun struct {
	path string
	done chan struct{} // closed once the process has exited and its output is in the file
}

func newLogRun(path string) *logRun { return &logRun{path: path, done: make(chan struct{})} }

func (r *logRun) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// logDir is the directory of the container's log files.
func (c *container) logDir() string { return filepath.Join(c.w.logDir, c.spec.Name) }

// openRunLog creates the log file of the container's next run and removes
// the one before the previous run's.
func (c *container) openRunLog() (*os.File, string, error) {
	w := c.w
	w.mu.Lock()
	n := c.restarts
	if c.pendingRestart {
		n++
	}
	var stale string
	if c.prevRun != nil {
		stale = c.prevRun.path
	}
	w.mu.Unlock()
	if err := os.MkdirAll(c.logDir(), 0o755); err != nil {
		return nil, "", fmt.Errorf("create log dir: %w", err)
	}
	path := filepath.Join(c.logDir(), strconv.Itoa(int(n))+".log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("open log: %w", err)
	}
	if stale != "" && stale != path {
		_ = os.Remove(stale)
	}
	return f, path, nil
}

// serveContainerLogs answers GET /containerLogs/{namespace}/{pod}/{container}
// with the query options kubectl sends (PodLogOptions: follow, tailLines,
// limitBytes, sinceSeconds, sinceTime, timestamps, previous, stream),
// reading the log with the kubelet's own CRI log reader.
func (k *Kubelet) serveContainerLogs(rw http.ResponseWriter, r *http.Request) {
	query := r.URL.Query()
	// The kubelet still accepts the old "tail" parameter; "all" means no tail.
	if tail := query.Get("tail"); tail != "" {
		query.Del("tail")
		if tail != "all" {
			query.Set("tailLines", tail)
		}
	}
	opts := &v1.PodLogOptions{}
	if err := logOptionsCodec.DecodeParameters(query, v1.SchemeGroupVersion, opts); err != nil {
		httpError(rw, http.StatusBadRequest, "decode log options: %v", err)
		return
	}
	if err := checkLogOptions(opts); err != nil {
		httpError(rw, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	c, code, err := k.findContainer(r.PathValue("namespace"), r.PathValue("pod"), "", r.PathValue("container"))
	if err != nil {
		httpError(rw, code, "%v", err)
		return
	}
	run, err := c.logRunFor(opts.Previous)
	if err != nil {
		httpError(rw, http.StatusBadRequest, "%v", err)
		return
	}
	fw := flushwriter.Wrap(rw)
	stdout, stderr := io.Writer(fw), io.Writer(fw)
	if opts.Stream != nil {
		switch *opts.Stream {
		case v1.LogStreamStdout:
			stderr = io.Discard
		case v1.LogStreamStderr:
			stdout = io.Discard
		}
	}
	rw.Header().Set("Content-Type", "text/plain")
	err = crilogs.ReadLogs(r.Context(), nil, run.path, run.path, crilogs.NewLogOptions(opts, time.Now()), runState{run: run}, stdout, stderr)
	if err != nil && r.Context().Err() == nil {
		k.cfg.Logf("logs of %s/%s/%s: %v", c.w.ns, c.w.name, c.spec.Name, err)
	}
}

// checkLogOptions refuses what the API server's validation would; the API
// server checks before it calls, so this guards direct callers.
func checkLogOptions(o *v1.PodLogOptions) error {
	switch {
	case o.TailLines != nil && *o.TailLines < 0:
		return errors.New("tailLines must be a non-negative integer")
	case o.LimitBytes != nil && *o.LimitBytes < 1:
		return errors.New("limitBytes must be a positive integer")
	case o.SinceSeconds != nil && *o.SinceSeconds < 1:
		return errors.New("sinceSeconds must be a positive integer")
	case o.SinceSeconds != nil && o.SinceTime != nil:
		return errors.New("at most one of sinceTime or sinceSeconds may be specified")
	case o.Stream != nil && *o.Stream != v1.LogStreamAll && *o.Stream != v1.LogStreamStdout && *o.Stream != v1.LogStreamStderr:
		return fmt.Errorf("invalid stream %q", *o.Stream)
	}
	return nil
}

// logRunFor returns the current or the previous run, with the kubelet's
// messages when there is none.
func (c *container) logRunFor(previous bool) (*logRun, error) {
	w := c.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if previous {
		if c.prevRun == nil {
			return nil, fmt.Errorf("previous terminated container %q in pod %q not found", c.spec.Name, w.name)
		}
		return c.prevRun, nil
	}
	if c.curRun == nil {
		reason := "ContainerCreating"
		if c.state.Waiting != nil && c.state.Waiting.Reason != "" {
			reason = c.state.Waiting.Reason
		}
		return nil, fmt.Errorf("container %q in pod %q is waiting to start: %s", c.spec.Name, w.name, reason)
	}
	return c.curRun, nil
}

// runState answers the one runtime call ReadLogs makes while following a
// log: whether the container still runs. Once it does not, ReadLogs reads
// to the end of the file and returns.
type runState struct {
	internalapi.RuntimeService // nil: no other method is called
	run                        *logRun
}

func (s runState) ContainerStatus(_ context.Context, id string, _ bool) (*runtimeapi.ContainerStatusResponse, error) {
	state := runtimeapi.ContainerState_CONTAINER_RUNNING
	if s.run.finished() {
		state = runtimeapi.ContainerState_CONTAINER_EXITED
	}
	return &runtimeapi.ContainerStatusResponse{Status: &runtimeapi.ContainerStatus{Id: id, State: state}}, nil
}
