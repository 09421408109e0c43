package attack

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// TestFeedMergesRemoteResultsWithTheLocalLoad: results fed from other
// goroutines (attacker streams) land in the same buckets, counts, pod spans
// and failure records as the local ones, and in the results file; after Stop
// they are refused.
func TestFeedMergesRemoteResultsWithTheLocalLoad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pod-Name", "local")
	}))
	t.Cleanup(srv.Close)
	var file bytes.Buffer
	var mu sync.Mutex
	local := 0
	a, err := New(Config{
		Targets: targets(srv.URL, "/"), Rate: Rate{50, time.Second}, KeepAlive: true,
		PodHeader: "X-Pod-Name", ResultsWriter: &file,
		OnResult: func(r *vegeta.Result, reused bool) {
			mu.Lock()
			local++
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.Feed(&vegeta.Result{Timestamp: time.Now(), Code: 200}, false) {
		t.Fatal("Feed before Start was counted")
	}
	a.Start(t.Context())
	at := time.Now().Add(50 * time.Millisecond)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				r := &vegeta.Result{Timestamp: at.Add(time.Duration(i) * time.Millisecond), Latency: time.Millisecond, Code: 200,
					Headers: http.Header{"X-Pod-Name": []string{"remote"}}}
				if g == 0 && i == 0 {
					r.Code, r.Headers = 503, nil
				}
				if !a.Feed(r, true) {
					t.Error("Feed during the load was refused")
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for a.Snapshot().Requests < 100+10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	res := a.Stop()
	if a.Feed(&vegeta.Result{Timestamp: time.Now(), Code: 200}, false) {
		t.Fatal("Feed after Stop was counted")
	}
	mu.Lock()
	defer mu.Unlock()
	if local < 10 || res.Requests != local+100 {
		t.Fatalf("requests %d, want %d local + 100 fed", res.Requests, local)
	}
	if res.Failures != 1 || len(res.FailureList) != 1 || res.FailureList[0].Code != 503 || !res.FailureList[0].Reused {
		t.Fatalf("failures %d %+v, want the one fed 503 on a reused connection", res.Failures, res.FailureList)
	}
	if res.FirstByPod["remote"].IsZero() || res.FirstByPod["local"].IsZero() {
		t.Fatalf("pods %v, want local and remote", res.FirstByPod)
	}
	n := 0
	dec := vegeta.NewDecoder(&file)
	for {
		var r vegeta.Result
		if dec.Decode(&r) != nil {
			break
		}
		n++
	}
	if n != res.Requests {
		t.Fatalf("results file has %d results, want %d", n, res.Requests)
	}
}

// TestNoLocalSendsNothing: with NoLocal every request counted was fed; the
// target is never dialed.
func TestNoLocalSendsNothing(t *testing.T) {
	hits := 0
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	a, err := New(Config{Targets: targets(srv.URL, "/"), Rate: Rate{200, time.Second}, NoLocal: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(t.Context())
	start := time.Now()
	for i := range 30 {
		a.Feed(&vegeta.Result{Timestamp: start.Add(time.Duration(i) * 10 * time.Millisecond), Code: 200}, false)
	}
	// Give a local load, were there one, time for tens of requests.
	for time.Since(start) < 300*time.Millisecond {
		time.Sleep(20 * time.Millisecond)
	}
	res := a.Stop()
	mu.Lock()
	defer mu.Unlock()
	if hits != 0 || res.Requests != 30 || res.Rate != 200 {
		t.Fatalf("hits %d requests %d rate %v, want 0 hits, 30 fed, rate 200", hits, res.Requests, res.Rate)
	}
}
