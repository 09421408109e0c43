// Package apiwait makes the lab's own API clients (the load balancer, the
// process kubelet) ride out an API server restart as clients of a highly
// available control plane do: there, another API server answers while one
// restarts, so informers hardly see an outage. The lab has one API server,
// and client-go's reflectors back off after each failed list (doubling from
// 0.8 s, with jitter, up to 30 s), which leaves a component blind for tens
// of seconds after a 3 s restart.
package apiwait

import (
	"errors"
	"io"
	"net/http"
	"syscall"
	"time"
)

// Retries and Interval bound how long a request waits for the API server
// to come back: 600 retries 100 ms apart, one minute.
const (
	Retries  = 600
	Interval = 100 * time.Millisecond
)

// Wrap returns a RoundTripper that retries GET requests (the informers'
// lists and watches) every Interval while the API server refuses the
// connection or answers 503 (not ready yet: it listens before its storage
// and post-start hooks are ready) or 429 (its storage is initialising),
// instead of failing them. Requests with a body are never retried.
func Wrap(next http.RoundTripper) http.RoundTripper { return transport{next} }

type transport struct{ next http.RoundTripper }

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	for i := 0; ; i++ {
		resp, err := t.next.RoundTrip(req)
		if req.Method != http.MethodGet || i >= Retries || !retriable(resp, err) {
			return resp, err
		}
		if resp != nil {
			// Drain a little so the connection can be reused, then drop it.
			_, _ = io.CopyN(io.Discard, resp.Body, 4096)
			resp.Body.Close()
		}
		tm := time.NewTimer(Interval)
		select {
		case <-req.Context().Done():
			tm.Stop()
			if err == nil {
				err = req.Context().Err()
			}
			return nil, err
		case <-tm.C:
		}
	}
}

func retriable(resp *http.Response, err error) bool {
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	return resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests
}
