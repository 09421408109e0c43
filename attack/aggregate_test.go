package attack

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"runtime"
	"testing"
	"time"
	"unsafe"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func okResult(at, latency time.Duration, pod string) *vegeta.Result {
	r := &vegeta.Result{Code: 200, Timestamp: t0.Add(at), Latency: latency, URL: "http://h/"}
	if pod != "" {
		r.Headers = http.Header{"X-Pod-Name": {pod}}
	}
	return r
}

func failResult(at time.Duration, code uint16, errText string) *vegeta.Result {
	return &vegeta.Result{Code: code, Timestamp: t0.Add(at), Latency: time.Millisecond, Error: errText, URL: "http://h/"}
}

func TestAggregatorBuckets(t *testing.T) {
	g := newAggregator(t0, 100*time.Millisecond, time.Hour, "x-pod-name", 100)
	g.add(okResult(0, time.Millisecond, "a"), false)
	g.add(okResult(99*time.Millisecond, 2*time.Millisecond, "a"), false)
	g.add(okResult(100*time.Millisecond, 3*time.Millisecond, "b"), false)
	g.add(failResult(250*time.Millisecond, 503, "503 Service Unavailable"), true)
	g.add(failResult(-5*time.Millisecond, 0, "EOF"), false) // before start: first bucket
	g.add(okResult(199*time.Millisecond, 4*time.Millisecond, ""), false)
	res := g.result(t0.Add(time.Second), 10)

	type want struct {
		start      time.Duration
		total, ok  int
		byClass    map[Class]int
		pods       map[string]int
		maxLatency time.Duration
	}
	wants := []want{
		{0, 3, 2, map[Class]int{ClassEOF: 1}, map[string]int{"a": 2}, 2 * time.Millisecond},
		{100 * time.Millisecond, 2, 2, nil, map[string]int{"b": 1}, 4 * time.Millisecond},
		{200 * time.Millisecond, 1, 0, map[Class]int{Class503: 1}, nil, time.Millisecond},
	}
	if len(res.Buckets) != len(wants) {
		t.Fatalf("got %d buckets, want %d: %+v", len(res.Buckets), len(wants), res.Buckets)
	}
	for i, w := range wants {
		t.Run(fmt.Sprintf("bucket %d holds the requests that started in it", i), func(t *testing.T) {
			b := res.Buckets[i]
			if !b.Start.Equal(t0.Add(w.start)) {
				t.Errorf("start = %s, want %s", b.Start, t0.Add(w.start))
			}
			if b.Total != w.total || b.OK != w.ok || b.Failed() != w.total-w.ok {
				t.Errorf("total/ok = %d/%d, want %d/%d", b.Total, b.OK, w.total, w.ok)
			}
			if fmt.Sprint(b.ByClass) != fmt.Sprint(w.byClass) {
				t.Errorf("by class = %v, want %v", b.ByClass, w.byClass)
			}
			if fmt.Sprint(b.Pods) != fmt.Sprint(w.pods) {
				t.Errorf("pods = %v, want %v", b.Pods, w.pods)
			}
			if b.Max != w.maxLatency {
				t.Errorf("max = %s, want %s", b.Max, w.maxLatency)
			}
			if b.P50 <= 0 || b.P50 > b.P99 || b.P99 > b.Max {
				t.Errorf("percentiles out of order: p50 %s p99 %s max %s", b.P50, b.P99, b.Max)
			}
		})
	}

	t.Run("the totals add up", func(t *testing.T) {
		if res.Requests != 6 || res.Failures != 2 || res.ByClass[ClassOK] != 4 || res.ByClass[Class503] != 1 || res.ByClass[ClassEOF] != 1 {
			t.Errorf("requests %d failures %d by class %v", res.Requests, res.Failures, res.ByClass)
		}
		if len(res.ByClass) != numClasses {
			t.Errorf("by class has %d entries, want every class", len(res.ByClass))
		}
		if res.AchievedRate != 6 || res.Rate != 10 {
			t.Errorf("achieved %g / target %g, want 6 / 10", res.AchievedRate, res.Rate)
		}
	})
	t.Run("the pods' first and last successful requests are known", func(t *testing.T) {
		if !res.FirstByPod["a"].Equal(t0) || !res.LastByPod["a"].Equal(t0.Add(99*time.Millisecond)) {
			t.Errorf("pod a: first %s last %s", res.FirstByPod["a"], res.LastByPod["a"])
		}
		if !res.FirstByPod["b"].Equal(t0.Add(100*time.Millisecond)) || len(res.LastByPod) != 2 {
			t.Errorf("first %v last %v", res.FirstByPod, res.LastByPod)
		}
	})
	t.Run("failure records are sorted by start and keep the reuse flag", func(t *testing.T) {
		fs := res.FailureList
		if len(fs) != 2 || fs[0].Class != ClassEOF || fs[1].Class != Class503 || !fs[1].Reused || fs[0].Reused {
			t.Fatalf("failures = %+v", fs)
		}
		if fs[1].Code != 503 || fs[1].Error != "503 Service Unavailable" || fs[1].URL != "http://h/" {
			t.Errorf("failure record = %+v", fs[1])
		}
	})
}

