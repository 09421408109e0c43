package attack

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestResolveConnections(t *testing.T) {
	tests := []struct {
		conn         string
		keepAlive    bool
		keepAliveSet bool
		want         Connections
		wantErr      string
	}{
		{conn: "", keepAlive: true, want: ConnectionsReused},
		{conn: "", keepAlive: false, keepAliveSet: true, want: ConnectionsNew},
		{conn: "both", keepAlive: true, want: ConnectionsBoth},
		{conn: " new ", keepAlive: true, want: ConnectionsNew},
		{conn: "new", keepAlive: false, keepAliveSet: true, want: ConnectionsNew},
		{conn: "reused", keepAlive: true, keepAliveSet: true, want: ConnectionsReused},
		{conn: "both", keepAlive: true, keepAliveSet: true, want: ConnectionsBoth},
		{conn: "reused", keepAlive: false, keepAliveSet: true, wantErr: "keepalive false means connections new; it conflicts with connections reused"},
		{conn: "both", keepAlive: false, keepAliveSet: true, wantErr: "conflicts with connections both"},
		{conn: "new", keepAlive: true, keepAliveSet: true, wantErr: "keepalive true conflicts with connections new"},
		{conn: "kept", keepAlive: true, wantErr: `connections "kept": want new, reused or both`},
	}
	for _, tt := range tests {
		got, err := ResolveConnections(tt.conn, tt.keepAlive, tt.keepAliveSet)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q keepalive=%v (set %v): error %v, want %q", tt.conn, tt.keepAlive, tt.keepAliveSet, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q keepalive=%v (set %v) = %q, %v; want %q", tt.conn, tt.keepAlive, tt.keepAliveSet, got, err, tt.want)
		}
	}
}

// The two shares sum to the asked rate exactly, odd rates included.
func TestSplitRateSumsToTheAskedRate(t *testing.T) {
	for _, r := range []Rate{{1, time.Second}, {51, time.Second}, {7, 100 * time.Millisecond}, {1000, time.Minute}} {
		half := splitRate(r, 2)
		if got := 2 * half.PerSecond(); got != r.PerSecond() {
			t.Errorf("%v split in two: 2 × %g/s = %g/s, want %g/s", r, half.PerSecond(), got, r.PerSecond())
		}
		if splitRate(r, 1) != r {
			t.Errorf("%v split in one changed", r)
		}
	}
}

// connServer tells the streams apart as the server sees them: a request
// with Connection: close is the new stream's; it counts requests and the
// client connections each stream opened. Requests of the new stream fail
// with 503 when failNew is set.
type connServer struct {
	*httptest.Server
	mu                    sync.Mutex
	newReqs, reusedReqs   int
	newConns, reusedConns map[string]bool
}

