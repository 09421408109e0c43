package attack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type connKey struct{}

// The load counts the connections it held and the pods that answered on
// them. A server that answers each connection as one pod (an L4 front:
// the connection stays on the pod it reached) gives every connection one
// pod and none spread; one that names a pod per request in turn (an L7
// front) spreads the connections that carried more than one request. Over
// HTTP/2 one connection carries the whole load.
func TestTheLoadCountsItsConnectionsAndThePodsOnThem(t *testing.T) {
	// used counts the connections that carried a request: Go's transport
	// may dial one for a waiting request that another connection, freed
	// first, then takes, and the dialed one can stay unused to the end.
	serve := func(t *testing.T, h2 bool, podOf func(conn, req int64) string) (*httptest.Server, func() int) {
		var conns, reqs atomic.Int64
		var mu sync.Mutex
		used := map[int64]bool{}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn := r.Context().Value(connKey{}).(int64)
			mu.Lock()
			used[conn] = true
			mu.Unlock()
			// Requests overlap, so HTTP/1.1 needs several connections.
			time.Sleep(40 * time.Millisecond)
			w.Header().Set("X-Pod-Name", podOf(conn, reqs.Add(1)))
		}))
		srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, conns.Add(1))
		}
		if h2 {
			srv.Config.Protocols = new(http.Protocols)
			srv.Config.Protocols.SetUnencryptedHTTP2(true)
		}
		srv.Start()
		t.Cleanup(srv.Close)
		return srv, func() int { mu.Lock(); defer mu.Unlock(); return len(used) }
	}
	pinned := func(conn, _ int64) string { return fmt.Sprintf("pod-%d", conn%3) }
	for _, tc := range []struct {
		name   string
		h2     bool
		podOf  func(conn, req int64) string
		spread bool
	}{
		{"pinned connections, HTTP/1.1", false, pinned, false},
		{"pinned connection, HTTP/2", true, pinned, false},
		{"a front that routes each request", false, func(_, req int64) string { return fmt.Sprintf("pod-%d", req%3) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, conns := serve(t, tc.h2, tc.podOf)
			res := run(t, Config{Targets: targets(srv.URL, "/"), Rate: Rate{100, time.Second}, KeepAlive: true, HTTP2: tc.h2, PodHeader: "x-pod-name"}, 500*time.Millisecond)
			c := res.Conns
			if c == nil {
				t.Fatalf("no connections counted over %d requests", res.Requests)
			}
			if c.Opened != conns() {
				t.Errorf("%d connections counted, %d carried a request to the server", c.Opened, conns())
			}
			if tc.h2 && c.Opened != 1 || !tc.h2 && c.Opened < 2 {
				t.Errorf("HTTP/2 %t: %d connections, want 1 over HTTP/2, several over HTTP/1.1 (requests of 40 ms at 100/s)", tc.h2, c.Opened)
			}
			named := 0
			for _, n := range c.ByPod {
				named += n
			}
			if named != c.Opened {
				t.Errorf("by pod %v: %d connections, want all %d", c.ByPod, named, c.Opened)
			}
			if spread := c.Spread > 0; spread != tc.spread {
				t.Errorf("%d of %d connections spread over pods (%d requests), want spread %t", c.Spread, c.Opened, res.Requests, tc.spread)
			}
			t.Logf("%d requests: %d connections, by pod %v, %d spread", res.Requests, c.Opened, c.ByPod, c.Spread)
		})
	}
}