func TestAggregatorBucketCountIsBoundedByTheSpan(t *testing.T) {
	g := newAggregator(t0, time.Second, 10*time.Second, "", 10)
	g.add(okResult(time.Hour, time.Millisecond, ""), false)
	if len(g.buckets) != 11 {
		t.Errorf("a result an hour late made %d buckets, want the cap of 11", len(g.buckets))
	}
}

func TestFailureCapKeepsTheEarliest(t *testing.T) {
	g := newAggregator(t0, 100*time.Millisecond, time.Hour, "", 3)
	// Completion order differs from start order, as with slow requests.
	for _, ms := range []int{50, 10, 40, 30, 5, 60, 20} {
		g.add(failResult(time.Duration(ms)*time.Millisecond, 502, "502 Bad Gateway"), false)
	}
	res := g.result(t0.Add(time.Second), 10)
	if res.Failures != 7 || res.Dropped != 4 || len(res.FailureList) != 3 {
		t.Fatalf("failures %d dropped %d kept %d; want 7, 4, 3", res.Failures, res.Dropped, len(res.FailureList))
	}
	for i, ms := range []int{5, 10, 20} {
		if got := res.FailureList[i].Time.Sub(t0); got != time.Duration(ms)*time.Millisecond {
			t.Errorf("failure %d started at +%s, want +%dms", i, got, ms)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name    string
		values  []time.Duration
		q       float64
		want    time.Duration
		relErr  float64
		comment string
	}{
		{"the median of equal values is that value", repeat(time.Millisecond, 100), 0.5, time.Millisecond, 0.07, ""},
		{"sub-4µs values read back as at most the max", repeat(time.Microsecond, 10), 0.99, time.Microsecond, 0, ""},
		{"p99 of a 1..1000ms ramp is about 990ms", ramp(time.Millisecond, 1000), 0.99, 990 * time.Millisecond, 0.07, ""},
		{"p50 of a 1..1000ms ramp is about 500ms", ramp(time.Millisecond, 1000), 0.50, 500 * time.Millisecond, 0.07, ""},
		{"values past the last bin read back as the max", repeat(5*time.Minute, 3), 0.5, 5 * time.Minute, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			var mx time.Duration
			for _, v := range tc.values {
				h.add(v)
				mx = max(mx, v)
			}
			got := h.quantile(tc.q, uint64(len(tc.values)), mx)
			if diff := float64(got-tc.want) / float64(tc.want); diff > tc.relErr || diff < -tc.relErr {
				t.Errorf("quantile(%g) = %s, want %s ± %.0f%%", tc.q, got, tc.want, 100*tc.relErr)
			}
		})
	}
}

func TestHistogramBinsAreOrdered(t *testing.T) {
	prev := time.Duration(-1)
	for i := range numBins {
		m := binMid(i)
		if m <= prev {
			t.Fatalf("bin %d midpoint %s is not above bin %d's %s", i, m, i-1, prev)
		}
		if i > 0 && binOf(m) != i {
			t.Fatalf("binOf(binMid(%d)) = %d", i, binOf(m))
		}
		prev = m
	}
}

// A bucket's histogram keeps only the span of bins it has seen; it must
// answer every quantile as the full histogram does, whichever order the
// values come in (the span grows down and up).
func TestSpanHistogramMatchesHistogram(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var full histogram
		var span spanHistogram
		var mx time.Duration
		n := 1 + rng.IntN(300)
		for range n {
			// Log-uniform from 1µs to about 4 minutes: all bins, the
			// first and the overflow one included.
			v := time.Duration(math.Exp(rng.Float64()*math.Log(float64(4*time.Minute/time.Microsecond))) * float64(time.Microsecond))
			if round%3 == 0 {
				v = 300*time.Microsecond + time.Duration(rng.IntN(200))*time.Microsecond // a narrow span
			}
			full.add(v)
			span.add(v)
			mx = max(mx, v)
		}
		for _, q := range []float64{0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1} {
			if got, want := span.quantile(q, uint64(n), mx), full.quantile(q, uint64(n), mx); got != want {
				t.Fatalf("round %d, %d values: quantile(%g) = %s, the full histogram's %s", round, n, q, got, want)
			}
		}
		if len(span.counts) > numBins {
			t.Fatalf("round %d: %d bins kept, more than the %d of a full histogram", round, len(span.counts), numBins)
		}
	}
	var empty spanHistogram
	if got := empty.quantile(0.5, 0, 0); got != 0 {
		t.Errorf("quantile of nothing = %s", got)
	}
}

