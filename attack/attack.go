package attack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Defaults applied by New.
const (
	DefaultBucketWidth = 100 * time.Millisecond
	DefaultMaxFailures = 10000
	DefaultMaxDuration = 2 * time.Hour
	DefaultTimeout     = vegeta.DefaultTimeout

	// MinWorkers and MaxWorkersCap bound the derived worker limit, which is
	// rate × timeout + slack: enough to keep the rate while every request
	// hangs until its timeout, never an unbounded number of goroutines.
	MinWorkers    = 32
	MaxWorkersCap = 10000

	// MaxBuckets bounds MaxDuration/BucketWidth, hence the aggregate's
	// memory (a few hundred bytes per bucket that saw requests, about 1 KiB
	// at most with a full latency histogram and a few pods).
	MaxBuckets = 1_000_000

	initialWorkers = 10 // vegeta's default; more are spawned as needed
)

// Attack is one constant-rate load. Create it with New, then Start, watch
// it with Snapshot, and end it with Stop.
type Attack struct {
	cfg Config
	// tls is the transports' TLS configuration, from cfg.TLS.
	tls     *tls.Config
	targets []vegeta.Target
	// streams are the load streams Config.Connections runs (one, or two
	// for both), each with its own client and vegeta attacker.
	streams []*loadStream

	startOnce sync.Once
	started   atomic.Bool
	agg       *aggregator
	start     time.Time
	done      chan struct{} // closed when every result has been aggregated

	// Written by the result goroutines, read by Snapshot. requests is
	// incremented before failures and Snapshot loads failures first, so a
	// snapshot never shows more failures than requests.
	requests atomic.Int64
	failures atomic.Int64

	haltOnce sync.Once
	halted   chan struct{}
	end      time.Time // when the load stopped; set in halt before halted closes

	stopOnce sync.Once
	result   *Result

	// mu serializes the aggregate, the results writer, OnResult and sealed
	// between the streams of the local load and Feed.
	mu     sync.Mutex
	enc    vegeta.Encoder
	encErr error // first ResultsWriter error; read after done
	sealed bool  // Stop has taken the aggregate; Feed drops results
}

// loadStream is one stream of the local load: a client that keeps
// connections alive (the reused stream) or opens one per request (new).
type loadStream struct {
	idx     int           // idxStreamReused or idxStreamNew
	rate    Rate          // this stream's share of Config.Rate
	workers uint64        // its bound on concurrent requests
	delay   time.Duration // from the load's start to this stream's first request
	reuse   *reuseTracker
	// transport is closed by Stop: idle keep-alive connections would
	// otherwise outlive the attack, each with its buffers and goroutines.
	transport *http.Transport
	atk       *vegeta.Attacker
}

