package attack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// run attacks for d and returns the result.
func run(t *testing.T, cfg Config, d time.Duration) *Result {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	a.Start(t.Context())
	time.Sleep(d)
	return a.Stop()
}

func targets(base string, paths ...string) []Target {
	out := make([]Target, len(paths))
	for i, p := range paths {
		out[i] = Target{Method: http.MethodGet, URL: base + p}
	}
	return out
}

func TestAttackCountsResponsesByClass(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		w.Header().Set("X-Pod-Name", "pod-"+name)
		code := http.StatusOK
		if n, err := strconv.Atoi(name); err == nil {
			code = n
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)

	res := run(t, Config{
		Targets:   targets(srv.URL, "/ok", "/502", "/503", "/504"),
		Rate:      Rate{100, time.Second},
		KeepAlive: true,
		PodHeader: "X-Pod-Name",
	}, 600*time.Millisecond)

	if res.Requests < 8 {
		t.Fatalf("only %d requests in 600ms at 100/s", res.Requests)
	}
	t.Run("round robin over four targets gives four near-equal classes", func(t *testing.T) {
		sum := 0
		for _, c := range []Class{ClassOK, Class502, Class503, Class504} {
			n := res.ByClass[c]
			sum += n
			if n < res.Requests/4 || n > res.Requests/4+1 {
				t.Errorf("%s: %d of %d requests", c, n, res.Requests)
			}
		}
		if sum != res.Requests {
			t.Errorf("classes sum to %d, want %d: %v", sum, res.Requests, res.ByClass)
		}
		if res.Failures != res.Requests-res.ByClass[ClassOK] {
			t.Errorf("failures %d, want %d", res.Failures, res.Requests-res.ByClass[ClassOK])
		}
	})
	t.Run("failure records name the pod and match the URL", func(t *testing.T) {
		if len(res.FailureList) != res.Failures || res.Dropped != 0 {
			t.Fatalf("%d records, %d dropped, %d failures", len(res.FailureList), res.Dropped, res.Failures)
		}
		for _, f := range res.FailureList {
			want := string(f.Class)
			if f.Pod != "pod-"+want || !strings.HasSuffix(f.URL, "/"+want) || strconv.Itoa(int(f.Code)) != want {
				t.Errorf("failure record %+v", f)
			}
			if f.Time.Before(res.Start) || f.Time.After(res.End) {
				t.Errorf("failure at %s outside the attack [%s, %s]", f.Time, res.Start, res.End)
			}
		}
	})
	t.Run("buckets add up to the totals", func(t *testing.T) {
		total, ok, pods := 0, 0, 0
		for i, b := range res.Buckets {
			if want := res.Start.Add(time.Duration(i) * res.BucketWidth); !b.Start.Equal(want) {
				t.Errorf("bucket %d starts at %s, want %s", i, b.Start, want)
			}
			total += b.Total
			ok += b.OK
			for _, n := range b.Pods {
				pods += n
			}
		}
		if total != res.Requests || ok != res.ByClass[ClassOK] || pods != ok {
			t.Errorf("buckets: total %d ok %d pods %d; result: %d requests, %d ok", total, ok, pods, res.Requests, res.ByClass[ClassOK])
		}
		if res.BucketWidth != DefaultBucketWidth || len(res.Buckets) > 8 {
			t.Errorf("%d buckets of %s for 600ms", len(res.Buckets), res.BucketWidth)
		}
	})
	t.Run("the serving pod's first and last requests are known", func(t *testing.T) {
		first, last := res.FirstByPod["pod-ok"], res.LastByPod["pod-ok"]
		if first.IsZero() || last.Before(first) || len(res.LastByPod) != 1 {
			t.Errorf("first %v last %v", res.FirstByPod, res.LastByPod)
		}
	})
	t.Run("rates and latencies are filled in", func(t *testing.T) {
		if res.Rate != 100 || res.AchievedRate <= 0 || res.AchievedRate > 120 {
			t.Errorf("rate %g achieved %g", res.Rate, res.AchievedRate)
		}
		if res.P50 <= 0 || res.P50 > res.P95 || res.P95 > res.P99 || res.P99 > res.Max {
			t.Errorf("p50 %s p95 %s p99 %s max %s", res.P50, res.P95, res.P99, res.Max)
		}
	})
}

