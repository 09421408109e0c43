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
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	corev1conv "k8s.io/kubernetes/pkg/apis/core/v1"
)

// logFollowPoll is how often a followed log is checked for new output. The
// real kubelet waits on inotify with a 1 s fallback; polling a local file
// this often costs nothing and keeps `kubectl logs -f` prompt.
const logFollowPoll = 100 * time.Millisecond

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

// logRun is one container process's span of the container's log file: all
// runs append to one file (DIR/pods/<ns>_<pod>/<container>.log), and the
// kubelet API serves the current run, or the previous one for --previous,
// as the real kubelet serves one log file per container instance.
type logRun struct {
	start   int64
	started time.Time
	end     int64         // -1 while the process runs
	done    chan struct{} // closed once the process has exited and end is set
}

func newLogRun(start int64) *logRun {
	return &logRun{start: start, started: time.Now(), end: -1, done: make(chan struct{})}
}

// finish records the end of the run's output; the caller holds w.mu. The
// process group is dead by now, so nothing writes to the file any more.
func (r *logRun) finish(path string) {
	if r.end >= 0 {
		return
	}
	r.end = r.start
	if fi, err := os.Stat(path); err == nil {
		r.end = fi.Size()
	}
	close(r.done)
}

// logPath is the file all of the container's runs append to.
func (c *container) logPath() string { return filepath.Join(c.w.logDir, c.spec.Name+".log") }

// serveContainerLogs answers GET /containerLogs/{namespace}/{pod}/{container}
// with the query options kubectl sends (PodLogOptions): follow, tailLines,
// limitBytes, previous, and sinceSeconds/sinceTime where the answer is exact.
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
	// 400, not the kubelet's 422 for invalid options: the API server has
	// validated them already, and it passes a 400's message on to kubectl
	// (a 422's it drops).
	if err := checkLogOptions(opts); err != nil {
		httpError(rw, http.StatusBadRequest, "%v", err)
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
	if !run.coveredBy(opts) {
		httpError(rw, http.StatusBadRequest,
			"the lab's process kubelet keeps no log timestamps: --since reaching before the container started (%s) cannot be answered",
			run.started.UTC().Format(time.RFC3339))
		return
	}
	rw.Header().Set("Content-Type", "text/plain")
	if err := streamLog(r.Context(), rw, c.logPath(), run, opts); err != nil && r.Context().Err() == nil {
		k.cfg.Logf("logs of %s/%s/%s: %v", c.w.ns, c.w.name, c.spec.Name, err)
	}
}

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
	case o.Timestamps:
		return errors.New("the lab's process kubelet keeps no log timestamps: --timestamps is not supported")
	case o.Stream != nil && *o.Stream != v1.LogStreamAll:
		return errors.New("the lab's process kubelet keeps stdout and stderr in one log: only stream All is supported")
	}
	return nil
}

// coveredBy reports whether every line of the run is inside the since
// window, the only case answered without per-line timestamps.
func (r *logRun) coveredBy(o *v1.PodLogOptions) bool {
	switch {
	case o.SinceSeconds != nil:
		return !r.started.Before(time.Now().Add(-time.Duration(*o.SinceSeconds) * time.Second))
	case o.SinceTime != nil:
		return !r.started.Before(o.SinceTime.Time)
	}
	return true
}

// logRunFor returns a copy of the current or previous run, with the same
// done channel.
func (c *container) logRunFor(previous bool) (logRun, error) {
	w := c.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if previous {
		if c.prevRun == nil {
			return logRun{}, fmt.Errorf("previous terminated container %q in pod %q not found", c.spec.Name, w.name)
		}
		return *c.prevRun, nil
	}
	if c.curRun == nil {
		reason := "ContainerCreating"
		if c.state.Waiting != nil && c.state.Waiting.Reason != "" {
			reason = c.state.Waiting.Reason
		}
		return logRun{}, fmt.Errorf("container %q in pod %q is waiting to start: %s", c.spec.Name, w.name, reason)
	}
	return *c.curRun, nil
}

// streamLog writes the run's part of the log file: its last tailLines lines,
// at most limitBytes, and with follow whatever the process writes until it
// exits or ctx is done.
func streamLog(ctx context.Context, rw http.ResponseWriter, path string, run logRun, o *v1.PodLogOptions) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	end := run.end
	if end < 0 {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		end = fi.Size()
	}
	from := run.start
	if o.TailLines != nil {
		if from, err = tailStart(f, run.start, end, *o.TailLines); err != nil {
			return err
		}
	}
	out := io.Writer(rw)
	if o.LimitBytes != nil {
		out = &limitWriter{w: rw, n: *o.LimitBytes}
	}
	flush := func() { _ = http.NewResponseController(rw).Flush() }
	for {
		if end > from {
			n, err := io.Copy(out, io.NewSectionReader(f, from, end-from))
			from += n
			if errors.Is(err, errLimit) {
				return nil
			}
			if err != nil {
				return err
			}
			flush()
		}
		if !o.Follow || run.end >= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-run.done:
			// The process has exited: its output is complete at the size
			// the file has now (finish set the same).
		case <-time.After(logFollowPoll):
		}
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		end = fi.Size()
		select {
		case <-run.done:
			run.end = end
		default:
		}
		flush()
	}
}

// tailStart returns the offset of the n-th line from the end of
// [start, end); a last line without a newline counts as a line.
func tailStart(f io.ReaderAt, start, end, n int64) (int64, error) {
	if n == 0 {
		return end, nil
	}
	const chunk = 32 << 10
	buf := make([]byte, chunk)
	pos := end
	lines := int64(0)
	skipLast := true // the newline ending the last line starts no line
	for pos > start {
		size := min(int64(chunk), pos-start)
		pos -= size
		if _, err := f.ReadAt(buf[:size], pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		b := buf[:size]
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				skipLast = false
				continue
			}
			if skipLast {
				skipLast = false
				continue
			}
			lines++
			if lines == n {
				return pos + int64(i) + 1, nil
			}
		}
	}
	return start, nil
}

var errLimit = errors.New("limitBytes reached")

// limitWriter passes on at most n bytes, then fails with errLimit.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errLimit
	}
	short := int64(len(p)) > l.n
	if short {
		p = p[:l.n]
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	if err == nil && short {
		err = errLimit
	}
	return n, err
}