// New validates cfg, applies defaults and returns an Attack ready to Start.
func New(cfg Config) (*Attack, error) {
	if len(cfg.Targets) == 0 {
		return nil, errors.New("attack: no targets")
	}
	if cfg.Rate.Freq <= 0 || cfg.Rate.Per <= 0 {
		return nil, fmt.Errorf("attack: rate %d/%s must be positive", cfg.Rate.Freq, cfg.Rate.Per)
	}
	if cfg.Rate.Per.Nanoseconds()/int64(cfg.Rate.Freq) < 1 {
		return nil, fmt.Errorf("attack: rate %d/%s is more than one request per nanosecond", cfg.Rate.Freq, cfg.Rate.Per)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("attack: timeout %s must not be negative", cfg.Timeout)
	}
	if cfg.BucketWidth < 0 {
		return nil, fmt.Errorf("attack: bucket width %s must not be negative", cfg.BucketWidth)
	}
	if cfg.MaxFailures < 0 {
		return nil, fmt.Errorf("attack: max failures %d must not be negative", cfg.MaxFailures)
	}
	if cfg.MaxDuration < 0 {
		return nil, fmt.Errorf("attack: max duration %s must not be negative", cfg.MaxDuration)
	}
	for _, h := range strings.Split(cfg.PodHeader, ",") {
		if h = strings.TrimSpace(h); h != "" && !isToken(h) {
			return nil, fmt.Errorf("attack: pod header %q is not a valid header name", h)
		}
	}

	if h := strings.TrimSpace(cfg.NodeHeader); h != "" && !isToken(h) {
		return nil, fmt.Errorf("attack: node header %q is not a valid header name", h)
	}
	if cfg.NodeHeader != "" && cfg.EntryNode != "" {
		return nil, errors.New("attack: a node header and an entry node exclude each other: the header names each request's node, the entry node is every request's")
	}

	targets := make([]vegeta.Target, len(cfg.Targets))
	for i, t := range cfg.Targets {
		method := t.Method
		if method == "" {
			method = http.MethodGet
		}
		if !isToken(method) {
			return nil, fmt.Errorf("attack: target %d: invalid method %q", i+1, t.Method)
		}
		if _, err := ParseTargetURL(t.URL); err != nil {
			return nil, fmt.Errorf("attack: target %d: %w", i+1, err)
		}
		targets[i] = vegeta.Target{Method: method, URL: t.URL, Header: t.Header.Clone(), Body: t.Body}
	}

	tlsConfig, err := cfg.TLS.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("attack: target TLS: %w", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.BucketWidth == 0 {
		cfg.BucketWidth = DefaultBucketWidth
	}
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	if cfg.MaxDuration == 0 {
		cfg.MaxDuration = DefaultMaxDuration
	}
	if cfg.Connections == "" {
		cfg.Connections = ConnectionsNew
		if cfg.KeepAlive {
			cfg.Connections = ConnectionsReused
		}
	}
	if _, err := ParseConnections(string(cfg.Connections)); err != nil {
		return nil, fmt.Errorf("attack: %w", err)
	}
	cfg.KeepAlive = cfg.Connections != ConnectionsNew
	idxs := streamsOf(cfg.Connections)
	streams := make([]*loadStream, len(idxs))
	for i, si := range idxs {
		r := splitRate(cfg.Rate, len(idxs))
		workers := defaultMaxWorkers(r, cfg.Timeout)
		if cfg.MaxWorkers > 0 {
			workers = max(1, cfg.MaxWorkers/uint64(len(idxs)))
		}
		// The streams take turns: the second starts one interval of
		// the asked rate after the first, so that together they pace
		// as one stream at the asked rate would.
		delay := time.Duration(i) * (cfg.Rate.Per / time.Duration(cfg.Rate.Freq))
		streams[i] = &loadStream{idx: si, rate: r, workers: workers, delay: delay,
			reuse: &reuseTracker{seqs: map[uint64]struct{}{}}}
	}
	if cfg.MaxWorkers == 0 {
		cfg.MaxWorkers = defaultMaxWorkers(cfg.Rate, cfg.Timeout)
	}
	if n := cfg.MaxDuration / cfg.BucketWidth; n > MaxBuckets {
		return nil, fmt.Errorf("attack: bucket width %s is too fine for max duration %s (%d buckets, at most %d)",
			cfg.BucketWidth, cfg.MaxDuration, n, MaxBuckets)
	}
	return &Attack{
		cfg:     cfg,
		tls:     tlsConfig,
		targets: targets,
		streams: streams,
		done:    make(chan struct{}),
		halted:  make(chan struct{}),
	}, nil
}

// defaultMaxWorkers is the concurrency needed to keep the rate when every
// request takes the whole timeout, plus slack, bounded to [MinWorkers,
// MaxWorkersCap].
func defaultMaxWorkers(r Rate, timeout time.Duration) uint64 {
	n := math.Ceil(r.PerSecond()*timeout.Seconds()) + 10
	return uint64(min(max(n, MinWorkers), MaxWorkersCap))
}

// Config returns the configuration with New's defaults applied.
func (a *Attack) Config() Config { return a.cfg }

// Start begins the load in the background and returns at once. The load runs
// until Stop, until ctx is done, or for Config.MaxDuration, whichever comes
// first. Only the first call has an effect, and none after Stop.
func (a *Attack) Start(ctx context.Context) {
	a.startOnce.Do(func() {
		for _, st := range a.streams {
			st.atk = vegeta.NewAttacker(
				// A new attacker per stream, with our own client: vegeta's
				// KeepAlive/HTTP2 options would type-assert the transport
				// we wrap.
				vegeta.Client(st.newClient(a.cfg, a.tls)),
				vegeta.Workers(min(initialWorkers, st.workers)),
				vegeta.MaxWorkers(st.workers),
			)
		}
		a.start = time.Now()
		a.mu.Lock()
		a.agg = newAggregator(a.start, a.cfg.BucketWidth, a.cfg.MaxDuration, a.cfg.PodHeader, a.cfg.MaxFailures)
		if h := strings.TrimSpace(a.cfg.NodeHeader); h != "" {
			a.agg.nodeHeader = http.CanonicalHeaderKey(h)
		}
		a.agg.entryNode = strings.TrimSpace(a.cfg.EntryNode)
		for _, st := range a.streams {
			a.agg.streamRates[st.idx] = st.rate.PerSecond()
		}
		if a.cfg.ResultsWriter != nil {
			a.enc = vegeta.NewEncoder(a.cfg.ResultsWriter)
		}
		a.mu.Unlock()
		a.started.Store(true)

		if a.cfg.NoLocal {
			// Only fed results; the load "ends" when it is halted.
			go func() {
				<-a.halted
				close(a.done)
			}()
		} else {
			var wg sync.WaitGroup
			for _, st := range a.streams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a.run(st)
				}()
			}
			go func() {
				wg.Wait()
				close(a.done)
			}()
		}

		// vegeta's Attacker knows no context: bridge it.
		go func() {
			select {
			case <-ctx.Done():
				a.halt()
			case <-a.done:
			}
		}()
	})
}