// hijack takes the connection away from the server; the handler then owns it.
func hijack(t *testing.T, w http.ResponseWriter) net.Conn {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return nil
	}
	return conn
}

func TestAttackClassifiesTransportErrors(t *testing.T) {
	closedPort := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr
	}
	serve := func(h http.HandlerFunc) func(t *testing.T) string {
		return func(t *testing.T) string {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h(w, r.WithContext(context.WithValue(r.Context(), releaseKey{}, release)))
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(release) }) // runs first: frees hanging handlers
			return srv.URL
		}
	}

	tests := []struct {
		name    string
		target  func(t *testing.T) string
		timeout time.Duration
		want    Class
	}{
		{
			name: "a server that resets connections yields reset",
			target: serve(func(w http.ResponseWriter, r *http.Request) {
				if c := hijack(t, w); c != nil {
					c.(*net.TCPConn).SetLinger(0) // close sends RST
					c.Close()
				}
			}),
			want: ClassReset,
		},
		{
			name: "a server that closes connections without answering yields eof",
			target: serve(func(w http.ResponseWriter, r *http.Request) {
				if c := hijack(t, w); c != nil {
					c.Close()
				}
			}),
			want: ClassEOF,
		},
		{
			name: "a server that hangs past the timeout yields timeout",
			target: serve(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-r.Context().Value(releaseKey{}).(chan struct{}):
				case <-time.After(5 * time.Second):
				}
			}),
			timeout: 200 * time.Millisecond,
			want:    ClassTimeout,
		},
		{
			name:   "a port nobody listens on yields refused",
			target: closedPort,
			want:   ClassRefused,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, Config{
				Targets:   targets(tc.target(t), "/x"),
				Rate:      Rate{20, time.Second},
				Timeout:   tc.timeout,
				KeepAlive: true,
			}, 300*time.Millisecond)
			if res.Requests < 2 {
				t.Fatalf("only %d requests", res.Requests)
			}
			if res.ByClass[tc.want] != res.Requests || res.Failures != res.Requests {
				t.Errorf("by class %v of %d requests, want all %s; first failure: %+v", res.ByClass, res.Requests, tc.want, res.FailureList[0])
			}
			for _, f := range res.FailureList {
				if f.Class != tc.want || f.Code != 0 || f.Error == "" || f.Reused {
					t.Errorf("failure record %+v", f)
				}
				if tc.timeout > 0 && f.Latency < tc.timeout {
					t.Errorf("timeout after %s, before the %s timeout", f.Latency, tc.timeout)
				}
			}
		})
	}
}

type releaseKey struct{}

func TestAttackRecordsReusedConnections(t *testing.T) {
	tests := []struct {
		name       string
		keepAlive  bool
		wantReused bool
		wantConns  int64 // 0: one per request
	}{
		{"with keep-alive, failures after the first request went over a reused connection", true, true, 1},
		{"without keep-alive, no failure went over a reused connection", false, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var served, conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Pod-Name", "pod-a")
				if served.Add(1) > 2 {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)

			res := run(t, Config{
				Targets:    targets(srv.URL, "/"),
				Rate:       Rate{20, time.Second},
				KeepAlive:  tc.keepAlive,
				MaxWorkers: 1, // one request at a time: one connection suffices
				PodHeader:  "x-pod-name",
			}, 400*time.Millisecond)

			if res.Failures < 2 || res.ByClass[ClassOK] != 2 || res.ByClass[Class503] != res.Failures {
				t.Fatalf("by class %v", res.ByClass)
			}
			for _, f := range res.FailureList {
				if f.Reused != tc.wantReused || f.Pod != "pod-a" {
					t.Errorf("failure record %+v, want reused %v", f, tc.wantReused)
				}
			}
			want := tc.wantConns
			if want == 0 {
				want = int64(res.Requests)
			}
			if got := conns.Load(); got != want {
				t.Errorf("%d connections for %d requests, want %d", got, res.Requests, want)
			}
		})
	}
}

