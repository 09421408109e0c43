package attack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// StreamVersion names the result stream's encoding: newline-delimited JSON,
// one record a line, a header first, then results and beacons, an end
// record last (docs/attack-stream.md). Fields added later keep this version;
// a change that breaks a reader of v1 gets a new one.
const StreamVersion = "rollcheck.attack/v1"

// Stream record types.
const (
	RecordHeader = "header"
	RecordResult = "result"
	RecordBeacon = "beacon"
	RecordEnd    = "end"
)

// ErrNotRecord is the error Next returns, wrapped with the line's number
// and an excerpt, for a line that is not a record (a log line of the
// attacker's runtime, say). Unlike the other errors of Next, the stream
// goes on after it: a reader matches it with errors.Is and skips the line.
var ErrNotRecord = errors.New("not a record")

// maxStreamLine bounds one line the decoder reads: a result with a long
// error text is a few hundred bytes; anything near this is not a stream.
const maxStreamLine = 1 << 20

// StreamRecord is one line of the stream. Type says which fields are set:
//
//   - header: Version, Attacker, Start, Rate, Targets, Connections
//   - result: Seq, Timestamp (request start), Latency, Code, Error, Method,
//     URL, Reused, Stream (new or reused; absent from older attackers), Pod,
//     BytesIn, BytesOut
//   - beacon: Seq, Time, Requests, Failures (counts so far)
//   - end: Time, Requests, Failures, AchievedRate
//
// All times are the attacker's clock.
type StreamRecord struct {
	Type string `json:"type"`

	Version     string      `json:"version,omitempty"`
	Attacker    string      `json:"attacker,omitempty"`
	Start       time.Time   `json:"start,omitzero"`
	Rate        float64     `json:"rate,omitempty"`
	Targets     int         `json:"targets,omitempty"`
	Connections Connections `json:"connections,omitempty"`

	Seq       uint64        `json:"seq,omitempty"`
	Timestamp time.Time     `json:"timestamp,omitzero"`
	Latency   time.Duration `json:"latency,omitempty"`
	Code      uint16        `json:"code,omitempty"`
	Error     string        `json:"error,omitempty"`
	Method    string        `json:"method,omitempty"`
	URL       string        `json:"url,omitempty"`
	Reused    bool          `json:"reused,omitempty"`
	Stream    Stream        `json:"stream,omitempty"`
	Pod       string        `json:"pod,omitempty"`
	BytesIn   uint64        `json:"bytes_in,omitempty"`
	BytesOut  uint64        `json:"bytes_out,omitempty"`

	Time         time.Time `json:"time,omitzero"`
	Requests     int64     `json:"requests,omitempty"`
	Failures     int64     `json:"failures,omitempty"`
	AchievedRate float64   `json:"achieved_rate,omitempty"`

	// Summary is a summary record's successes (StreamVersionSummary).
	Summary *Summary `json:"summary,omitempty"`
}

// The encoder writes each type with exactly its own fields, zero values
// included (a result's code 0 and seq 0 are data); StreamRecord's omitempty
// tags only keep other types' fields off a line when a record is marshalled
// whole.
type headerLine struct {
	Type        string      `json:"type"`
	Version     string      `json:"version"`
	Attacker    string      `json:"attacker"`
	Start       time.Time   `json:"start"`
	Rate        float64     `json:"rate"`
	Targets     int         `json:"targets"`
	Connections Connections `json:"connections"`
}

type resultLine struct {
	Type      string        `json:"type"`
	Seq       uint64        `json:"seq"`
	Timestamp time.Time     `json:"timestamp"`
	Latency   time.Duration `json:"latency"`
	Code      uint16        `json:"code"`
	Error     string        `json:"error,omitempty"`
	Method    string        `json:"method"`
	URL       string        `json:"url"`
	Reused    bool          `json:"reused"`
	Stream    Stream        `json:"stream,omitempty"`
	Pod       string        `json:"pod,omitempty"`
	BytesIn   uint64        `json:"bytes_in"`
	BytesOut  uint64        `json:"bytes_out"`
}

type summaryLine struct {
	Type    string   `json:"type"`
	Seq     uint64   `json:"seq"`
	Summary *Summary `json:"summary"`
}

type beaconLine struct {
	Type     string    `json:"type"`
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Requests int64     `json:"requests"`
	Failures int64     `json:"failures"`
}

type endLine struct {
	Type         string    `json:"type"`
	Time         time.Time `json:"time"`
	Requests     int64     `json:"requests"`
	Failures     int64     `json:"failures"`
	AchievedRate float64   `json:"achieved_rate"`
}