// run sends stream st's load, from its delay after the start until the
// load is halted or MaxDuration (counted from the load's start) is over,
// and aggregates every result.
func (a *Attack) run(st *loadStream) {
	du := a.cfg.MaxDuration - st.delay
	if du <= 0 {
		return // over before its turn (and vegeta reads 0 as no end)
	}
	if st.delay > 0 {
		t := time.NewTimer(st.delay)
		select {
		case <-t.C:
		case <-a.halted:
			t.Stop()
			return
		}
	}
	pacer := vegeta.ConstantPacer{Freq: st.rate.Freq, Per: st.rate.Per}
	// No attack name for vegeta: it would send it as a header on every
	// request; consume puts it on each result instead.
	results := st.atk.Attack(vegeta.NewStaticTargeter(a.targets...), pacer, du, "")
	a.consume(st, results)
}

// consume aggregates every result of stream st until vegeta closes the
// channel, which it does after Stop once the requests in flight have
// finished.
func (a *Attack) consume(st *loadStream, results <-chan *vegeta.Result) {
	name := string(streamNames[st.idx])
	for r := range results {
		r.Attack = name // the stream, for OnResult, the results file and ResultStream
		reused, conn := st.reuse.take(r.Seq)
		a.mu.Lock()
		if a.cfg.OnResult != nil {
			a.cfg.OnResult(r, reused)
		}
		a.addLocked(r, reused, st.idx, conn)
		a.mu.Unlock()
	}
}

// addLocked counts one result, local or fed, in stream si, sent on conn
// (nil: unknown); a.mu is held.
func (a *Attack) addLocked(r *vegeta.Result, reused bool, si int, conn *trackedConn) {
	a.agg.addConn(r, reused, si, conn)
	a.requests.Add(1)
	if r.Code < 200 || r.Code >= 400 {
		a.failures.Add(1)
	}
	if a.enc != nil && a.encErr == nil {
		if err := a.enc.Encode(r); err != nil {
			a.encErr = fmt.Errorf("attack: writing results: %w", err)
		}
	}
}