func TestStop(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	cfg := Config{Targets: targets(srv.URL, "/"), Rate: Rate{50, time.Second}, KeepAlive: true}

	t.Run("stop after the context is cancelled returns the same result every time", func(t *testing.T) {
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		a.Start(ctx)
		time.Sleep(200 * time.Millisecond)
		cancelAt := time.Now()
		cancel()
		// The requests in flight at the cancel finish and count; then the
		// load has ended (a.done), and nothing more is sent or counted.
		select {
		case <-a.done:
		case <-time.After(5 * time.Second):
			t.Fatal("the load did not end after cancel")
		}
		doneAt := time.Now()
		before := a.Snapshot()
		// The halt waits for no request: it comes as soon as the goroutine
		// watching the context runs, which on a loaded machine under -race
		// can take a while (CI saw 180 ms), never a second.
		if a.end.Before(cancelAt) || a.end.After(cancelAt.Add(time.Second)) {
			t.Errorf("the load was halted %s after the cancel", a.end.Sub(cancelAt))
		}
		r1 := a.Stop()
		if r2 := a.Stop(); r1 != r2 {
			t.Error("a second Stop returned a different result")
		}
		if r1.Requests == 0 || r1.Requests != before.Requests {
			t.Errorf("%d requests, snapshot said %d", r1.Requests, before.Requests)
		}
		// The end is the halt, or the last request whose tick came before
		// it: never before the cancel, never after the load was done.
		if r1.End.Before(cancelAt) || r1.End.After(doneAt) {
			t.Errorf("the attack ended %s after start, cancel came at %s, the load was done at %s",
				r1.End.Sub(r1.Start), cancelAt.Sub(r1.Start), doneAt.Sub(r1.Start))
		}
		if r1.MaxDurationReached {
			t.Error("MaxDurationReached is set for a cancelled attack")
		}
	})
	t.Run("stop before start returns an empty result and start after stop does nothing", func(t *testing.T) {
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		res := a.Stop()
		if res == nil || res.Requests != 0 {
			t.Fatalf("Stop before Start = %+v", res)
		}
		a.Start(t.Context())
		time.Sleep(100 * time.Millisecond)
		if s := a.Snapshot(); s.Requests != 0 {
			t.Errorf("Start after Stop sent %d requests", s.Requests)
		}
	})
	t.Run("concurrent stops and snapshots are safe", func(t *testing.T) {
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		a.Start(t.Context())
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				last := 0
				for range 20 {
					s := a.Snapshot()
					if s.Failures > s.Requests || s.Requests < last {
						t.Errorf("inconsistent snapshot %+v after %d requests", s, last)
					}
					last = s.Requests
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
		time.Sleep(100 * time.Millisecond)
		results := make(chan *Result, 2)
		for range 2 {
			wg.Go(func() { results <- a.Stop() })
		}
		wg.Wait()
		if r1, r2 := <-results, <-results; r1 != r2 {
			t.Error("concurrent Stops returned different results")
		}
	})
}

func TestMaxDurationEndsTheLoad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	res := run(t, Config{
		Targets:     targets(srv.URL, "/"),
		Rate:        Rate{50, time.Second},
		MaxDuration: 200 * time.Millisecond,
	}, 500*time.Millisecond)
	if !res.MaxDurationReached {
		t.Error("MaxDurationReached is not set")
	}
	// The end is the cap, or a request whose tick came before it and
	// started late on a loaded machine; never the Stop at 500ms.
	if d := res.End.Sub(res.Start); d < 200*time.Millisecond || d >= 500*time.Millisecond {
		t.Errorf("duration %s, want the 200ms cap", d)
	}
	if res.Requests > 12 {
		t.Errorf("%d requests, want at most ~10 in 200ms at 50/s", res.Requests)
	}
}

