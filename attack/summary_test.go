package attack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// summaryResults is a load of n results at 1,000/s from t0 over both
// streams, as an attacker sees them complete: 3 pods, latencies from
// 0.2 ms to 40 ms, a 503 in 13 and a timeout in 41 (no pod), some kept
// connections, and every tenth result completing after the next one.
func summaryResults(t0 time.Time, n int) []*vegeta.Result {
	pods := []string{"web-a", "web-b", "web-c"}
	out := make([]*vegeta.Result, 0, n)
	for i := range n {
		r := &vegeta.Result{Seq: uint64(i), Code: 200, Timestamp: t0.Add(time.Duration(i)*time.Millisecond - 5*time.Millisecond),
			Latency: 200*time.Microsecond + time.Duration(i%41)*time.Millisecond, Method: "GET", URL: "http://web/",
			Attack: string(streamNames[i%2]), Headers: http.Header{"X-Pod-Name": {pods[i%3]}}}
		switch {
		case i%13 == 0:
			r.Code, r.Headers = 503, nil
		case i%41 == 0:
			r.Code, r.Error, r.Headers, r.Latency = 0, "Get \"http://web/\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)", nil, 5*time.Second
		}
		out = append(out, r)
	}
	for i := 9; i < len(out); i += 10 {
		out[i-1], out[i] = out[i], out[i-1]
	}
	return out
}

func reusedOf(r *vegeta.Result) bool { return r.Attack == string(StreamReused) && r.Seq%5 != 0 }

// The summarized stream (v2) loses nothing the report reads from
// successes: an aggregate fed from it, the successes merged from summaries
// and the failures added one by one, equals the one fed every result,
// bucket by bucket (counts, pods, latency quantiles and maximum), in its
// totals, streams, pods' first and last successes and failure records,
// with the attacker's clock 250 ms off.
func TestSummarizedStreamGivesTheSameAggregate(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	const width, skew = 100 * time.Millisecond, 250 * time.Millisecond
	results := summaryResults(t0, 3000)

	every := newAggregator(t0, width, time.Minute, "X-Pod-Name", 1000)
	for _, r := range results {
		si, _ := streamIndex(r.Attack)
		every.addStream(r, reusedOf(r), si)
	}

	var buf bytes.Buffer
	enc := NewStreamEncoder(&buf)
	enc.Skew, enc.Version = skew, StreamVersionSummary
	if err := enc.Header(StreamRecord{Attacker: "a", Start: t0, Rate: 1000}); err != nil {
		t.Fatal(err)
	}
	sum := newSummarizer(t0, width)
	pod := PodFinder("X-Pod-Name")
	var seq uint64
	for i, r := range results {
		if classify(r.Code, r.Error, r.URL) == idxOK {
			sum.add(r, reusedOf(r), pod(r))
		} else if err := enc.Result(r, reusedOf(r), pod(r)); err != nil {
			t.Fatal(err)
		}
		if i%700 == 699 || i == len(results)-1 {
			if err := enc.Summary(seq, sum.take()); err != nil {
				t.Fatal(err)
			}
			seq++
		}
	}
	if sum.take() != nil {
		t.Fatal("a summary after every success was taken")
	}
	if err := enc.End(StreamRecord{Time: t0.Add(3 * time.Second), Requests: 3000}); err != nil {
		t.Fatal(err)
	}

	merged := newAggregator(t0, width, time.Minute, "X-Pod-Name", 1000)
	dec := NewStreamDecoder(&buf)
	summaries := 0
	for {
		rec, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch rec.Type {
		case RecordResult:
			r := rec.VegetaResult("X-Pod-Name")
			r.Timestamp = r.Timestamp.Add(-skew)
			si, _ := streamIndex(r.Attack)
			merged.addStream(r, rec.Reused, si)
		case RecordSummary:
			summaries++
			merged.merge(rec.Summary, skew)
		}
	}
	if dec.Version() != StreamVersionSummary || summaries != 5 {
		t.Fatalf("version %q, %d summaries; want v2 and 5", dec.Version(), summaries)
	}

	end := t0.Add(3 * time.Second)
	want, got := every.result(end, 1000), merged.result(end, 1000)
	if got.Requests != want.Requests || got.Failures != want.Failures || got.Requests != 3000 {
		t.Fatalf("%d requests, %d failed; want %d, %d", got.Requests, got.Failures, want.Requests, want.Failures)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"by class", got.ByClass, want.ByClass},
		{"quantiles", []time.Duration{got.P50, got.P95, got.P99, got.Max}, []time.Duration{want.P50, want.P95, want.P99, want.Max}},
		{"buckets", got.Buckets, want.Buckets},
		{"streams", got.Streams, want.Streams},
		{"first success by pod", got.FirstByPod, want.FirstByPod},
		{"last success by pod", got.LastByPod, want.LastByPod},
		{"failures", got.FailureList, want.FailureList},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s differ:\n got %v\nwant %v", c.name, c.got, c.want)
		}
	}
	if every.firstSeen != merged.firstSeen || every.lastSeen != merged.lastSeen {
		t.Errorf("first and last request %s %s, want %s %s", merged.firstSeen, merged.lastSeen, every.firstSeen, every.lastSeen)
	}
}

