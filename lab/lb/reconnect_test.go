package lb

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWaitForAPIServer: a GET to an address that refuses connections is
// retried until a server listens there; a POST fails at once; a cancelled
// request stops waiting.
func TestWaitForAPIServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // refused until the server below listens
	rt := waitForAPIServer{next: &http.Transport{}}

	post, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader("x"))
	if _, err := rt.RoundTrip(post); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("POST: %v, want connection refused at once", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	get, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if _, err := rt.RoundTrip(get); !errors.Is(err, syscall.ECONNREFUSED) || ctx.Err() == nil {
		t.Fatalf("cancelled GET: %v (ctx %v), want refused after the context ended", err, ctx.Err())
	}

	served := make(chan struct{})
	go func() {
		// The server comes back a few retries later.
		time.Sleep(3 * reconnectInterval)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			close(served)
			return
		}
		close(served)
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	}()
	get, _ = http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	resp, err := rt.RoundTrip(get)
	<-served
	if err != nil {
		t.Fatalf("GET: %v, want it answered once the server is back", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot {
		t.Errorf("status %d", resp.StatusCode)
	}
}
