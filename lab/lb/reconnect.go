package lb

import (
	"errors"
	"net/http"
	"syscall"
	"time"
)

// reconnectRetries bounds how long a read waits for the API server to come
// back: 600 retries 100 ms apart, one minute.
const (
	reconnectRetries  = 600
	reconnectInterval = 100 * time.Millisecond
)

// waitForAPIServer retries GET requests (the informers' lists and watches)
// whose connection was refused, every 100 ms, instead of failing them. An
// ALB controller talks to an HA control plane whose outages it hardly sees;
// the lab has one API server, and without this the informers' backoff
// (doubling from 0.8 s, with jitter) leaves the load balancer blind for up
// to tens of seconds after a restart, routing to pods long gone. With it
// the informers relist within 100 ms of the API server's return. Requests
// with a body are never retried.
type waitForAPIServer struct{ next http.RoundTripper }

func (w waitForAPIServer) RoundTrip(req *http.Request) (*http.Response, error) {
	for i := 0; ; i++ {
		resp, err := w.next.RoundTrip(req)
		if err == nil || req.Method != http.MethodGet || !errors.Is(err, syscall.ECONNREFUSED) || i >= reconnectRetries {
			return resp, err
		}
		t := time.NewTimer(reconnectInterval)
		select {
		case <-req.Context().Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}