func TestResultsWriterGetsEveryVegetaResult(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	t.Cleanup(srv.Close)
	var buf bytes.Buffer
	a, err := New(Config{Targets: targets(srv.URL, "/", "/bad"), Rate: Rate{50, time.Second}, ResultsWriter: &buf})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(t.Context())
	time.Sleep(300 * time.Millisecond)
	res := a.Stop()
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	dec := vegeta.NewDecoder(&buf)
	n, bad := 0, 0
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding result %d: %v", n, err)
		}
		n++
		if r.Code == 502 {
			bad++
		}
	}
	if n != res.Requests || bad != res.ByClass[Class502] || n < 4 {
		t.Errorf("decoded %d results (%d 502s), attack counted %d (%d)", n, bad, res.Requests, res.ByClass[Class502])
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestResultsWriterErrorsDoNotStopTheLoad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	a, err := New(Config{Targets: targets(srv.URL, "/"), Rate: Rate{50, time.Second}, ResultsWriter: failingWriter{}})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(t.Context())
	time.Sleep(200 * time.Millisecond)
	res := a.Stop()
	if err := a.Err(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Err() = %v, want the write error", err)
	}
	if res.Requests < 4 || res.ByClass[ClassOK] != res.Requests {
		t.Errorf("by class %v of %d", res.ByClass, res.Requests)
	}
}

func TestNew(t *testing.T) {
	ok := Config{Targets: targets("http://127.0.0.1:1", "/"), Rate: Rate{10, time.Second}}
	with := func(f func(*Config)) Config {
		c := ok
		f(&c)
		return c
	}
	bad := []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"no targets is an error", with(func(c *Config) { c.Targets = nil }), "no targets"},
		{"a zero rate is an error", with(func(c *Config) { c.Rate = Rate{} }), "rate"},
		{"a negative period is an error", with(func(c *Config) { c.Rate = Rate{10, -time.Second} }), "rate"},
		{"a negative timeout is an error", with(func(c *Config) { c.Timeout = -time.Second }), "timeout"},
		{"a method with a space is an error", with(func(c *Config) { c.Targets = []Target{{Method: "GE T", URL: "http://h/"}} }), "method"},
		{"a target without scheme is an error", with(func(c *Config) { c.Targets = []Target{{URL: "h:80/"}} }), "target 1"},
		{"a negative failure cap is an error", with(func(c *Config) { c.MaxFailures = -1 }), "max failures"},
		{"buckets too fine for the max duration are an error", with(func(c *Config) { c.BucketWidth = time.Millisecond }), "too fine"},
		{"a bad pod header is an error", with(func(c *Config) { c.PodHeader = "X Pod" }), "pod header"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("New = %v, want an error mentioning %q", err, tc.msg)
			}
		})
	}

	defaults := []struct {
		name        string
		rate        Rate
		timeout     time.Duration
		wantWorkers uint64
	}{
		{"workers cover rate times timeout", Rate{200, time.Second}, 0, 6010},
		{"workers are at least the minimum", Rate{1, time.Second}, time.Second, MinWorkers},
		{"workers are capped", Rate{5000, time.Second}, 0, MaxWorkersCap},
	}
	for _, tc := range defaults {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(with(func(c *Config) { c.Rate, c.Timeout = tc.rate, tc.timeout }))
			if err != nil {
				t.Fatal(err)
			}
			c := a.Config()
			if c.MaxWorkers != tc.wantWorkers {
				t.Errorf("MaxWorkers = %d, want %d", c.MaxWorkers, tc.wantWorkers)
			}
			if c.BucketWidth != DefaultBucketWidth || c.MaxFailures != DefaultMaxFailures ||
				c.MaxDuration != DefaultMaxDuration || c.Timeout <= 0 {
				t.Errorf("defaults not applied: %+v", c)
			}
		})
	}
	t.Run("an empty method means GET", func(t *testing.T) {
		a, err := New(with(func(c *Config) { c.Targets = []Target{{URL: "http://h/"}} }))
		if err != nil || a.targets[0].Method != http.MethodGet {
			t.Errorf("New = %v, method %q", err, a.targets[0].Method)
		}
	})
}

