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
	ClassOther    Class = "other"
	// ClassClient: the load generator's own machine failed the request (no
	// local port or file descriptor, a name its resolver cannot resolve):
	// not evidence about the cluster.
	ClassClient Class = "client"
)

// FailureClasses lists every failing class in a stable order for reports.
var FailureClasses = []Class{Class502, Class503, Class504, ClassOther5xx, Class4xx,
	ClassRefused, ClassReset, ClassEOF, ClassTimeout, ClassOther, ClassClient}

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
	Targets     []Target
	Rate        Rate
	Timeout     time.Duration // per request; 0 means vegeta's default (30s)
	KeepAlive   bool
	HTTP2       bool
	MaxWorkers  uint64        // bound on concurrent requests; 0 means a default derived from rate and timeout
	BucketWidth time.Duration // default 100ms
	PodHeader   string        // response headers naming the serving pod, comma-separated, first present wins (e.g. "X-Pod-Name,X-Lab-Target"); "" disables
	MaxFailures int           // cap on kept failure records; default 10000; the total is still counted
	// MaxDuration is a hard cap on the load against a forgotten Stop; default 2h.
	MaxDuration time.Duration
	// ResultsWriter, if set, receives every vegeta result gob-encoded, the
	// format `vegeta report` and `vegeta plot` read, fed ones included. Write
	// errors do not stop the load; the first one is returned by (*Attack).Err.
	ResultsWriter io.Writer
	// OnResult, if set, is called with every result of the local load, in
	// the order they complete, from one goroutine, before it is aggregated
	// (reused: the request went over a kept connection). It must not keep r.
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
	Reused  bool          `json:"reused_conn"`
	URL     string        `json:"url,omitempty"`
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
	FailureList  []Failure     `json:"failures"`         // at most Config.MaxFailures, earliest first
	Dropped      int           `json:"failures_dropped"` // failures counted but not recorded
	// LastByPod is the start time of the last successful request each pod
	// answered (from the pod header); FirstByPod the first.
	LastByPod  map[string]time.Time `json:"last_by_pod,omitempty"`
	FirstByPod map[string]time.Time `json:"first_by_pod,omitempty"`
	// MaxDurationReached is true when the load was ended by Config.MaxDuration
	// rather than by Stop or the context.
	MaxDurationReached bool `json:"max_duration_reached,omitempty"`
}
