package attack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// MaxAttackerDuration bounds one attacker's load: a pod forgotten by the run
// that started it stops by itself.
const MaxAttackerDuration = 24 * time.Hour

// DefaultBeaconEvery is how often an attacker writes a clock beacon.
const DefaultBeaconEvery = time.Second

// AttackerConfig configures RunAttacker: the load alone, its result stream
// written as it goes.
type AttackerConfig struct {
	Attack      Config        // the load; RunAttacker sets OnResult and MaxDuration
	Name        string        // the attacker's name in the header
	Duration    time.Duration // how long the load runs; at most MaxAttackerDuration
	BeaconEvery time.Duration // default DefaultBeaconEvery
	// Skew is added to every time the stream reports; for tests that need
	// an attacker whose clock is off.
	Skew time.Duration
	// Summarize writes a summarized stream (StreamVersionSummary): the
	// successes folded into a summary at each beacon, in buckets of
	// SummaryWidth (default DefaultBucketWidth) from Origin (default:
	// when the load starts), every failure still a result of its own.
	Summarize    bool
	SummaryWidth time.Duration
	Origin       time.Time
}

// RunAttacker sends the load for cfg.Duration, or until ctx is done, and
// writes its result stream (StreamVersion) to w: the header, every result
// as it completes, a beacon every cfg.BeaconEvery (also while the requests
// in flight finish), and the end record. An interrupted load (ctx done) is
// not an error: the stream still ends with its end record. A write error
// stops the load and is returned.
func RunAttacker(ctx context.Context, cfg AttackerConfig, w io.Writer) (*Result, error) {
	if cfg.Duration <= 0 || cfg.Duration > MaxAttackerDuration {
		return nil, fmt.Errorf("attack: duration %s must be above 0 and at most %s", cfg.Duration, MaxAttackerDuration)
	}
	every := cfg.BeaconEvery
	if every == 0 {
		every = DefaultBeaconEvery
	}
	if every < time.Millisecond {
		return nil, fmt.Errorf("attack: beacon interval %s must be at least 1ms", every)
	}

	enc := NewStreamEncoder(w)
	enc.Skew = cfg.Skew
	var sum *summarizer
	if cfg.Summarize {
		enc.Version = StreamVersionSummary
		width := cfg.SummaryWidth
		if width <= 0 {
			width = DefaultBucketWidth
		}
		origin := cfg.Origin
		if origin.IsZero() {
			origin = time.Now()
		}
		sum = newSummarizer(origin, width)
	}
	pod := PodFinder(cfg.Attack.PodHeader)
	ctx, stop := context.WithCancel(ctx)
	defer stop()

	// mu orders results and beacons, so that a beacon's counts are those of
	// the results written before it.
	var (
		mu                 sync.Mutex
		requests, failures int64
		writeErr           error
	)
	fail := func(err error) {
		if err != nil && writeErr == nil {
			writeErr = err
			stop()
		}
	}
	acfg := cfg.Attack
	acfg.MaxDuration = cfg.Duration
	acfg.OnResult = func(r *vegeta.Result, reused bool) {
		mu.Lock()
		defer mu.Unlock()
		requests++
		if r.Code < 200 || r.Code >= 400 {
			failures++
		}
		if sum != nil && classify(r.Code, r.Error, r.URL) == idxOK {
			sum.add(r, reused, pod(r))
			return
		}
		fail(enc.Result(r, reused, pod(r)))
	}
	// summarize writes what the successes added since the last summary
	// (under mu), before a beacon or the end record, whose counts include
	// them.
	var sumSeq uint64
	summarize := func() {
		if sum == nil {
			return
		}
		if sm := sum.take(); sm != nil {
			fail(enc.Summary(sumSeq, sm))
			sumSeq++
		}
	}
	a, err := New(acfg)
	if err != nil {
		return nil, err
	}
	err = enc.Header(StreamRecord{Attacker: cfg.Name, Start: time.Now(), Rate: acfg.Rate.PerSecond(),
		Targets: len(acfg.Targets), Connections: a.Config().Connections})
	if err == nil {
		err = enc.Flush() // the reader knows at once that the attacker is up
	}
	if err != nil {
		return nil, err
	}
	a.Start(ctx)

	stopped := make(chan *Result, 1)
	timer := time.NewTimer(cfg.Duration)
	defer timer.Stop()
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	var seq uint64
	done, expired := ctx.Done(), timer.C
	for {
		select {
		case <-done:
		case <-expired:
		case res := <-stopped:
			mu.Lock()
			summarize()
			fail(enc.End(StreamRecord{Time: time.Now(), Requests: requests, Failures: failures, AchievedRate: res.AchievedRate}))
			err := writeErr
			mu.Unlock()
			return res, err
		case <-ticker.C:
			mu.Lock()
			summarize()
			fail(enc.Beacon(StreamRecord{Seq: seq, Time: time.Now(), Requests: requests, Failures: failures}))
			mu.Unlock()
			seq++
			continue
		}
		// Stop waits for the requests in flight (up to the timeout); the
		// beacons go on meanwhile.
		done, expired = nil, nil
		go func() { stopped <- a.Stop() }()
	}
}

// PodFinder returns a function giving the serving pod of a result: the
// first non-empty value of podHeader's headers (comma-separated, in order of
// preference, as Config.PodHeader), "" when none.
func PodFinder(podHeader string) func(*vegeta.Result) string {
	var names []string
	for _, h := range strings.Split(podHeader, ",") {
		if h = strings.TrimSpace(h); h != "" {
			names = append(names, http.CanonicalHeaderKey(h))
		}
	}
	return func(r *vegeta.Result) string {
		for _, h := range names {
			if vs := r.Headers[h]; len(vs) > 0 && vs[0] != "" {
				return vs[0]
			}
		}
		return ""
	}
}

// ClockTime is the body of an attacker's GET /clock.
type ClockTime struct {
	Time time.Time `json:"time"`
}

// ClockHandler serves an attacker's clock: GET /clock answers
// {"time":RFC3339Nano} (plus skew), for a caller that measures the offset
// by round trips; GET /healthz answers ok.
func ClockHandler(skew time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /clock", func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().Add(skew)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		// A write error means the caller went away: nothing to tell it.
		_ = json.NewEncoder(w).Encode(ClockTime{Time: now})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}
