package attack

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

var streamT0 = time.Date(2026, 12, 1, 14, 0, 0, 123456789, time.UTC)

// decodeAll reads every record until an error, which it returns with them.
func decodeAll(t *testing.T, r io.Reader) ([]*StreamRecord, error) {
	t.Helper()
	d := NewStreamDecoder(r)
	var out []*StreamRecord
	for {
		rec, err := d.Next()
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

func TestStreamRoundTripKeepsEveryField(t *testing.T) {
	var buf bytes.Buffer
	enc := NewStreamEncoder(&buf)
	header := StreamRecord{Attacker: "attacker-0", Start: streamT0, Rate: 333.5, Targets: 2, Connections: ConnectionsReused}
	results := []struct {
		r      vegeta.Result
		reused bool
		pod    string
	}{
		{vegeta.Result{Seq: 0, Code: 200, Timestamp: streamT0.Add(time.Millisecond), Latency: 1234567,
			BytesIn: 12, BytesOut: 0, Method: "GET", URL: "http://127.0.0.1:8080/", Attack: string(StreamReused)}, true, "web-1"},
		{vegeta.Result{Seq: 1, Code: 0, Timestamp: streamT0.Add(2 * time.Millisecond), Latency: 30 * time.Second,
			Error: "Get \"http://x/\": read tcp: connection reset by peer\n<é>&", Method: "POST", URL: "http://user:s3cret@host/p?q=1"}, false, ""},
		{vegeta.Result{Seq: 2, Code: 503, Timestamp: streamT0.Add(3 * time.Millisecond), Method: "GET", URL: "http://svc.ns.svc:80/"}, true, ""},
	}
	if err := enc.Header(header); err != nil {
		t.Fatal(err)
	}
	for _, x := range results {
		if err := enc.Result(&x.r, x.reused, x.pod); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Beacon(StreamRecord{Seq: 0, Time: streamT0.Add(time.Second), Requests: 3, Failures: 2}); err != nil {
		t.Fatal(err)
	}
	if err := enc.End(StreamRecord{Time: streamT0.Add(1500 * time.Millisecond), Requests: 3, Failures: 2, AchievedRate: 2}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "s3cret") {
		t.Fatalf("the stream carries a URL's password:\n%s", buf.String())
	}
	if n := strings.Count(buf.String(), "\n"); n != 6 {
		t.Fatalf("want 6 lines, got %d:\n%s", n, buf.String())
	}

	recs, err := decodeAll(t, &buf)
	if err != io.EOF {
		t.Fatalf("decode ended with %v, want io.EOF", err)
	}
	if len(recs) != 6 {
		t.Fatalf("decoded %d records, want 6", len(recs))
	}
	h := recs[0]
	if h.Type != RecordHeader || h.Version != StreamVersion || h.Attacker != "attacker-0" || !h.Start.Equal(streamT0) ||
		h.Rate != 333.5 || h.Targets != 2 || h.Connections != ConnectionsReused {
		t.Errorf("header = %+v", h)
	}
	for i, x := range results {
		got := recs[1+i]
		if got.Type != RecordResult || got.Reused != x.reused || got.Pod != x.pod || string(got.Stream) != x.r.Attack {
			t.Errorf("result %d: type %q reused %v pod %q, want result %v %q", i, got.Type, got.Reused, got.Pod, x.reused, x.pod)
		}
		want := x.r
		want.URL = RedactURL(want.URL)
		if back := got.VegetaResult(""); !back.Equal(want) {
			t.Errorf("result %d: decoded %+v, want %+v", i, *back, want)
		}
	}
	b := recs[4]
	if b.Type != RecordBeacon || b.Seq != 0 || !b.Time.Equal(streamT0.Add(time.Second)) || b.Requests != 3 || b.Failures != 2 {
		t.Errorf("beacon = %+v", b)
	}
	e := recs[5]
	if e.Type != RecordEnd || !e.Time.Equal(streamT0.Add(1500*time.Millisecond)) || e.Requests != 3 || e.Failures != 2 || e.AchievedRate != 2 {
		t.Errorf("end = %+v", e)
	}
}

func TestStreamResultLinesCarryZeroCodeAndSeq(t *testing.T) {
	var buf bytes.Buffer
	enc := NewStreamEncoder(&buf)
	if err := enc.Result(&vegeta.Result{Timestamp: streamT0}, false, ""); err != nil {
		t.Fatal(err)
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	for _, f := range []string{`"seq":0`, `"code":0`, `"reused":false`, `"latency":0`, `"bytes_in":0`} {
		if !strings.Contains(line, f) {
			t.Errorf("result line lacks %s: %s", f, line)
		}
	}
	for _, f := range []string{`"error"`, `"pod"`, `"headers"`, `"body"`} {
		if strings.Contains(line, f) {
			t.Errorf("result line has %s: %s", f, line)
		}
	}
}

func TestStreamEncoderFlushesAtBeaconAndEnd(t *testing.T) {
	var buf bytes.Buffer
	enc := NewStreamEncoder(&buf)
	if err := enc.Header(StreamRecord{Start: streamT0}); err != nil {
		t.Fatal(err)
	}
	if err := enc.Result(&vegeta.Result{Timestamp: streamT0, Code: 200}, true, ""); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("header and result written before a beacon (%d bytes): the encoder does not buffer", buf.Len())
	}
	if err := enc.Beacon(StreamRecord{Time: streamT0}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 3 {
		t.Fatalf("after a beacon the writer has %d lines, want 3", n)
	}
	if err := enc.Result(&vegeta.Result{Timestamp: streamT0, Code: 200}, true, ""); err != nil {
		t.Fatal(err)
	}
	if err := enc.End(StreamRecord{Time: streamT0}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 5 {
		t.Fatalf("after the end the writer has %d lines, want 5", n)
	}
}

type brokenWriter struct{ n int }

func (w *brokenWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, errors.New("disk full")
}

func TestStreamEncoderWriteErrorSticks(t *testing.T) {
	w := &brokenWriter{}
	enc := NewStreamEncoder(w)
	if err := enc.Beacon(StreamRecord{Time: streamT0}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Beacon on a failing writer = %v", err)
	}
	if err := enc.Result(&vegeta.Result{}, false, ""); err == nil {
		t.Fatal("Result after a write error returned nil")
	}
	if err := enc.End(StreamRecord{}); err == nil {
		t.Fatal("End after a write error returned nil")
	}
	if w.n != 1 {
		t.Errorf("the failing writer was called %d times, want once", w.n)
	}
}

func TestStreamEncoderSkewShiftsEveryTime(t *testing.T) {
	var buf bytes.Buffer
	enc := NewStreamEncoder(&buf)
	enc.Skew = -250 * time.Millisecond
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(enc.Header(StreamRecord{Start: streamT0}))
	must(enc.Result(&vegeta.Result{Timestamp: streamT0, Latency: time.Second}, false, ""))
	must(enc.Beacon(StreamRecord{Time: streamT0}))
	must(enc.End(StreamRecord{Time: streamT0}))
	recs, err := decodeAll(t, &buf)
	if err != io.EOF || len(recs) != 4 {
		t.Fatalf("decoded %d records, %v", len(recs), err)
	}
	want := streamT0.Add(-250 * time.Millisecond)
	for _, got := range []time.Time{recs[0].Start, recs[1].Timestamp, recs[2].Time, recs[3].Time} {
		if !got.Equal(want) {
			t.Errorf("time %s, want %s", got, want)
		}
	}
	if recs[1].Latency != time.Second {
		t.Errorf("skew changed the latency: %s", recs[1].Latency)
	}
}

func TestStreamEncoderIsSafeForConcurrentUse(t *testing.T) {
	var buf bytes.Buffer
	enc := NewStreamEncoder(&buf)
	if err := enc.Header(StreamRecord{Start: streamT0}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := &vegeta.Result{Seq: uint64(w*each + i), Timestamp: streamT0, Code: 200, URL: "http://h/"}
				if err := enc.Result(r, false, "pod"); err != nil {
					t.Error(err)
					return
				}
				if i%100 == 0 {
					if err := enc.Beacon(StreamRecord{Time: streamT0}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := enc.End(StreamRecord{Time: streamT0}); err != nil {
		t.Fatal(err)
	}
	recs, err := decodeAll(t, &buf)
	if err != io.EOF {
		t.Fatalf("decode: %v", err)
	}
	seen := map[uint64]bool{}
	for _, r := range recs {
		if r.Type == RecordResult {
			seen[r.Seq] = true
		}
	}
	if len(seen) != writers*each {
		t.Errorf("decoded %d distinct results, want %d", len(seen), writers*each)
	}
}

const testHeaderLine = `{"type":"header","version":"rollcheck.attack/v1","attacker":"a","start":"2026-12-01T14:00:00Z","rate":10,"targets":1,"connections":"both"}`

func TestStreamDecoderErrors(t *testing.T) {
	result := `{"type":"result","seq":1,"timestamp":"2026-12-01T14:00:00Z","latency":5,"code":200,"method":"GET","url":"http://h/","reused":false,"bytes_in":1,"bytes_out":0}`
	tests := []struct {
		name      string
		in        string
		records   int    // decoded before the error
		errHas    string // "" for io.EOF
		partial   bool
		notRecord bool // the error matches ErrNotRecord: the caller may go on
	}{
		{name: "an empty stream is just the end", in: "", errHas: ""},
		{name: "a header and a result then EOF", in: testHeaderLine + "\n" + result + "\n", records: 2},
		{name: "a last line without newline that is whole is kept", in: testHeaderLine + "\n" + result, records: 2},
		{name: "a cut last line is an unexpected EOF", in: testHeaderLine + "\n" + result[:40], records: 1, errHas: "line 2", partial: true},
		{name: "another version is refused", in: strings.Replace(testHeaderLine, "/v1", "/v9", 1) + "\n", errHas: `line 1: version "rollcheck.attack/v9"`},
		{name: "a header without a version is refused", in: `{"type":"header"}` + "\n", errHas: `version ""`},
		{name: "a result before the header", in: result + "\n", errHas: "line 1: result record before the header"},
		{name: "a line of text names its number", in: testHeaderLine + "\n" + result + "\nE1201 oops\n", records: 2, errHas: "line 3: not a record", notRecord: true},
		{name: "a JSON line without type", in: testHeaderLine + "\n{\"seq\":1}\n", records: 1, errHas: `line 2: not a record: no "type"`, notRecord: true},
		{name: "a second header", in: testHeaderLine + "\n" + testHeaderLine + "\n", records: 1, errHas: "line 2: a second header"},
		{name: "blank lines are skipped", in: "\n" + testHeaderLine + "\n\n" + result + "\n\n", records: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := decodeAll(t, strings.NewReader(tt.in))
			if len(recs) != tt.records {
				t.Errorf("decoded %d records, want %d", len(recs), tt.records)
			}
			if tt.errHas == "" {
				if err != io.EOF {
					t.Fatalf("err = %v, want io.EOF", err)
				}
				return
			}
			if err == nil || err == io.EOF || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("err = %v, want one containing %q", err, tt.errHas)
			}
			if got := errors.Is(err, io.ErrUnexpectedEOF); got != tt.partial {
				t.Errorf("errors.Is(err, io.ErrUnexpectedEOF) = %v, want %v", got, tt.partial)
			}
			if got := errors.Is(err, ErrNotRecord); got != tt.notRecord {
				t.Errorf("errors.Is(err, ErrNotRecord) = %v, want %v", got, tt.notRecord)
			}
		})
	}
}

func TestStreamDecoderGoesOnAfterAMalformedLine(t *testing.T) {
	in := testHeaderLine + "\nnot json\n" + `{"type":"beacon","seq":3,"time":"2026-12-01T14:00:01Z","requests":10,"failures":0}` + "\n"
	d := NewStreamDecoder(strings.NewReader(in))
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); !errors.Is(err, ErrNotRecord) || err.Error() != `result stream line 2: not a record: invalid character 'o' in literal null (expecting 'u'): "not json"` {
		t.Fatalf("malformed line: err = %v, want ErrNotRecord with the text users saw before", err)
	}
	rec, err := d.Next()
	if err != nil || rec.Type != RecordBeacon || rec.Seq != 3 || rec.Requests != 10 || d.Line() != 3 {
		t.Fatalf("after the malformed line: %+v, %v, line %d", rec, err, d.Line())
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("then %v, want io.EOF", err)
	}
}

func TestStreamDecoderReturnsUnknownTypesForTheCallerToSkip(t *testing.T) {
	in := testHeaderLine + "\n" + `{"type":"note","text":"added later","seq":7}` + "\n"
	recs, err := decodeAll(t, strings.NewReader(in))
	if err != io.EOF || len(recs) != 2 || recs[1].Type != "note" || recs[1].Seq != 7 {
		t.Fatalf("records %+v, %v", recs, err)
	}
}

func TestStreamDecoderRefusesAHugeLine(t *testing.T) {
	in := testHeaderLine + "\n" + `{"type":"result","error":"` + strings.Repeat("x", maxStreamLine) + `"}` + "\n"
	_, err := decodeAll(t, strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "line 2: longer than") {
		t.Fatalf("err = %v", err)
	}
}

func TestVegetaResultPutsThePodWhereTheAggregatorLooks(t *testing.T) {
	rec := &StreamRecord{Type: RecordResult, Seq: 4, Code: 200, Timestamp: streamT0.Add(50 * time.Millisecond), Pod: "web-7"}
	r := rec.VegetaResult(" x-lab-target , X-Pod-Name")
	if got := r.Headers.Get("X-Lab-Target"); got != "web-7" || len(r.Headers) != 1 {
		t.Fatalf("headers %v", r.Headers)
	}
	if r := rec.VegetaResult(""); r.Headers != nil {
		t.Errorf("with no pod header, headers %v", r.Headers)
	}
	g := newAggregator(streamT0, 100*time.Millisecond, time.Minute, "X-Lab-Target,X-Pod-Name", 10)
	g.add(r, true)
	res := g.result(streamT0.Add(time.Second), 1)
	if res.Buckets[0].Pods["web-7"] != 1 || !res.FirstByPod["web-7"].Equal(rec.Timestamp) {
		t.Errorf("the aggregator did not see the pod: buckets %+v", res.Buckets)
	}
	if (&StreamRecord{Pod: ""}).VegetaResult("X-Pod-Name").Headers != nil {
		t.Error("a record without a pod got headers")
	}
}

// FuzzStreamRoundTrip: whatever a result holds, the stream carries it back
// unchanged (URL redacted), on one line.
func FuzzStreamRoundTrip(f *testing.F) {
	f.Add(uint64(0), uint16(200), int64(1234), "", "GET", "http://h/", true, "pod-a", uint64(10), uint64(0), int64(0))
	f.Add(uint64(1<<63), uint16(0), int64(-1), "reset\nby peer \u2028 \"q\"", "PUT", "http://u:p@h/x", false, "", uint64(0), uint64(5), int64(-3600e9))
	f.Fuzz(func(t *testing.T, seq uint64, code uint16, latency int64, errText, method, url string, reused bool, pod string, in, out uint64, offset int64) {
		ts := streamT0.Add(time.Duration(offset))
		r := vegeta.Result{Seq: seq, Code: code, Timestamp: ts, Latency: time.Duration(latency), Error: errText,
			Method: method, URL: url, BytesIn: in, BytesOut: out}
		var buf bytes.Buffer
		enc := NewStreamEncoder(&buf)
		if err := enc.Header(StreamRecord{Start: streamT0}); err != nil {
			t.Fatal(err)
		}
		if err := enc.Result(&r, reused, pod); err != nil {
			t.Fatal(err)
		}
		if err := enc.Flush(); err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 2 {
			t.Fatalf("%d lines for a header and a result", n)
		}
		recs, err := decodeAll(t, &buf)
		if err != io.EOF || len(recs) != 2 {
			t.Fatalf("decoded %d records, %v", len(recs), err)
		}
		got := recs[1]
		want := r
		want.URL = RedactURL(url)
		// JSON carries strings as UTF-8: each invalid byte becomes U+FFFD.
		want.Error, want.Method, want.URL = validUTF8(want.Error), validUTF8(want.Method), validUTF8(want.URL)
		if back := got.VegetaResult(""); !back.Equal(want) || got.Reused != reused || got.Pod != validUTF8(pod) {
			t.Fatalf("round trip: got %+v (reused %v, pod %q), want %+v (reused %v, pod %q)", *back, got.Reused, got.Pod, want, reused, pod)
		}
	})
}

// FuzzStreamDecoder: any input ends in records and an error, never a panic
// or a loop, and every error but the end names a line.
func FuzzStreamDecoder(f *testing.F) {
	f.Add(testHeaderLine + "\n" + `{"type":"result","seq":1}` + "\n")
	f.Add(testHeaderLine + "\n{\"type\":\n")
	f.Add("\n\n{}")
	f.Fuzz(func(t *testing.T, in string) {
		d := NewStreamDecoder(strings.NewReader(in))
		for i := 0; i <= strings.Count(in, "\n")+1; i++ {
			rec, err := d.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if !strings.Contains(err.Error(), "line ") {
					t.Fatalf("error without a line: %v", err)
				}
				continue
			}
			if rec.Type == "" {
				t.Fatal("a record without a type")
			}
		}
		if _, err := d.Next(); err != io.EOF && err != nil && !strings.Contains(err.Error(), "line") {
			t.Fatalf("after every line: %v", err)
		}
	})
}

// validUTF8 replaces each byte that is not UTF-8 with U+FFFD, as
// encoding/json does.
func validUTF8(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}
