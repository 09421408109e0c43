package apiwait

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// flaky answers status for the first n requests, then 200.
func flaky(t *testing.T, status int, n int32) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			http.Error(w, "not ready", status)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestRetriesNotReadyAnswersOfGETs(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		srv, calls := flaky(t, status, 3)
		c := &http.Client{Transport: Wrap(http.DefaultTransport)}
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok" || calls.Load() != 4 {
			t.Errorf("status %d: got %d %q after %d calls, want 200 ok after 4", status, resp.StatusCode, body, calls.Load())
		}
	}
}

func TestDoesNotRetryOtherAnswersOrWrites(t *testing.T) {
	srv, calls := flaky(t, http.StatusInternalServerError, 1)
	c := &http.Client{Transport: Wrap(http.DefaultTransport)}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 || calls.Load() != 1 {
		t.Errorf("500: got %d after %d calls, want it passed through after 1", resp.StatusCode, calls.Load())
	}
	srv2, calls2 := flaky(t, http.StatusServiceUnavailable, 1)
	resp, err = c.Post(srv2.URL, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || calls2.Load() != 1 {
		t.Errorf("POST: got %d after %d calls, want the 503 after 1", resp.StatusCode, calls2.Load())
	}
}

func TestWaitsForARefusedServerUntilItListens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // refused until the server below listens
	done := make(chan error, 1)
	go func() {
		c := &http.Client{Transport: Wrap(&http.Transport{})}
		resp, err := c.Get("http://" + addr)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// Let a few dials be refused; the request must still be waiting.
	select {
	case err := <-done:
		t.Fatalf("returned %v while nothing listened", err)
	case <-time.After(3 * Interval):
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})}
	go srv.Serve(ln)
	defer srv.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer 10 s after the server started listening")
	}
}

func TestGivesUpWhenTheRequestIsCancelled(t *testing.T) {
	srv, _ := flaky(t, http.StatusServiceUnavailable, 1<<30)
	ctx, cancel := context.WithTimeout(context.Background(), 3*Interval)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	_, err := Wrap(http.DefaultTransport).RoundTrip(req)
	if err == nil {
		t.Fatal("no error after the context ended")
	}
}