// StreamEncoder writes a result stream. Its methods are safe for concurrent
// use; output is buffered and flushed at every beacon, at End and by Flush.
// The first write error sticks: every later call returns it.
type StreamEncoder struct {
	// Skew is added to every time written (header start, result
	// timestamps, beacon and end times). It is for tests that need an
	// attacker whose clock is off; set it before the first record.
	Skew time.Duration
	// Version is the header's version: StreamVersion (the default), or
	// StreamVersionSummary when the successes go in summaries.
	Version string

	mu  sync.Mutex
	w   *bufio.Writer
	enc *json.Encoder
	err error
}

// NewStreamEncoder returns an encoder writing to w.
func NewStreamEncoder(w io.Writer) *StreamEncoder {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &StreamEncoder{w: bw, enc: enc}
}

// Header writes the header record: h's Attacker, Start, Rate, Targets and
// Connections, with this package's StreamVersion.
func (e *StreamEncoder) Header(h StreamRecord) error {
	version := e.Version
	if version == "" {
		version = StreamVersion
	}
	return e.write(&headerLine{Type: RecordHeader, Version: version, Attacker: h.Attacker,
		Start: e.skewed(h.Start), Rate: h.Rate, Targets: h.Targets, Connections: h.Connections}, false)
}

// Result writes one result: r's fields as vegeta's JSON encoding names them
// (its URL redacted, its body and headers left out), whether its connection
// was reused, and the serving pod as the pod header named it ("" for none).
func (e *StreamEncoder) Result(r *vegeta.Result, reused bool, pod string) error {
	return e.write(&resultLine{Type: RecordResult, Seq: r.Seq, Timestamp: e.skewed(r.Timestamp),
		Latency: r.Latency, Code: r.Code, Error: r.Error, Method: r.Method, URL: RedactURL(r.URL),
		Reused: reused, Stream: Stream(r.Attack), Pod: pod, BytesIn: r.BytesIn, BytesOut: r.BytesOut}, false)
}

// Summary writes a summary record (StreamVersionSummary): sm, its times
// skewed as every other.
func (e *StreamEncoder) Summary(seq uint64, sm *Summary) error {
	if e.Skew != 0 {
		c := *sm
		c.Origin, c.First, c.Last = e.skewed(c.Origin), e.skewed(c.First), e.skewed(c.Last)
		if len(sm.Pods) > 0 {
			c.Pods = make(map[string]PodSpan, len(sm.Pods))
			for name, p := range sm.Pods {
				c.Pods[name] = PodSpan{First: e.skewed(p.First), Last: e.skewed(p.Last)}
			}
		}
		sm = &c
	}
	return e.write(&summaryLine{Type: RecordSummary, Seq: seq, Summary: sm}, false)
}

// Beacon writes a clock beacon (b's Seq, Time, Requests and Failures) and
// flushes, so that a reader sees it, and the results before it, at once.
func (e *StreamEncoder) Beacon(b StreamRecord) error {
	return e.write(&beaconLine{Type: RecordBeacon, Seq: b.Seq, Time: e.skewed(b.Time),
		Requests: b.Requests, Failures: b.Failures}, true)
}

// End writes the end record (x's Time, Requests, Failures, AchievedRate)
// and flushes.
func (e *StreamEncoder) End(x StreamRecord) error {
	return e.write(&endLine{Type: RecordEnd, Time: e.skewed(x.Time), Requests: x.Requests,
		Failures: x.Failures, AchievedRate: x.AchievedRate}, true)
}

// Flush writes out whatever is buffered.
func (e *StreamEncoder) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.err
}

func (e *StreamEncoder) skewed(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Add(e.Skew)
}

func (e *StreamEncoder) write(v any, flush bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return e.err
	}
	// json.Encoder ends each value with a newline: one record a line.
	if err := e.enc.Encode(v); err != nil {
		e.err = fmt.Errorf("writing result stream: %w", err)
		return e.err
	}
	if flush {
		if err := e.w.Flush(); err != nil {
			e.err = fmt.Errorf("writing result stream: %w", err)
		}
	}
	return e.err
}

// StreamDecoder reads a result stream record by record.
type StreamDecoder struct {
	r         *bufio.Reader
	line      int
	gotHeader bool
	version   string
	resumed   bool  // Continue: a header may come first, or none
	err       error // sticky: unknown version, read error, end of input
}

// Version is the stream's version, from its header ("" before it).
func (d *StreamDecoder) Version() string { return d.version }

// Continue makes d read the rest of a stream of version whose header an
// earlier decoder read: a log read again after it was cut, from its start
// (its header comes again, and is returned) or from after a rotation (no
// header: its records come at once).
func (d *StreamDecoder) Continue(version string) {
	d.resumed, d.version = true, version
}

// NewStreamDecoder returns a decoder reading from r.
func NewStreamDecoder(r io.Reader) *StreamDecoder {
	return &StreamDecoder{r: bufio.NewReaderSize(r, 64<<10)}
}