// A summary that does not add up is refused before any of it is counted.
func TestStreamDecoderRefusesABadSummary(t *testing.T) {
	header := strings.Replace(testHeaderLine, "/v1", "/v2", 1)
	for name, c := range map[string]struct{ in, errHas string }{
		"counts against the histogram": {header + "\n" + `{"type":"summary","seq":0,"summary":{"origin":"2026-12-06T10:00:00Z","width":100000000,"buckets":[{"i":0,"counts":[{"stream":"reused","n":3}],"hist_lo":40,"hist":[2],"max":1000000}]}}` + "\n",
			"3 successes counted, 2 in its histogram"},
		"bins out of range": {header + "\n" + `{"type":"summary","seq":0,"summary":{"origin":"2026-12-06T10:00:00Z","width":100000000,"buckets":[{"i":0,"counts":[{"stream":"reused","n":1}],"hist_lo":500,"hist":[1],"max":1}]}}` + "\n",
			"histogram bins 500..500"},
		"no width": {header + "\n" + `{"type":"summary","seq":0,"summary":{"origin":"2026-12-06T10:00:00Z","buckets":[]}}` + "\n",
			"bucket width 0s"},
		"unknown stream": {header + "\n" + `{"type":"summary","seq":0,"summary":{"origin":"2026-12-06T10:00:00Z","width":100000000,"buckets":[{"i":0,"counts":[{"stream":"other","n":1}],"hist_lo":40,"hist":[1],"max":1}]}}` + "\n",
			`unknown load stream "other"`},
		"in a v1 stream": {testHeaderLine + "\n" + `{"type":"summary","seq":0,"summary":{"origin":"2026-12-06T10:00:00Z","width":100000000,"buckets":[]}}` + "\n",
			"a summary record in a rollcheck.attack/v1 stream"},
	} {
		t.Run(name, func(t *testing.T) {
			dec := NewStreamDecoder(strings.NewReader(c.in))
			if _, err := dec.Next(); err != nil {
				t.Fatalf("header: %v", err)
			}
			_, err := dec.Next()
			if err == nil || !strings.Contains(err.Error(), c.errHas) {
				t.Errorf("err = %v, want one containing %q", err, c.errHas)
			}
		})
	}
}

// BenchmarkStreamBytesPerSecond: the stream an attacker writes per second
// of a clean load (every request a success, 3 pods, one stream of kept
// connections), every result (v1) against summaries (v2) at each 1 s
// beacon, at 500, 2,000 and 5,000 requests/s: v1 grows with the rate, v2
// with the buckets and pods alone.
func BenchmarkStreamBytesPerSecond(b *testing.B) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	const seconds = 10
	pods := []string{"web-5d8f7-abcde", "web-5d8f7-fghij", "web-5d8f7-klmno"}
	for _, rate := range []int{500, 2000, 5000} {
		for _, v2 := range []bool{false, true} {
			name := fmt.Sprintf("v1/%d", rate)
			if v2 {
				name = fmt.Sprintf("v2/%d", rate)
			}
			b.Run(name, func(b *testing.B) {
				var size int
				for range b.N {
					var cw countingWriter
					enc := NewStreamEncoder(&cw)
					if v2 {
						enc.Version = StreamVersionSummary
					}
					_ = enc.Header(StreamRecord{Attacker: "bench", Start: t0, Rate: float64(rate), Targets: 1, Connections: ConnectionsReused})
					sum := newSummarizer(t0, DefaultBucketWidth)
					step := time.Second / time.Duration(rate)
					for s := range seconds {
						for i := range rate {
							r := &vegeta.Result{Seq: uint64(s*rate + i), Code: 200, Timestamp: t0.Add(time.Duration(s)*time.Second + time.Duration(i)*step),
								Latency: 1500*time.Microsecond + time.Duration(i%7)*100*time.Microsecond, BytesIn: 3, Method: "GET", URL: "http://web.shop.svc:8080/", Attack: string(StreamReused)}
							if v2 {
								sum.add(r, i%50 != 0, pods[i%3])
							} else {
								_ = enc.Result(r, i%50 != 0, pods[i%3])
							}
						}
						if sm := sum.take(); sm != nil {
							_ = enc.Summary(uint64(s), sm)
						}
						_ = enc.Beacon(StreamRecord{Seq: uint64(s), Time: t0.Add(time.Duration(s+1) * time.Second), Requests: int64((s + 1) * rate)})
					}
					_ = enc.End(StreamRecord{Time: t0.Add(seconds * time.Second), Requests: int64(seconds * rate), AchievedRate: float64(rate)})
					size = cw.n
				}
				perSec := float64(size) / seconds
				b.ReportMetric(perSec, "bytes/s")
				if b.N > 0 {
					v := "v1"
					if v2 {
						v = "v2"
					}
					fmt.Printf("bench attack_stream_%s_bytes_per_s_at_%d %.0f\n", v, rate, perSec)
				}
			})
		}
	}
}

type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// BenchmarkSummaryMerge: rollcheck's cost to merge one bucket of an
// attacker's summary (3 pods, both kinds of connection, a latency spread
// over 12 bins) into the run's aggregate.
func BenchmarkSummaryMerge(b *testing.B) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	sum := newSummarizer(t0, DefaultBucketWidth)
	pods := []string{"web-5d8f7-abcde", "web-5d8f7-fghij", "web-5d8f7-klmno"}
	const buckets = 10
	for i := range buckets * 500 {
		r := &vegeta.Result{Timestamp: t0.Add(time.Duration(i) * 200 * time.Microsecond), Code: 200,
			Latency: time.Millisecond + time.Duration(i%12)*150*time.Microsecond, Attack: string(StreamReused)}
		sum.add(r, i%50 != 0, pods[i%3])
	}
	sm := sum.take()
	g := newAggregator(t0, DefaultBucketWidth, time.Hour, "X-Pod-Name", 1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Each round a second later, as the run's summaries come.
		sm.Origin = t0.Add(time.Duration(i%3000) * time.Second)
		g.merge(sm, 0)
	}
	b.StopTimer()
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / buckets
	b.ReportMetric(ns, "ns/bucket")
	if b.N > 100 {
		fmt.Printf("bench attack_summary_merge_ns_per_bucket %.0f\n", ns)
	}
}