// Feed adds a result measured elsewhere (an attacker pod's stream) to the
// aggregate, as if the local load had sent it: r.Timestamp must already be
// on this process's clock. Its load stream is r.Attack when that names one
// ("reused" or "new", as an Attack names its results), else the first
// stream of Config.Connections. It is safe from any goroutine, between
// Start and Stop; a result fed before Start or after Stop is not counted
// and Feed returns false.
func (a *Attack) Feed(r *vegeta.Result, reused bool) bool {
	if !a.started.Load() {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sealed {
		return false
	}
	si, ok := streamIndex(r.Attack)
	if !ok {
		si = a.streams[0].idx
	}
	a.addLocked(r, reused, si, nil)
	return true
}

// Merge adds an attacker's summary of successes (a summary record of a
// StreamVersionSummary stream) to the aggregate, its times shifted by
// -offset onto this process's clock, as Feed adds a result. It returns
// false, counting nothing, before Start or after Stop.
func (a *Attack) Merge(sm *Summary, offset time.Duration) bool {
	if !a.started.Load() || sm == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sealed {
		return false
	}
	a.requests.Add(int64(a.agg.merge(sm, offset)))
	return true
}

// StartedAt is when the load started (the origin of its buckets); zero
// before Start.
func (a *Attack) StartedAt() time.Time {
	if !a.started.Load() {
		return time.Time{}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.start
}

// halt stops the load once, remembering when.
func (a *Attack) halt() {
	a.haltOnce.Do(func() {
		a.end = time.Now()
		close(a.halted) // before the attackers stop: a delayed stream must not start
		for _, st := range a.streams {
			if st.atk != nil {
				st.atk.Stop()
			}
		}
	})
}

// Snapshot returns the progress so far. It is cheap and safe to call from any
// goroutine, e.g. for a live status line.
func (a *Attack) Snapshot() Snapshot {
	if !a.started.Load() {
		return Snapshot{}
	}
	failures := a.failures.Load()
	requests := a.requests.Load()
	s := Snapshot{Requests: int(requests), Failures: int(failures)}
	select {
	case <-a.halted:
		s.Elapsed = a.end.Sub(a.start)
	default:
		s.Elapsed = time.Since(a.start)
	}
	s.Elapsed = min(s.Elapsed, a.cfg.MaxDuration)
	if s.Elapsed > 0 {
		s.Rate = float64(requests) / s.Elapsed.Seconds()
	}
	return s
}

// Stop ends the load, waits for the requests in flight (at most the request
// timeout), and returns the result. It may be called more than once, from any
// goroutine, and after the context of Start is done; every call returns the
// same Result. Stop before Start returns an empty Result.
func (a *Attack) Stop() *Result {
	a.stopOnce.Do(func() {
		a.startOnce.Do(func() {}) // a Start after Stop does nothing
		a.halt()
		if !a.started.Load() {
			a.result = &Result{ByClass: map[Class]int{}, BucketWidth: a.cfg.BucketWidth, Rate: a.cfg.Rate.PerSecond(), Connections: a.cfg.Connections}
			return
		}
		<-a.done
		a.mu.Lock()
		defer a.mu.Unlock()
		a.sealed = true
		for _, st := range a.streams {
			st.transport.CloseIdleConnections()
		}
		// The load ended at Stop (or the context), or at MaxDuration if that
		// came first; a request whose tick was already taken may start a
		// moment later, and still belongs to the load.
		end := a.end
		capped := a.start.Add(a.cfg.MaxDuration)
		reached := !end.Before(capped)
		if reached {
			end = capped
		}
		if last := a.agg.lastSeen; last.After(end) {
			end = last
		}
		a.result = a.agg.result(end, a.cfg.Rate.PerSecond())
		a.result.MaxDurationReached = reached
		a.result.Connections = a.cfg.Connections
		for _, st := range a.streams {
			a.result.HTTP2 = a.result.HTTP2 || st.reuse.http2.Load()
		}
		a.agg = nil // the result holds all that is still needed
	})
	return a.result
}

// Err returns the first error writing to Config.ResultsWriter, once Stop has
// returned; the load itself is not affected by such errors.
func (a *Attack) Err() error {
	select {
	case <-a.done:
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.encErr
	default:
		return nil
	}
}