// Line returns the number of the line the last record came from (1-based).
func (d *StreamDecoder) Line() int { return d.line }

// Next returns the next record. At the end of the stream it returns io.EOF;
// when the stream ends inside a line (a writer cut off mid-record), an error
// matching io.ErrUnexpectedEOF. A stream must start with a header of
// StreamVersion; another version is an error that every later call
// returns. A line that is not a record is an error naming its line number
// and matching ErrNotRecord; Next may be called again to go on with the
// line after it. Blank lines
// are skipped; records of a type this version does not know are returned
// as they are, for the caller to skip.
func (d *StreamDecoder) Next() (*StreamRecord, error) {
	if d.err != nil {
		return nil, d.err
	}
	for {
		line, err := d.readLine()
		if err != nil {
			d.err = err
			return nil, err
		}
		if len(bytes.TrimSpace(line.text)) == 0 {
			if line.final {
				d.err = io.EOF
				return nil, io.EOF
			}
			continue
		}
		rec := new(StreamRecord)
		if err := json.Unmarshal(line.text, rec); err != nil || rec.Type == "" {
			if line.final {
				d.err = fmt.Errorf("result stream line %d: partial record at the end: %w", d.line, io.ErrUnexpectedEOF)
				return nil, d.err
			}
			if err == nil {
				err = errors.New(`no "type"`)
			}
			return nil, fmt.Errorf("result stream line %d: %w: %w: %s", d.line, ErrNotRecord, err, excerpt(line.text))
		}
		if d.resumed && !d.gotHeader {
			d.gotHeader = true
			if rec.Type == RecordHeader {
				if rec.Version != d.version {
					d.err = fmt.Errorf("result stream line %d: version %q where the stream read before had %q", d.line, rec.Version, d.version)
					return nil, d.err
				}
				return rec, nil
			}
		}
		if !d.gotHeader {
			if rec.Type != RecordHeader {
				return nil, fmt.Errorf("result stream line %d: %s record before the header", d.line, rec.Type)
			}
			if rec.Version != StreamVersion && rec.Version != StreamVersionSummary {
				d.err = fmt.Errorf("result stream line %d: version %q, this rollcheck reads %q and %q (upgrade rollcheck or use an attacker image of the same version)",
					d.line, rec.Version, StreamVersion, StreamVersionSummary)
				return nil, d.err
			}
			d.gotHeader, d.version = true, rec.Version
		} else if rec.Type == RecordHeader {
			return nil, fmt.Errorf("result stream line %d: a second header", d.line)
		} else if rec.Type == RecordSummary {
			if d.version != StreamVersionSummary {
				return nil, fmt.Errorf("result stream line %d: a summary record in a %s stream", d.line, d.version)
			}
			if rec.Summary == nil {
				return nil, fmt.Errorf("result stream line %d: a summary record without its summary", d.line)
			}
			if err := rec.Summary.check(); err != nil {
				return nil, fmt.Errorf("result stream line %d: %w", d.line, err)
			}
		}
		return rec, nil
	}
}

type streamLine struct {
	text  []byte
	final bool // the input ended in this line, without its newline
}

// readLine reads one line, bounded by maxStreamLine.
func (d *StreamDecoder) readLine() (streamLine, error) {
	var buf []byte
	for {
		chunk, err := d.r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxStreamLine {
			return streamLine{}, fmt.Errorf("result stream line %d: longer than %d bytes", d.line+1, maxStreamLine)
		}
		switch {
		case err == nil:
			d.line++
			return streamLine{text: buf}, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(buf) == 0 {
				return streamLine{}, io.EOF
			}
			d.line++
			return streamLine{text: buf, final: true}, nil
		default:
			return streamLine{}, fmt.Errorf("reading result stream after line %d: %w", d.line, err)
		}
	}
}

func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// VegetaResult rebuilds the vegeta result of a result record, for the
// aggregation that local results go through. The pod, if any, is put in
// Headers under the first name of podHeader (a comma-separated list as
// Config.PodHeader), which is where the aggregator looks for it.
func (rec *StreamRecord) VegetaResult(podHeader string) *vegeta.Result {
	r := &vegeta.Result{
		Seq: rec.Seq, Code: rec.Code, Timestamp: rec.Timestamp, Latency: rec.Latency,
		BytesIn: rec.BytesIn, BytesOut: rec.BytesOut, Error: rec.Error, Method: rec.Method, URL: rec.URL,
		Attack: string(rec.Stream), // the load stream that sent it, for Feed
	}
	if rec.Pod != "" {
		name, _, _ := strings.Cut(podHeader, ",")
		if name = strings.TrimSpace(name); name != "" {
			r.Headers = http.Header{http.CanonicalHeaderKey(name): {rec.Pod}}
		}
	}
	return r
}