// A real attack: the heap kept after a run at 10x the rate (10x the requests
// in the same time, so the same buckets) is within a small bound of the slow
// run's.
func TestHeapOfARealAttackDoesNotGrowWithRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two 1s attacks")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pod-Name", "pod-a")
	}))
	t.Cleanup(srv.Close)
	grow := func(rate int) (uint64, *Result) {
		before := heapInUse()
		res := run(t, Config{Targets: targets(srv.URL, "/"), Rate: Rate{rate, time.Second}, KeepAlive: true, PodHeader: "X-Pod-Name"}, time.Second)
		after := heapInUse()
		if after < before {
			return 0, res
		}
		return after - before, res
	}
	slow, slowRes := grow(100)
	fast, fastRes := grow(1000)
	t.Logf("heap growth: %d requests %d KiB, %d requests %d KiB", slowRes.Requests, slow/1024, fastRes.Requests, fast/1024)
	if fastRes.Requests < 3*slowRes.Requests {
		// Starved (CI run ci27: 610 of 1000, beside the other packages'
		// tests under -race), the load spawns workers to catch up, whose
		// stacks and buffers are in the heap: that growth is the rate
		// missed, not the requests counted.
		t.Skipf("the fast run reached only %d requests (machine busy): the heap measures its catch-up workers", fastRes.Requests)
	}
	const slack = 2 << 20
	if fast > slow+slack {
		t.Errorf("heap after %d requests (%d KiB) exceeds heap after %d (%d KiB) by more than %d KiB",
			fastRes.Requests, fast/1024, slowRes.Requests, slow/1024, slack/1024)
	}
}

// stockAndOurs returns http.Client with its own Timeout over a plain
// transport, and the client an attack with the same timeout gives vegeta.
func stockAndOurs(t *testing.T, url string, timeout time.Duration) (stock, ours *http.Client) {
	t.Helper()
	a, err := New(Config{Targets: targets(url, "/"), Rate: Rate{1, time.Second}, Timeout: timeout, KeepAlive: true})
	if err != nil {
		t.Fatal(err)
	}
	ours = a.streams[0].newClient(a.cfg, a.tls)
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		a.streams[0].transport.CloseIdleConnections()
	})
	return &http.Client{Transport: tr, Timeout: timeout}, ours
}

// get sends a GET as vegeta does (with a sequence number) and reads the
// body; it returns the first error.
func get(client *http.Client, url string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set(seqHeader, "7")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return err
}

