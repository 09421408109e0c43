package kubelet

import (
	"bufio"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	crilogs "k8s.io/cri-client/pkg/logs"
)

// maxLogLine is where a line without a newline is cut into a partial (P)
// entry, containerd's default max_container_log_line_size.
const maxLogLine = 16 * 1024

// criLog writes one container process's stdout and stderr to its log file
// in the CRI log format, as a container runtime does, so that the kubelet
// API can serve it with the upstream reader (timestamps, since, streams):
//
//	2026-12-01T11:08:12.762539137Z stdout F a whole line
//	2026-12-01T11:08:12.762539137Z stderr P the start of a long line
type criLog struct {
	mu   sync.Mutex
	f    *os.File
	wg   sync.WaitGroup
	done chan struct{} // closed when every stream has ended and f is closed
	now  func() time.Time
}

// newCRILog starts copying each named stream into f, stamping entries with
// now, and closes f once all have ended (every process holding their write
// ends is gone).
func newCRILog(f *os.File, now func() time.Time, streams map[string]io.ReadCloser) *criLog {
	l := &criLog{f: f, done: make(chan struct{}), now: now}
	for name, r := range streams {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() { _ = r.Close() }()
			l.copy(name, r)
		}()
	}
	go func() {
		l.wg.Wait()
		_ = f.Close()
		close(l.done)
	}()
	return l
}

func (l *criLog) copy(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			l.write(stream, "F", line[:len(line)-1])
		case errors.Is(err, bufio.ErrBufferFull):
			l.write(stream, "P", line)
		default: // EOF or a read error: the last line, if any, is whole
			if len(line) > 0 {
				l.write(stream, "F", line)
			}
			return
		}
	}
}

// write appends one entry; entries of both streams never interleave.
func (l *criLog) write(stream, tag string, content []byte) {
	ts := l.now().UTC().Format(crilogs.RFC3339NanoFixed)
	buf := make([]byte, 0, len(ts)+len(stream)+len(content)+5)
	buf = append(buf, ts...)
	buf = append(buf, ' ')
	buf = append(buf, stream...)
	buf = append(buf, ' ')
	buf = append(buf, tag...)
	buf = append(buf, ' ')
	buf = append(buf, content...)
	buf = append(buf, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.f.Write(buf) // a full disk loses output, as with a runtime
}

// wait waits up to d for the output to be complete: a child that left the
// process group may still hold the streams open.
func (l *criLog) wait(d time.Duration) { waitAtMost(l.done, d) }

// waitAtMost waits for done to close or d to pass.
func waitAtMost(done <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