func newConnServer(t *testing.T, failNew bool) *connServer {
	s := &connServer{newConns: map[string]bool{}, reusedConns: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if r.Close {
			s.newReqs++
			s.newConns[r.RemoteAddr] = true
		} else {
			s.reusedReqs++
			s.reusedConns[r.RemoteAddr] = true
		}
		s.mu.Unlock()
		if failNew && r.Close {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func streamOf(t *testing.T, res *Result, s Stream) StreamResult {
	t.Helper()
	for _, sr := range res.Streams {
		if sr.Stream == s {
			return sr
		}
	}
	t.Fatalf("no %s stream in %+v", s, res.Streams)
	return StreamResult{}
}

// With both, each stream runs at half the rate with its own kind of
// connections, and the result counts each stream as the server saw it.
func TestBothRunsTwoStreamsAtHalfTheRate(t *testing.T) {
	srv := newConnServer(t, true)
	res := run(t, Config{Targets: targets(srv.URL, "/"), Rate: Rate{100, time.Second}, Connections: ConnectionsBoth}, 2*time.Second)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if res.Connections != ConnectionsBoth || len(res.Streams) != 2 {
		t.Fatalf("connections %q streams %+v, want both with two streams", res.Connections, res.Streams)
	}
	reused, fresh := streamOf(t, res, StreamReused), streamOf(t, res, StreamNew)
	if reused.Rate != 50 || fresh.Rate != 50 || res.Rate != 100 {
		t.Errorf("asked rates %g + %g of %g, want 50 + 50 of 100", reused.Rate, fresh.Rate, res.Rate)
	}
	if fresh.Requests != srv.newReqs || reused.Requests != srv.reusedReqs || res.Requests != srv.newReqs+srv.reusedReqs {
		t.Fatalf("stream requests new %d reused %d (total %d), the server saw %d and %d", fresh.Requests, reused.Requests, res.Requests, srv.newReqs, srv.reusedReqs)
	}
	// Each stream sent its share: about half of 2s at 100/s.
	for _, sr := range []StreamResult{reused, fresh} {
		if sr.Requests < 80 || sr.Requests > 110 {
			t.Errorf("%s stream sent %d requests in 2s at 50/s", sr.Stream, sr.Requests)
		}
	}
	// Every request of the new stream had its own connection, and none
	// was reused; the reused stream reused all but the ones it opened.
	if len(srv.newConns) != srv.newReqs || fresh.ReusedConnRequests != 0 {
		t.Errorf("new stream: %d requests on %d connections, %d counted as reused", srv.newReqs, len(srv.newConns), fresh.ReusedConnRequests)
	}
	// A connection dialed for a request that an idle one served first
	// goes to the pool unused: its first request is counted as reused, as
	// the transport reports it; hence at least, not exactly.
	if least := srv.reusedReqs - len(srv.reusedConns); reused.ReusedConnRequests < least || reused.ReusedConnRequests >= srv.reusedReqs {
		t.Errorf("reused stream: %d requests over kept connections, want %d to %d (%d requests on %d connections)", reused.ReusedConnRequests, least, srv.reusedReqs-1, srv.reusedReqs, len(srv.reusedConns))
	}
	// Only the new stream's requests failed, each recorded as such.
	if fresh.Failures != srv.newReqs || fresh.ByClass[Class503] != srv.newReqs || reused.Failures != 0 || res.Failures != fresh.Failures {
		t.Errorf("failures new %d %v, reused %d, total %d", fresh.Failures, fresh.ByClass, reused.Failures, res.Failures)
	}
	for _, f := range res.FailureList {
		if f.Stream != StreamNew || f.Reused {
			t.Fatalf("failure %+v, want the new stream on a new connection", f)
		}
	}
	if got := fresh.NewConnByClass()[Class503]; got != fresh.Failures {
		t.Errorf("new stream's 503s on new connections: %d, want %d", got, fresh.Failures)
	}
}

// KeepAlive false alone is the new stream, as before Connections existed.
func TestKeepAliveFalseIsTheNewStream(t *testing.T) {
	srv := newConnServer(t, false)
	res := run(t, Config{Targets: targets(srv.URL, "/"), Rate: Rate{50, time.Second}}, time.Second)
	if res.Connections != ConnectionsNew || len(res.Streams) != 1 || res.Streams[0].Stream != StreamNew {
		t.Fatalf("connections %q streams %+v, want the new stream alone", res.Connections, res.Streams)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.reusedReqs != 0 || srv.newReqs != res.Requests || res.Streams[0].Requests != res.Requests {
		t.Errorf("server saw %d keep-alive and %d closing requests; result %d", srv.reusedReqs, srv.newReqs, res.Requests)
	}
}

// Fed results count in the stream their attack name gives, else in the
// attack's first stream.
func TestFeedCountsInTheStreamNamed(t *testing.T) {
	a, err := New(Config{Targets: targets("http://127.0.0.1:1/", "/"), Rate: Rate{10, time.Second}, Connections: ConnectionsBoth, NoLocal: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(t.Context())
	now := time.Now()
	for _, r := range []*vegeta.Result{
		{Timestamp: now, Code: 0, Error: "connect: connection refused", Attack: "new"},
		{Timestamp: now, Code: 0, Error: "read: connection reset by peer", Attack: "reused"},
		{Timestamp: now, Code: 200, Attack: "remote"},
	} {
		if !a.Feed(r, r.Attack == "reused") {
			t.Fatal("feed refused")
		}
	}
	res := a.Stop()
	fresh, reused := streamOf(t, res, StreamNew), streamOf(t, res, StreamReused)
	if fresh.ByClass[ClassRefused] != 1 || fresh.Requests != 1 {
		t.Errorf("new stream %+v, want the refused one", fresh)
	}
	if reused.Requests != 2 || reused.ReusedConnByClass[ClassReset] != 1 || reused.ByClass[ClassOK] != 1 {
		t.Errorf("reused stream %+v, want the reset on a kept connection and the unnamed success", reused)
	}
	kinds := map[Stream]Class{}
	for _, f := range res.FailureList {
		kinds[f.Stream] = f.Class
	}
	if kinds[StreamNew] != ClassRefused || kinds[StreamReused] != ClassReset {
		t.Errorf("failure streams %v", kinds)
	}
}

func TestResultStream(t *testing.T) {
	for name, want := range map[string]Stream{"new": StreamNew, "reused": StreamReused, "": "", "bare": ""} {
		got, ok := ResultStream(&vegeta.Result{Attack: name})
		if got != want || ok != (want != "") {
			t.Errorf("ResultStream(%q) = %q, %v", name, got, ok)
		}
	}
}
