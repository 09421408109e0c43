package attack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// podServer answers 200 naming pod "web-1", except every fifth request: 503.
func podServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%5 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("X-Pod-Name", "web-1")
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// checkStream decodes a whole stream and checks its shape: one header
// first, one end last, results numbered once each, and every beacon's counts
// equal to the results before it. It returns the records by type.
func checkStream(t *testing.T, data []byte) map[string][]*StreamRecord {
	t.Helper()
	recs, err := decodeAll(t, bytes.NewReader(data))
	if err != io.EOF {
		t.Fatalf("decoding the stream: %v\n%s", err, data)
	}
	if len(recs) < 2 || recs[0].Type != RecordHeader || recs[len(recs)-1].Type != RecordEnd {
		t.Fatalf("the stream does not go from a header to an end:\n%s", data)
	}
	by := map[string][]*StreamRecord{}
	var results, failures int64
	seqs := map[uint64]bool{}
	for i, r := range recs {
		by[r.Type] = append(by[r.Type], r)
		switch r.Type {
		case RecordResult:
			if seqs[r.Seq] {
				t.Errorf("line %d: result seq %d twice", i+1, r.Seq)
			}
			seqs[r.Seq] = true
			results++
			if r.Code < 200 || r.Code >= 400 {
				failures++
			}
		case RecordBeacon:
			if want := uint64(len(by[RecordBeacon]) - 1); r.Seq != want {
				t.Errorf("line %d: beacon seq %d, want %d", i+1, r.Seq, want)
			}
			if r.Requests != results || r.Failures != failures {
				t.Errorf("line %d: beacon counts %d/%d, but %d results (%d failed) before it", i+1, r.Requests, r.Failures, results, failures)
			}
		}
	}
	end := by[RecordEnd][0]
	if end.Requests != results || end.Failures != failures {
		t.Errorf("end counts %d/%d, the stream has %d results (%d failed)", end.Requests, end.Failures, results, failures)
	}
	return by
}

