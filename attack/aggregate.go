package attack

import (
	"container/heap"
	"maps"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// aggregator folds results into time buckets as they stream in. It is used
// by one goroutine at a time; its memory grows with the covered time span
// (one bucket per width) and the failure cap, not with the number of results.
type aggregator struct {
	// conns counts the keep-alive stream's connections.
	conns       connTally
	start       time.Time
	width       time.Duration
	maxBuckets  int
	podHeaders  []string // canonical forms, in order of preference
	nodeHeader  string   // canonical form; "" none
	entryNode   string   // every request's entry node; "" none
	byNode      map[string]int
	maxFailures int

	buckets []*bucket // nil where no request started; pointers keep growth cheap

	requests  int
	byClass   [numClasses]int
	hist      histogram
	max       time.Duration
	failed    int
	failures  failureHeap
	pods      map[string]*podSpan
	texts     map[string]string // see intern
	firstSeen time.Time         // earliest request start
	lastSeen  time.Time         // latest request start

	// streams counts each load stream's outcomes; streamRates is each
	// stream's asked rate (0: the load does not run it).
	streams     [numStreams]streamCount
	streamRates [numStreams]float64
}

// streamCount is one stream's outcomes: all, and those over kept
// connections.
type streamCount struct {
	byClass, reusedByClass [numClasses]int
}

// bucket is the internal form of Bucket: fixed counters instead of maps, so
// adding a result allocates nothing unless a new pod name appears or the
// latency falls outside the span of bins the histogram has seen so far.
type bucket struct {
	byClass [numClasses]uint32
	hist    spanHistogram
	max     time.Duration
	pods    map[string]uint32
}

func newAggregator(start time.Time, width, span time.Duration, podHeader string, maxFailures int) *aggregator {
	var headers []string
	for _, h := range strings.Split(podHeader, ",") {
		if h = strings.TrimSpace(h); h != "" {
			headers = append(headers, http.CanonicalHeaderKey(h))
		}
	}
	return &aggregator{
		start:       start,
		width:       width,
		maxBuckets:  int(span/width) + 1,
		podHeaders:  headers,
		maxFailures: maxFailures,
		pods:        map[string]*podSpan{},
		texts:       map[string]string{},
	}
}

// add counts r in the reused stream (see addStream).
func (g *aggregator) add(r *vegeta.Result, reused bool) { g.addStream(r, reused, idxStreamReused) }

// addStream classifies r and counts it in the bucket of its start time and
// in stream si's totals. reused tells whether the request went over a
// reused keep-alive connection.
func (g *aggregator) addStream(r *vegeta.Result, reused bool, si int) {
	g.addConn(r, reused, si, nil)
}

// addConn is addStream for a request sent on conn (nil: unknown), whose
// pod it notes for the keep-alive stream's connections.
func (g *aggregator) addConn(r *vegeta.Result, reused bool, si int, conn *trackedConn) {
	ci := classify(r.Code, r.Error, r.URL)
	sc := &g.streams[si]
	sc.byClass[ci]++
	if reused {
		sc.reusedByClass[ci]++
	}
	ts := r.Timestamp

	b := g.bucketAt(ts)
	b.byClass[ci]++
	b.hist.add(r.Latency)
	b.max = max(b.max, r.Latency)

	g.requests++
	g.byClass[ci]++
	g.hist.add(r.Latency)
	g.max = max(g.max, r.Latency)
	if g.firstSeen.IsZero() || ts.Before(g.firstSeen) {
		g.firstSeen = ts
	}
	if ts.After(g.lastSeen) {
		g.lastSeen = ts
	}

	node := g.entryNode
	if g.nodeHeader != "" {
		if vs := r.Headers[g.nodeHeader]; len(vs) > 0 {
			node = vs[0]
		}
	}
	if node != "" {
		if g.byNode == nil {
			g.byNode = map[string]int{}
		}
		if _, ok := g.byNode[node]; ok || len(g.byNode) < maxInterned {
			g.byNode[node]++
		}
	}

	var pod string
	for _, h := range g.podHeaders {
		if vs := r.Headers[h]; len(vs) > 0 && vs[0] != "" {
			pod = vs[0]
			break
		}
	}

	if si == idxStreamReused {
		g.conns.note(conn, pod)
	}

	if ci == idxOK {
		if pod != "" {
			if b.pods == nil {
				b.pods = map[string]uint32{}
			}
			b.pods[pod]++
			if p := g.pods[pod]; p == nil {
				g.pods[pod] = &podSpan{first: ts, last: ts}
			} else if ts.Before(p.first) {
				p.first = ts
			} else if ts.After(p.last) {
				p.last = ts
			}
		}
		return
	}

	g.failed++
	if g.maxFailures <= 0 {
		return
	}
	if len(g.failures) >= g.maxFailures {
		// Keep the earliest failures: replace the latest kept one if this
		// one started before it.
		if !ts.Before(g.failures[0].Time) {
			return
		}
		heap.Pop(&g.failures)
	} else if len(g.failures) == cap(g.failures) {
		// Double, as append would, but never past the cap: the records
		// are the largest part of the aggregate.
		grown := make(failureHeap, len(g.failures), min(max(2*cap(g.failures), 64), g.maxFailures))
		copy(grown, g.failures)
		g.failures = grown
	}
	u, errText := RedactURL(r.URL), r.Error
	if u != r.URL {
		errText = strings.ReplaceAll(errText, r.URL, u)
	}
	heap.Push(&g.failures, Failure{
		Node:    g.intern(node),
		Time:    ts,
		Latency: r.Latency,
		Class:   classes[ci],
		Code:    r.Code,
		Error:   g.intern(errText),
		Pod:     g.intern(pod),
		Reused:  reused,
		URL:     g.intern(u),
		Stream:  streamNames[si],
	})
}

// bucketAt returns the bucket that holds t. Results arrive in completion
// order, so a slow early request may land in a bucket well behind the
// newest one; grow to fit, never shrink.
func (g *aggregator) bucketAt(t time.Time) *bucket {
	i := 0
	if d := t.Sub(g.start); d > 0 {
		i = min(int(d/g.width), g.maxBuckets-1)
	}
	if i >= len(g.buckets) {
		g.buckets = append(g.buckets, make([]*bucket, i+1-len(g.buckets))...)
	}
	b := g.buckets[i]
	if b == nil {
		b = &bucket{}
		g.buckets[i] = b
	}
	return b
}

// maxInterned bounds the texts an aggregator interns.
const maxInterned = 1024

// intern returns the copy of s the aggregator already keeps, if any, so that
// thousands of failure records share the few texts they repeat (error
// texts, pod names, URLs) instead of each holding its own. Past maxInterned
// texts, new ones are returned as they are.
func (g *aggregator) intern(s string) string {
	if s == "" {
		return s
	}
	if v, ok := g.texts[s]; ok {
		return v
	}
	if len(g.texts) < maxInterned {
		g.texts[s] = s
	}
	return s
}

// RedactURL hides a password given in a URL's user info, so that
// credentials a user put in --target never reach a report or a log.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// counts returns the number of requests and failures so far.
func (g *aggregator) counts() (requests, failed int) { return g.requests, g.failed }

// result renders the aggregate. end is when the load stopped; the achieved
// rate is the number of requests over [start, end). It is called once, at
// the end: it hands the failure records over to the result.
func (g *aggregator) result(end time.Time, rate float64) *Result {
	res := &Result{
		Start:       g.start,
		End:         end,
		Rate:        rate,
		Requests:    g.requests,
		Failures:    g.failed,
		ByClass:     make(map[Class]int, numClasses),
		Max:         g.max,
		BucketWidth: g.width,
		Buckets:     make([]Bucket, len(g.buckets)),
		FailureList: []Failure(g.failures),
		Dropped:     g.failed - len(g.failures),
	}
	if d := end.Sub(g.start); d > 0 {
		res.AchievedRate = float64(g.requests) / d.Seconds()
	}
	for i, n := range g.byClass {
		res.ByClass[classes[i]] = n
	}
	total := uint64(g.requests)
	res.P50 = g.hist.quantile(0.50, total, g.max)
	res.P95 = g.hist.quantile(0.95, total, g.max)
	res.P99 = g.hist.quantile(0.99, total, g.max)

	for i, b := range g.buckets {
		out := Bucket{Start: g.start.Add(time.Duration(i) * g.width)}
		if b == nil {
			res.Buckets[i] = out
			continue
		}
		out.Max = b.max
		for ci, n := range b.byClass {
			out.Total += int(n)
			if ci == idxOK {
				out.OK = int(n)
			} else if n > 0 {
				if out.ByClass == nil {
					out.ByClass = map[Class]int{}
				}
				out.ByClass[classes[ci]] = int(n)
			}
		}
		out.P50 = b.hist.quantile(0.50, uint64(out.Total), b.max)
		out.P99 = b.hist.quantile(0.99, uint64(out.Total), b.max)
		if len(b.pods) > 0 {
			out.Pods = make(map[string]int, len(b.pods))
			for p, n := range b.pods {
				out.Pods[p] = int(n)
			}
		}
		res.Buckets[i] = out
	}

	// The records go to the result sorted in place: a copy would double
	// them while the result is built, and the aggregate is done with them.
	g.failures = nil
	if res.FailureList == nil {
		res.FailureList = []Failure{}
	}
	sort.SliceStable(res.FailureList, func(i, j int) bool {
		return res.FailureList[i].Time.Before(res.FailureList[j].Time)
	})

	res.Streams = g.streamResults(end)
	res.Conns = g.conns.result()

	if len(g.byNode) > 0 {
		res.ByEntryNode = maps.Clone(g.byNode)
	}
	if len(g.pods) > 0 {
		res.FirstByPod = make(map[string]time.Time, len(g.pods))
		res.LastByPod = make(map[string]time.Time, len(g.pods))
		for name, p := range g.pods {
			res.FirstByPod[name] = p.first
			res.LastByPod[name] = p.last
		}
	}
	return res
}

// streamResults renders the totals of every stream the load runs or that
// saw a request, in the order of Streams.
func (g *aggregator) streamResults(end time.Time) []StreamResult {
	var out []StreamResult
	d := end.Sub(g.start)
	for si := range numStreams {
		sc := &g.streams[si]
		sr := StreamResult{Stream: streamNames[si], Rate: g.streamRates[si],
			ByClass: map[Class]int{}, ReusedConnByClass: map[Class]int{}}
		for ci, n := range sc.byClass {
			sr.Requests += n
			if ci != idxOK {
				sr.Failures += n
			}
			if n > 0 {
				sr.ByClass[classes[ci]] = n
			}
			if m := sc.reusedByClass[ci]; m > 0 {
				sr.ReusedConnRequests += m
				sr.ReusedConnByClass[classes[ci]] = m
			}
		}
		if sr.Rate == 0 && sr.Requests == 0 {
			continue
		}
		if d > 0 {
			sr.AchievedRate = float64(sr.Requests) / d.Seconds()
		}
		out = append(out, sr)
	}
	return out
}

// podSpan is the start time of the first and last successful request a pod
// answered.
type podSpan struct{ first, last time.Time }

// failureHeap is a max-heap on start time: the root is the latest kept
// failure, the one to evict when an earlier one arrives after the cap.
type failureHeap []Failure

func (h failureHeap) Len() int           { return len(h) }
func (h failureHeap) Less(i, j int) bool { return h[i].Time.After(h[j].Time) }
func (h failureHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *failureHeap) Push(x any)        { *h = append(*h, x.(Failure)) }
func (h *failureHeap) Pop() any {
	old := *h
	f := old[len(old)-1]
	*h = old[:len(old)-1]
	return f
}
