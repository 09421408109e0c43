package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs the app in-process and returns its base URL, the signal channel
// and a channel with Run's result.
func start(t *testing.T, o Options) (string, chan os.Signal, chan error) {
	t.Helper()
	addr := make(chan string, 1)
	o.OnListen = func(a string) { addr <- a }
	if o.PodName == "" {
		o.PodName = "web-1"
	}
	if o.Stderr == nil {
		o.Stderr = &syncBuf{}
	}
	if o.Shutdown == "" {
		o.Shutdown = ShutdownGraceful
	}
	sigs := make(chan os.Signal, 1)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { done <- Run(ctx, o, sigs) }()
	select {
	case a := <-addr:
		return "http://" + a, sigs, done
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("app did not listen")
	}
	return "", nil, nil
}

func client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

func TestServesPodHeaders(t *testing.T) {
	url, _, _ := start(t, Options{Version: "v2", ReadyOnSIGTERM: true})
	resp, err := client().Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Pod-Name") != "web-1" || resp.Header.Get("X-App-Version") != "v2" {
		t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
	}
	if !strings.Contains(string(body), "web-1") {
		t.Fatalf("body %q does not name the pod", body)
	}
}

// Past its capacity the app sheds / with 503 naming its pod; its probe
// still answers (an overloaded pod stays ready), and the shed load comes
// back as the capacity refills.
func TestCapacityShedsTheRestWith503(t *testing.T) {
	url, _, _ := start(t, Options{Capacity: 20, ReadyOnSIGTERM: true})
	c := client()
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := c.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	ok, shed := 0, 0
	for range 30 {
		resp := get("/")
		switch resp.StatusCode {
		case 200:
			ok++
		case 503:
			shed++
			if resp.Header.Get("X-Pod-Name") != "web-1" {
				t.Errorf("a 503 without the pod's name: %v", resp.Header)
			}
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// 30 requests in far less than the 1.5 s 20/s would take: a burst
	// of 10 (half a second's worth), a few more as tokens come, and the
	// rest shed.
	if ok < 10 || shed < 15 {
		t.Fatalf("%d answered, %d shed, want 10 or a few more answered and the rest shed", ok, shed)
	}
	if resp := get("/healthz"); resp.StatusCode != 200 {
		t.Fatalf("probe %d while overloaded, want 200", resp.StatusCode)
	}
	time.Sleep(150 * time.Millisecond)
	if resp := get("/"); resp.StatusCode != 200 {
		t.Fatalf("status %d after 150 ms at 20/s, want 200", resp.StatusCode)
	}
}

func TestGracefulShutdownFinishesInFlightRequest(t *testing.T) {
	url, sigs, done := start(t, Options{Shutdown: ShutdownGraceful, Latency: 500 * time.Millisecond, ReadyOnSIGTERM: true})
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := client().Get(url + "/")
		if err != nil {
			res <- result{err: err}
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		res <- result{code: resp.StatusCode}
	}()
	time.Sleep(150 * time.Millisecond) // let the request reach the handler
	sigs <- syscall.SIGTERM
	r := <-res
	if r.err != nil || r.code != 200 {
		t.Fatalf("in-flight request: code %d err %v, want 200", r.code, r.err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v, want nil (exit 0)", err)
	}
	if _, err := client().Get(url + "/"); err == nil {
		t.Fatal("request after shutdown succeeded, want connection refused")
	}
}

func TestImmediateShutdownRefusesAfterSIGTERM(t *testing.T) {
	url, sigs, done := start(t, Options{Shutdown: ShutdownImmediate, ReadyOnSIGTERM: true})
	if resp, err := client().Get(url + "/"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	sigs <- syscall.SIGTERM
	if err := <-done; !errors.Is(err, ErrKilled) {
		t.Fatalf("Run: %v, want ErrKilled", err)
	}
	_, err := client().Get(url + "/")
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("after SIGTERM: err %v, want connection refused", err)
	}
}

func TestDrainKeepsServingAndFlipsReadiness(t *testing.T) {
	url, sigs, done := start(t, Options{Shutdown: ShutdownGraceful, Drain: 400 * time.Millisecond, ReadyOnSIGTERM: false})
	sigs <- syscall.SIGTERM
	time.Sleep(100 * time.Millisecond)
	get := func(path string) int {
		resp, err := client().Get(url + path)
		if err != nil {
			t.Fatalf("GET %s during drain: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("/"); c != 200 {
		t.Fatalf("/ during drain: %d, want 200", c)
	}
	if c := get("/healthz"); c != 500 {
		t.Fatalf("/healthz during drain with --ready-on-sigterm=false: %d, want 500", c)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("app did not shut down after the drain")
	}
}

// With --drain-close, a kept connection gets Connection: close on its
// next response once SIGTERM arrived, and the client does not reuse it.
func TestDrainCloseEndsKeptConnections(t *testing.T) {
	url, sigs, done := start(t, Options{Shutdown: ShutdownGraceful, Drain: time.Second, DrainClose: true, ReadyOnSIGTERM: true})
	var conns []string
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conns = append(conns, i.Conn.LocalAddr().String()) }}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	get := func() *http.Response {
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, url+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := get(); r.Close {
		t.Fatal("Connection: close before SIGTERM")
	}
	sigs <- syscall.SIGTERM
	deadline := time.Now().Add(900 * time.Millisecond)
	for r := get(); !r.Close; r = get() {
		if time.Now().After(deadline) {
			t.Fatal("no Connection: close while draining")
		}
	}
	get()
	if n := len(conns); n < 3 || conns[0] != conns[1] || conns[n-1] == conns[n-2] {
		t.Errorf("connections %v: want the first two on one kept connection, and the request after Connection: close on a new one", conns)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestIgnoreSIGTERMKeepsRunning(t *testing.T) {
	url, sigs, done := start(t, Options{IgnoreSIGTERM: true, ReadyOnSIGTERM: true})
	sigs <- syscall.SIGTERM
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Run returned %v, want it to keep running", err)
	default:
	}
	resp, err := client().Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestSlowStartRefusesUntilListening(t *testing.T) {
	began := time.Now()
	_, _, _ = start(t, Options{Startup: 300 * time.Millisecond, ReadyOnSIGTERM: true})
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Fatalf("listened after %s, want >= 300ms", d)
	}
}

// The app speaks h2c beside HTTP/1.1. Draining with --drain-close, a
// stream's response makes it send GOAWAY, so the client's next request
// opens a new connection (through kube-proxy, to a ready pod).
func TestH2CDrainCloseSendsGOAWAY(t *testing.T) {
	url, sigs, _ := start(t, Options{Shutdown: ShutdownGraceful, Drain: 2 * time.Second, DrainClose: true, ReadyOnSIGTERM: true})
	var conns []string
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conns = append(conns, i.Conn.LocalAddr().String()) }}
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	c := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	get := func() {
		t.Helper()
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, url+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
			t.Fatalf("%s %d, want HTTP/2 200", resp.Proto, resp.StatusCode)
		}
	}
	get()
	get()
	sigs <- syscall.SIGTERM
	time.Sleep(100 * time.Millisecond)
	get() // answered, with GOAWAY after it
	get() // on a new connection
	if len(conns) != 4 || conns[0] != conns[1] || conns[2] != conns[1] || conns[3] == conns[2] {
		t.Fatalf("connections %v: want one kept until the GOAWAY, then a new one", conns)
	}
}

// With --upstream the app is a proxy in front of another: the app's
// answer, pod header and all, passes through; the proxy's own 502, once
// the app is gone, names no pod. Stopped at once, it refuses while the app
// behind still serves.
func TestUpstreamProxiesAndAnswers502WithoutThePod(t *testing.T) {
	appURL, appSigs, appDone := start(t, Options{PodName: "web-1", Shutdown: ShutdownGraceful, ReadyOnSIGTERM: true})
	proxyURL, proxySigs, proxyDone := start(t, Options{PodName: "web-1-proxy", Shutdown: ShutdownImmediate, Upstream: strings.TrimPrefix(appURL, "http://")})
	get := func(url string) (*http.Response, error) {
		resp, err := client().Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	for _, path := range []string{"/", "/healthz"} {
		resp, err := get(proxyURL + path)
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Pod-Name") != "web-1" {
			t.Fatalf("%s through the proxy: %v %+v, want 200 from web-1", path, err, resp)
		}
	}
	appSigs <- syscall.SIGTERM
	if err := <-appDone; err != nil {
		t.Fatalf("app: %v", err)
	}
	resp, err := get(proxyURL + "/")
	if err != nil || resp.StatusCode != http.StatusBadGateway || resp.Header.Get("X-Pod-Name") != "" {
		t.Fatalf("the app gone: %v %+v, want the proxy's 502 naming no pod", err, resp)
	}
	proxySigs <- syscall.SIGTERM
	if err := <-proxyDone; !errors.Is(err, ErrKilled) {
		t.Fatalf("proxy: %v, want ErrKilled", err)
	}
	if _, err := get(proxyURL + "/"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("the proxy stopped: err %v, want connection refused", err)
	}
}