func TestRunAttackerStreamsEveryResultWithBeacons(t *testing.T) {
	srv, served := podServer(t)
	var out bytes.Buffer
	cfg := AttackerConfig{
		Attack:      Config{Targets: targets(srv.URL, "/a", "/b"), Rate: Rate{50, time.Second}, KeepAlive: true, PodHeader: "X-Lab-Target,X-Pod-Name"},
		Name:        "attacker-0",
		Duration:    1200 * time.Millisecond,
		BeaconEvery: 200 * time.Millisecond,
	}
	before := time.Now()
	res, err := RunAttacker(context.Background(), cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	by := checkStream(t, out.Bytes())
	h := by[RecordHeader][0]
	if h.Attacker != "attacker-0" || h.Rate != 50 || h.Targets != 2 || h.Connections != ConnectionsReused || h.Start.Before(before) {
		t.Errorf("header %+v", h)
	}
	n := int64(len(by[RecordResult]))
	if n < 55 || n > 61 || n != served.Load() || int(n) != res.Requests {
		t.Errorf("%d results in the stream, %d served, %d in the result; want about 60 and all equal", n, served.Load(), res.Requests)
	}
	if b := len(by[RecordBeacon]); b < 5 || b > 7 {
		t.Errorf("%d beacons in 1.2s every 200ms", b)
	}
	pods := 0
	for _, r := range by[RecordResult] {
		if r.Code == 200 && r.Pod == "web-1" {
			pods++
		}
		if r.Code == 503 && r.Pod != "" {
			t.Errorf("a 503 without the header names pod %q", r.Pod)
		}
		if !strings.HasPrefix(r.URL, srv.URL+"/") || r.Method != "GET" || r.Timestamp.Before(h.Start) {
			t.Errorf("result %+v", r)
		}
	}
	if int64(pods) != n-n/5 && int64(pods) != n-n/5-1 {
		t.Errorf("%d of %d results name the pod; 4 in 5 should", pods, n)
	}
	if e := by[RecordEnd][0]; e.AchievedRate < 45 || e.AchievedRate > 52 {
		t.Errorf("achieved rate %g, want about 50", e.AchievedRate)
	}
}

func TestRunAttackerEndsCleanlyWhenCancelled(t *testing.T) {
	srv, _ := podServer(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := RunAttacker(ctx, AttackerConfig{
		Attack:   Config{Targets: targets(srv.URL, "/"), Rate: Rate{100, time.Second}, KeepAlive: false},
		Duration: time.Minute,
	}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a cancelled attacker took %s to end", took)
	}
	by := checkStream(t, out.Bytes())
	if by[RecordHeader][0].Connections != ConnectionsNew {
		t.Errorf("without keep-alive the header says %q", by[RecordHeader][0].Connections)
	}
	if n := len(by[RecordResult]); n < 15 || n > 45 {
		t.Errorf("%d results in 300ms at 100/s", n)
	}
}

// stopWriter accepts the first n writes, then fails.
type stopWriter struct {
	n   int
	buf bytes.Buffer
}

func (w *stopWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errors.New("broken pipe")
	}
	w.n--
	return w.buf.Write(p)
}

func TestRunAttackerStopsOnAWriteError(t *testing.T) {
	srv, served := podServer(t)
	w := &stopWriter{n: 1} // the header only
	start := time.Now()
	_, err := RunAttacker(context.Background(), AttackerConfig{
		Attack:      Config{Targets: targets(srv.URL, "/"), Rate: Rate{100, time.Second}},
		Duration:    time.Minute,
		BeaconEvery: 50 * time.Millisecond,
	}, w)
	if err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Fatalf("err = %v, want the write error", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the load went on %s after its output broke", took)
	}
	if n := served.Load(); n > 100 {
		t.Errorf("%d requests after the output broke at the first beacon", n)
	}
}

func TestRunAttackerSkewShiftsItsTimes(t *testing.T) {
	srv, _ := podServer(t)
	var out bytes.Buffer
	skew := -3 * time.Second
	before := time.Now()
	_, err := RunAttacker(context.Background(), AttackerConfig{
		Attack:      Config{Targets: targets(srv.URL, "/"), Rate: Rate{20, time.Second}},
		Duration:    300 * time.Millisecond,
		BeaconEvery: 100 * time.Millisecond,
		Skew:        skew,
	}, &out)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	by := checkStream(t, out.Bytes())
	in := func(what string, ts time.Time) {
		if ts.Before(before.Add(skew)) || ts.After(after.Add(skew)) {
			t.Errorf("%s %s is not within the run shifted by %s [%s, %s]", what, ts, skew, before.Add(skew), after.Add(skew))
		}
	}
	in("header start", by[RecordHeader][0].Start)
	in("end time", by[RecordEnd][0].Time)
	for _, r := range by[RecordResult] {
		in("result timestamp", r.Timestamp)
	}
	for _, b := range by[RecordBeacon] {
		in("beacon time", b.Time)
	}
}

func TestRunAttackerRefusesUnboundedDurations(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second, MaxAttackerDuration + time.Second} {
		_, err := RunAttacker(context.Background(), AttackerConfig{
			Attack: Config{Targets: targets("http://127.0.0.1:1", "/"), Rate: Rate{1, time.Second}}, Duration: d}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "duration") {
			t.Errorf("duration %s: err = %v", d, err)
		}
	}
}

func TestClockHandlerAnswersTheSkewedTime(t *testing.T) {
	srv := httptest.NewServer(ClockHandler(2 * time.Second))
	defer srv.Close()
	before := time.Now()
	resp, err := http.Get(srv.URL + "/clock")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c ClockTime
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if c.Time.Before(before.Add(2*time.Second)) || c.Time.After(after.Add(2*time.Second)) {
		t.Errorf("clock %s, want within [%s, %s] + 2s", c.Time, before, after)
	}
	for path, want := range map[string]int{"/healthz": 200, "/nope": 404} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