// The tracker enforces the timeout in place of http.Client.Timeout; vegeta
// keeps only the error's text, so the text must be the client's, word for
// word, wherever the timeout strikes.
func TestClientTimeoutErrorsMatchHTTPClient(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"before the response headers", hang},
		{"while reading the body", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			hang(w, r)
		}},
		{"after a redirect", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/" {
				http.Redirect(w, r, "/next", http.StatusFound)
				return
			}
			hang(w, r)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			stock, ours := stockAndOurs(t, srv.URL, 100*time.Millisecond)
			want := get(stock, srv.URL+"/")
			got := get(ours, srv.URL+"/")
			if want == nil || got == nil {
				t.Fatalf("errors: stock client %v, ours %v", want, got)
			}
			if got.Error() != want.Error() {
				t.Errorf("error %q, http.Client's %q", got, want)
			}
			var gotNet, wantNet net.Error
			if errors.As(got, &gotNet) != errors.As(want, &wantNet) || (gotNet != nil && gotNet.Timeout() != wantNet.Timeout()) {
				t.Errorf("net.Error: ours %#v, http.Client's %#v", gotNet, wantNet)
			}
			if errors.Is(got, context.DeadlineExceeded) != errors.Is(want, context.DeadlineExceeded) {
				t.Errorf("errors.Is(DeadlineExceeded): ours %v, http.Client's %v", errors.Is(got, context.DeadlineExceeded), errors.Is(want, context.DeadlineExceeded))
			}
			if Classify(0, got.Error(), srv.URL+"/") != ClassTimeout {
				t.Errorf("%q is classified %s", got, Classify(0, got.Error(), srv.URL+"/"))
			}
		})
	}
}

// recordingTransport answers without a network: a redirect for "/", 200
// with a body otherwise, and keeps the context of every request.
type recordingTransport struct{ ctxs []context.Context }

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.ctxs = append(rt.ctxs, req.Context())
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: req}
	if req.URL.Path == "/" {
		resp.StatusCode = http.StatusFound
		resp.Header.Set("Location", "/next")
	}
	return resp, nil
}

func TestClientDeadlineCoversRedirectsAndEndsWithTheBody(t *testing.T) {
	rec := &recordingTransport{}
	tracker := &reuseTracker{next: rec, timeout: time.Hour, seqs: map[uint64]struct{}{}}
	client := &http.Client{Transport: tracker}
	before := time.Now()
	req, _ := http.NewRequest(http.MethodGet, "http://rollcheck.invalid/", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.ctxs) != 2 {
		t.Fatalf("%d requests, want the first and the redirect", len(rec.ctxs))
	}
	first, ok1 := rec.ctxs[0].Deadline()
	second, ok2 := rec.ctxs[1].Deadline()
	if !ok1 || !ok2 || !second.Equal(first) || first.Before(before.Add(time.Hour)) {
		t.Errorf("deadlines %v (%v) then %v (%v), want one deadline an hour away for the chain", first, ok1, second, ok2)
	}
	if err := rec.ctxs[1].Err(); err != nil {
		t.Fatalf("the request is cancelled before its body is read: %v", err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok" {
		t.Fatalf("body %q, %v", b, err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rec.ctxs[1].Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("after Close the request's context is %v, want cancelled (its timer released)", err)
	}
}

// --http2 on an http:// target is h2c with prior knowledge: every request
// over HTTP/2, all of a stream's on one connection, and the server's
// failures still read by their status and pod header.
func TestHTTP2OnACleartextTargetIsH2C(t *testing.T) {
	var h2, other, conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			h2.Add(1)
		} else {
			other.Add(1)
		}
		w.Header().Set("X-Pod-Name", "pod-a")
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	res := run(t, Config{Targets: targets(srv.URL, "/", "/bad"), Rate: Rate{40, time.Second}, KeepAlive: true, HTTP2: true, PodHeader: "x-pod-name"}, 500*time.Millisecond)
	if res.Requests < 4 || other.Load() != 0 || h2.Load() != int64(res.Requests) {
		t.Fatalf("%d requests: %d over HTTP/2, %d not", res.Requests, h2.Load(), other.Load())
	}
	if res.ByClass[Class503] == 0 || res.ByClass[ClassOK] == 0 {
		t.Errorf("by class %v, want both", res.ByClass)
	}
	if n := conns.Load(); n != 1 || !res.HTTP2 {
		t.Errorf("%d connections, want 1: HTTP/2 multiplexes; result says HTTP/2 %t", n, res.HTTP2)
	}
	for _, f := range res.FailureList {
		if f.Pod != "pod-a" {
			t.Errorf("failure %+v names no pod", f)
		}
	}
}
