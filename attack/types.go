// Package attack runs a constant-rate HTTP load with vegeta and aggregates the
// results while they stream: fixed-width time buckets with counts by class and
// latency percentiles, plus a bounded list of failure records. Memory depends on
// the run's duration (buckets) and the failure cap, never on the number of
// successful requests.
package attack

import (
	"io"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Class is the outcome class of one request.
type Class string

// Outcome classes. OK covers 2xx and 3xx; every other class is a failure.
const (
	ClassOK       Class = "ok"
	Class4xx      Class = "4xx"
	Class502      Class = "502"
	Class503      Class = "503"
	Class504      Class = "504"
	ClassOther5xx Class = "other-5xx"
	ClassRefused  Class = "refused"
	ClassReset    Class = "reset"
	ClassEOF      Class = "eof"
	ClassTimeout  Class = "timeout"
	// ClassGoaway: over HTTP/2, the server sent GOAWAY and closed the
	// connection while the request's stream was still open (it stopped
	// without waiting for the streams it had accepted).
	ClassGoaway Class = "goaway"
	// ClassStreamReset: over HTTP/2, the peer reset the request's stream
	// (RST_STREAM: REFUSED_STREAM the transport did not retry, CANCEL,
	// INTERNAL_ERROR...), as a proxy does when its upstream goes.
	ClassStreamReset Class = "stream-reset"
	ClassOther       Class = "other"
	// ClassClient: the load generator's own machine failed the request (no
	// local port or file descriptor, a name its resolver cannot resolve):
	// not evidence about the cluster.
	ClassClient Class = "client"
)

// FailureClasses lists every failing class in a stable order for reports.
var FailureClasses = []Class{Class502, Class503, Class504, ClassOther5xx, Class4xx,
	ClassRefused, ClassReset, ClassEOF, ClassTimeout, ClassGoaway, ClassStreamReset, ClassOther, ClassClient}

// Target is one request to send; targets are used round robin.
type Target struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// Rate is a constant request rate: Freq requests every Per.
type Rate struct {
	Freq int
	Per  time.Duration
}

// PerSecond returns the rate in requests per second.
func (r Rate) PerSecond() float64 {
	if r.Per <= 0 {
		return 0
	}
	return float64(r.Freq) / r.Per.Seconds()
}

// Config configures one attack.
type Config struct {
	Targets []Target
	Rate    Rate
	Timeout time.Duration // per request; 0 means vegeta's default (30s)
	// KeepAlive is the older switch for Connections: false runs the new
	// stream alone, true the reused one. Connections, when set, wins.
	KeepAlive bool
	// Connections: reused (keep-alive), new (a connection per request) or
	// both (the two streams, each at half of Rate, in one aggregate).
	// Empty: from KeepAlive. New sets it.
	Connections Connections
	HTTP2       bool
	// TLS is how https targets' certificates are verified.
	TLS         TLS
	MaxWorkers  uint64        // bound on concurrent requests; 0 means a default derived from rate and timeout
	BucketWidth time.Duration // default 100ms
	PodHeader   string        // response headers naming the serving pod, comma-separated, first present wins (e.g. "X-Pod-Name,X-Lab-Target"); "" disables
	// NodeHeader is the response header that names the node a request
	// entered the cluster through (a front in instance mode that says so,
	// as the lab's balancer does with --name-pods: X-Lab-Node). "" disables.
	NodeHeader string
	// EntryNode is the node every request enters the cluster through (a
	// target at one node's NodePort, or a forwarder into one node's
	// kube-proxy); it excludes NodeHeader. "" none.
	EntryNode   string
	MaxFailures int // cap on kept failure records; default 10000; the total is still counted
	// MaxDuration is a hard cap on the load against a forgotten Stop; default 2h.
	MaxDuration time.Duration
	// ResultsWriter, if set, receives every vegeta result gob-encoded, the
	// format `vegeta report` and `vegeta plot` read, fed ones included. Write
	// errors do not stop the load; the first one is returned by (*Attack).Err.
	ResultsWriter io.Writer
	// OnResult, if set, is called with every result of the local load, in
	// the order each stream's complete, one call at a time, before it is
	// aggregated (reused: the request went over a kept connection; the
	// stream is ResultStream(r)). It must not keep r.
	OnResult func(r *vegeta.Result, reused bool)
	// NoLocal sends no load from this process: every result comes through
	// Feed (e.g. from attacker pods). Rate stays the asked total rate.
	NoLocal bool
}

// Failure is the record of one failed request.
type Failure struct {
	Time    time.Time     `json:"time"` // request start, on the rollcheck clock
	Latency time.Duration `json:"latency_ns"`
	Class   Class         `json:"class"`
	Code    uint16        `json:"code"`
	Error   string        `json:"error,omitempty"`
	Pod     string        `json:"pod,omitempty"`
	// Node is the node the request entered through, from
	// Config.NodeHeader or EntryNode ("" unknown).
	Node string `json:"entry_node,omitempty"`
	// Reused: the request went over a connection that had carried an
	// earlier request (always false in the new stream).
	Reused bool   `json:"reused_conn"`
	URL    string `json:"url,omitempty"`
	// Stream is the load stream that sent the request (see Stream).
	Stream Stream `json:"stream,omitempty"`
}

// StreamResult is one load stream's totals. The reused stream's requests
// over kept connections are counted apart (ReusedConn*): the rest opened
// their connection, as every request of the new stream does.
type StreamResult struct {
	Stream       Stream        `json:"stream"`
	Rate         float64       `json:"rate"`          // asked requests/s of this stream
	AchievedRate float64       `json:"achieved_rate"` // requests started / the load's duration
	Requests     int           `json:"requests"`
	Failures     int           `json:"failed"`
	ByClass      map[Class]int `json:"by_class"` // includes ClassOK
	// ReusedConnRequests went over a kept connection (Failure.Reused);
	// ReusedConnByClass are their outcomes, ClassOK included.
	ReusedConnRequests int           `json:"reused_conn_requests"`
	ReusedConnByClass  map[Class]int `json:"reused_conn_by_class"`
}

// NewConnByClass returns the outcomes of the stream's requests that opened
// their connection: ByClass less ReusedConnByClass.
func (s StreamResult) NewConnByClass() map[Class]int {
	out := make(map[Class]int, len(s.ByClass))
	for c, n := range s.ByClass {
		if n -= s.ReusedConnByClass[c]; n > 0 {
			out[c] = n
		}
	}
	return out
}

// Bucket aggregates the requests that started in [Start, Start+width).
type Bucket struct {
	Start   time.Time      `json:"start"`
	Total   int            `json:"total"`
	OK      int            `json:"ok"`
	ByClass map[Class]int  `json:"by_class,omitempty"` // failing classes only
	P50     time.Duration  `json:"p50_ns"`
	P99     time.Duration  `json:"p99_ns"`
	Max     time.Duration  `json:"max_ns"`
	Pods    map[string]int `json:"pods,omitempty"` // successful responses by pod header value
}

// Failed returns the number of failed requests in the bucket.
func (b Bucket) Failed() int { return b.Total - b.OK }

// Snapshot is a cheap, consistent view of a running attack for live status.
type Snapshot struct {
	Elapsed  time.Duration
	Requests int
	Failures int
	Rate     float64 // achieved requests/s so far
}

// Result is the whole outcome of an attack.
type Result struct {
	Start        time.Time     `json:"start"`
	End          time.Time     `json:"end"`
	Rate         float64       `json:"rate"`          // target requests/s
	AchievedRate float64       `json:"achieved_rate"` // requests started / duration
	Requests     int           `json:"requests"`
	Failures     int           `json:"failed"`
	ByClass      map[Class]int `json:"by_class"` // includes ClassOK
	P50          time.Duration `json:"p50_ns"`
	P95          time.Duration `json:"p95_ns"`
	P99          time.Duration `json:"p99_ns"`
	Max          time.Duration `json:"max_ns"`
	BucketWidth  time.Duration `json:"bucket_width_ns"`
	Buckets      []Bucket      `json:"buckets"`
	// HTTP2: responses came over HTTP/2 (--http2, and h2c or ALPN agreed):
	// each target's requests shared one connection.
	HTTP2 bool `json:"http2,omitempty"`
	// Conns are the keep-alive stream's connections and the pods that
	// answered on them (nil: none seen, e.g. a load of attacker pods).
	Conns       *ConnCount `json:"conns,omitempty"`
	FailureList []Failure  `json:"failures"`         // at most Config.MaxFailures, earliest first
	Dropped     int        `json:"failures_dropped"` // failures counted but not recorded
	// LastByPod is the start time of the last successful request each pod
	// answered (from the pod header); FirstByPod the first.
	LastByPod  map[string]time.Time `json:"last_by_pod,omitempty"`
	FirstByPod map[string]time.Time `json:"first_by_pod,omitempty"`
	// ByEntryNode counts the requests by the node they entered through
	// (Config.NodeHeader or EntryNode; nil: not known).
	ByEntryNode map[string]int `json:"by_entry_node,omitempty"`
	// MaxDurationReached is true when the load was ended by Config.MaxDuration
	// rather than by Stop or the context.
	MaxDurationReached bool `json:"max_duration_reached,omitempty"`
	// Connections is the mode the load ran in; Streams the totals of each
	// stream it ran (and of any stream results were fed for), in the
	// order of Streams.
	Connections Connections    `json:"connections,omitempty"`
	Streams     []StreamResult `json:"streams,omitempty"`
}
