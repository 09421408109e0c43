package attack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// streamBenchResults is how many results one stream of the stream
// benchmarks holds: 100 s of one attacker at 1,000/s.
const streamBenchResults = 100_000

// benchStream encodes a stream of n results as an attacker writes them: 9
// in 10 answered 200 by one of 3 pods, 1 in 10 a 503, a beacon every 1,000.
func benchStream(tb testing.TB, n int, t0 time.Time) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := NewStreamEncoder(&buf)
	if err := enc.Header(StreamRecord{Attacker: "bench", Start: t0, Rate: 1000, Targets: 1, Connections: ConnectionsReused}); err != nil {
		tb.Fatal(err)
	}
	pods := []string{"web-5d8f7-abcde", "web-5d8f7-fghij", "web-5d8f7-klmno"}
	var failures int64
	for i := range n {
		r := &vegeta.Result{Seq: uint64(i), Code: 200, Timestamp: t0.Add(time.Duration(i) * time.Millisecond),
			Latency: 1500 * time.Microsecond, BytesIn: 3, Method: "GET", URL: "http://web.shop.svc:8080/healthz"}
		pod := pods[i%3]
		if i%10 == 9 {
			r.Code, pod = 503, ""
			failures++
		}
		if err := enc.Result(r, i%50 != 0, pod); err != nil {
			tb.Fatal(err)
		}
		if i%1000 == 999 {
			if err := enc.Beacon(StreamRecord{Seq: uint64(i / 1000), Time: r.Timestamp, Requests: int64(i + 1), Failures: failures}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := enc.End(StreamRecord{Time: t0.Add(time.Duration(n) * time.Millisecond), Requests: int64(n), Failures: failures, AchievedRate: 1000}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkStreamEncode: an attacker's cost to write one result.
func BenchmarkStreamEncode(b *testing.B) {
	r := &vegeta.Result{Seq: 1, Code: 200, Timestamp: time.Now(), Latency: 1500 * time.Microsecond,
		BytesIn: 3, Method: "GET", URL: "http://web.shop.svc:8080/healthz", Headers: http.Header{"X-Pod-Name": {"web-1"}}}
	enc := NewStreamEncoder(io.Discard)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Seq = uint64(i)
		if err := enc.Result(r, true, "web-1"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(ns, "ns/result")
	if b.N > 1000 {
		fmt.Printf("bench stream_encode_ns_per_result %.0f\n", ns)
	}
}

// BenchmarkStreamDecodeFeed: rollcheck's cost per remote result, from the
// stream's bytes to the aggregate: decode, shift to this clock, rebuild the
// vegeta result and Feed it, as run --attackers does for each attacker.
func BenchmarkStreamDecodeFeed(b *testing.B) {
	t0 := time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC)
	data := benchStream(b, streamBenchResults, t0)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	var fed int
	for i := 0; i < b.N; i++ {
		a, err := New(Config{Targets: []Target{{URL: "http://web.shop.svc:8080/healthz"}}, Rate: Rate{1000, time.Second},
			NoLocal: true, PodHeader: "X-Pod-Name", MaxDuration: 10 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		a.Start(context.Background())
		offset := time.Since(t0) // the attacker's clock to ours
		d := NewStreamDecoder(bytes.NewReader(data))
		for {
			rec, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if rec.Type != RecordResult {
				continue
			}
			r := rec.VegetaResult("X-Pod-Name")
			r.Timestamp = r.Timestamp.Add(offset)
			if !a.Feed(r, rec.Reused) {
				b.Fatal("Feed refused a result")
			}
			fed++
		}
		res := a.Stop()
		if res.Requests != streamBenchResults || res.Failures != streamBenchResults/10 {
			b.Fatalf("aggregate %d requests, %d failures; want %d, %d", res.Requests, res.Failures, streamBenchResults, streamBenchResults/10)
		}
	}
	b.StopTimer()
	ns := float64(b.Elapsed().Nanoseconds()) / float64(fed)
	b.ReportMetric(ns, "ns/result")
	fmt.Printf("bench stream_decode_feed_ns_per_result %.0f\n", ns)
	fmt.Printf("bench stream_bytes_per_result %.0f\n", float64(len(data))/streamBenchResults)
}