func TestFailureRecordsShareTheirTextsAndStayWithinTheCap(t *testing.T) {
	g := newAggregator(t0, 100*time.Millisecond, time.Hour, "X-Pod-Name", 100)
	for i := range 250 {
		r := failResult(time.Duration(i)*time.Millisecond, 503, string([]byte("503 Service Unavailable")))
		r.URL = "http://user:secret@h/"
		r.Headers = http.Header{"X-Pod-Name": {string([]byte("pod-a"))}}
		g.add(r, false)
		if cap(g.failures) > 100 {
			t.Fatalf("after %d failures the records have room for %d, past the cap of 100", i+1, cap(g.failures))
		}
	}
	res := g.result(t0.Add(time.Second), 10)
	if len(res.FailureList) != 100 || res.Dropped != 150 {
		t.Fatalf("%d records, %d dropped", len(res.FailureList), res.Dropped)
	}
	first, last := res.FailureList[0], res.FailureList[99]
	if first.URL != "http://user:xxxxx@h/" || first.Pod != "pod-a" || first.Error != "503 Service Unavailable" {
		t.Errorf("record %+v", first)
	}
	for _, s := range [][2]string{{first.Error, last.Error}, {first.Pod, last.Pod}, {first.URL, last.URL}} {
		if unsafe.StringData(s[0]) != unsafe.StringData(s[1]) {
			t.Errorf("%q is held twice, want one copy shared by the records", s[0])
		}
	}
}

func TestNoFailuresIsAnEmptyListNotNil(t *testing.T) {
	g := newAggregator(t0, 100*time.Millisecond, time.Hour, "", 100)
	g.add(okResult(0, time.Millisecond, ""), false)
	if res := g.result(t0.Add(time.Second), 10); res.FailureList == nil || len(res.FailureList) != 0 {
		t.Errorf("failure list %#v, want empty (a JSON array, not null)", res.FailureList)
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func ramp(step time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * step
	}
	return out
}

// feed adds n successful results spread evenly over span, like a constant
// rate of n/span, through the same path as a live attack.
func feed(g *aggregator, n int, span time.Duration) {
	r := &vegeta.Result{Code: 200, URL: "http://h/", Headers: http.Header{"X-Pod-Name": {"pod-a"}}}
	pods := []string{"pod-a", "pod-b", "pod-c"}
	for i := range n {
		r.Timestamp = t0.Add(span * time.Duration(i) / time.Duration(n))
		r.Latency = time.Duration(200+i%5000) * time.Microsecond
		r.Headers["X-Pod-Name"][0] = pods[i%len(pods)]
		g.add(r, i%2 == 0)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// The requirement: memory depends on the run's duration, not on the
// number of requests. Same 10s window (100 buckets), 10x the requests.
func TestHeapDoesNotGrowWithRequestCount(t *testing.T) {
	const span = 10 * time.Second
	grow := func(n int) (uint64, int) {
		before := heapInUse()
		g := newAggregator(t0, 100*time.Millisecond, time.Hour, "X-Pod-Name", 10000)
		feed(g, n, span)
		after := heapInUse()
		runtime.KeepAlive(g)
		if after < before {
			return 0, len(g.buckets)
		}
		return after - before, len(g.buckets)
	}
	small, smallBuckets := grow(10_000)
	large, largeBuckets := grow(100_000)
	t.Logf("heap growth: 10k results %d KiB in %d buckets, 100k results %d KiB in %d buckets",
		small/1024, smallBuckets, large/1024, largeBuckets)
	if smallBuckets != largeBuckets {
		t.Fatalf("bucket counts differ: %d vs %d", smallBuckets, largeBuckets)
	}
	const slack = 2 << 20
	if large > small+slack {
		t.Errorf("heap after 100k results (%d KiB) exceeds heap after 10k (%d KiB) by more than %d KiB",
			large/1024, small/1024, slack/1024)
	}
}

func BenchmarkAggregate(b *testing.B) {
	g := newAggregator(t0, 100*time.Millisecond, 2*time.Hour, "X-Pod-Name", 10000)
	r := &vegeta.Result{Code: 200, URL: "http://h/", Headers: http.Header{"X-Pod-Name": {"pod-a"}}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// 1000 results/s: b.N results cover b.N ms.
		r.Timestamp = t0.Add(time.Duration(i) * time.Millisecond)
		r.Latency = time.Duration(100+i%3000) * time.Microsecond
		g.add(r, false)
		i++
	}
}
