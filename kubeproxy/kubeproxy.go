// Package kubeproxy follows when each node's kube-proxy applied an
// endpoint change. Every kube-proxy counts its rule syncs in its metrics
// (FACTS.md §3): kubeproxy_sync_proxy_rules_last_timestamp_seconds is when
// the last one ended, and kubeproxy_sync_proxy_rules_duration_seconds's
// count and sum say how many ended and how long they took. A Watcher polls
// them through the API server's node proxy (nodes/NAME:10249/proxy/metrics:
// kube-proxy must listen beyond 127.0.0.1, as EKS's does) and keeps every
// sync it sees; Lag then says, for a change seen at a time, when each node
// applied it: by the end of its first sync that began after the change.
package kubeproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MetricsPort is kube-proxy's default metrics port (metricsBindAddress).
const MetricsPort = 10249

// The metrics read.
const (
	lastSyncMetric     = "kubeproxy_sync_proxy_rules_last_timestamp_seconds"
	lastQueuedMetric   = "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds"
	syncDurationMetric = "kubeproxy_sync_proxy_rules_duration_seconds"
)

// Sync is one rule sync of a node's kube-proxy, or the last of several
// that ended between two polls. End is exact (kube-proxy's own stamp, on
// the node's clock). Start is exact when Exact (the only sync between the
// polls), else its earliest: the last sync of several began no earlier
// than End minus their summed durations. After is when the poll before the
// one that saw it was sent: every sync since that poll ended after it.
type Sync struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Exact bool      `json:"exact,omitempty"`
	// Count is how many syncs ended between the two polls (1 when Exact).
	Count int       `json:"count"`
	After time.Time `json:"after"`
	// Seen is when the poll that first saw it was sent, and Queued when
	// kube-proxy last received a change as of that poll (it stamps each
	// one as it queues a sync): a Queued before Start says every change
	// received by then was applied by this sync or an earlier one.
	Seen   time.Time `json:"seen"`
	Queued time.Time `json:"queued,omitempty"`
}

// Node is what the Watcher saw of one node's kube-proxy.
type Node struct {
	Name  string `json:"name"`
	Polls int    `json:"polls"`
	Syncs []Sync `json:"syncs,omitempty"`
	// Err says why the node's metrics could not be read ("" when they
	// were); the Watcher stops asking after maxErrors in a row.
	Err string `json:"error,omitempty"`
	// FirstPoll and LastPoll bound what was seen: a change after LastPoll
	// may have no sync seen yet.
	FirstPoll time.Time `json:"first_poll"`
	LastPoll  time.Time `json:"last_poll"`
}

// Fetch reads one node's kube-proxy metrics (the text exposition format).
type Fetch func(ctx context.Context, node string) ([]byte, error)

// maxErrors is how many failed polls in a row end a node's polling.
const maxErrors = 3

// Watcher polls the kube-proxy of each node.
type Watcher struct {
	fetch Fetch
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	nodes map[string]*nodeState
	order []string
}

type nodeState struct {
	Node
	errs         int
	seen         bool
	count        uint64
	sum          float64
	last         time.Time
	prevSent     time.Time
	stopped      bool
	metricsFound bool
}

// New returns a Watcher of the named nodes that polls each every every
// (a sane floor is kept: no faster than every 100 ms).
func New(fetch Fetch, nodes []string, every time.Duration, now func() time.Time) *Watcher {
	if now == nil {
		now = time.Now
	}
	every = max(every, 100*time.Millisecond)
	w := &Watcher{fetch: fetch, every: every, now: now, nodes: map[string]*nodeState{}}
	for _, n := range nodes {
		if _, dup := w.nodes[n]; dup || n == "" {
			continue
		}
		w.nodes[n] = &nodeState{Node: Node{Name: n}}
		w.order = append(w.order, n)
	}
	sort.Strings(w.order)
	return w
}

// Run polls every node until ctx ends, each node on its own goroutine.
func (w *Watcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, n := range w.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.follow(ctx, n)
		}()
	}
	wg.Wait()
}

func (w *Watcher) follow(ctx context.Context, node string) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		if !w.Poll(ctx, node) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll reads node's metrics once and records a sync that ended since the
// last poll; it says whether the node is still worth asking.
func (w *Watcher) Poll(ctx context.Context, node string) bool {
	sent := w.now()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, err := w.fetch(pctx, node)
	var s sample
	if err == nil {
		s, err = parse(body)
	}
	if ctx.Err() != nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.nodes[node]
	if st == nil || st.stopped {
		return false
	}
	if err != nil {
		st.errs++
		st.Err = err.Error()
		if st.errs >= maxErrors {
			st.stopped = true
			return false
		}
		return true
	}
	st.errs, st.Err = 0, ""
	st.Polls++
	if st.FirstPoll.IsZero() {
		st.FirstPoll = sent
	}
	st.LastPoll = sent
	if st.seen && s.count > st.count && s.last.After(st.last) {
		n := int(s.count - st.count)
		dur := time.Duration((s.sum - st.sum) * float64(time.Second))
		st.Syncs = append(st.Syncs, Sync{Start: s.last.Add(-dur), End: s.last, Exact: n == 1, Count: n, After: st.prevSent, Seen: sent, Queued: s.queued})
	}
	st.seen, st.count, st.sum, st.last, st.prevSent = true, s.count, s.sum, s.last, sent
	return true
}

// Nodes returns what was seen of every node, by name.
func (w *Watcher) Nodes() []Node {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Node, 0, len(w.order))
	for _, n := range w.order {
		st := w.nodes[n]
		node := st.Node
		node.Syncs = append([]Sync(nil), st.Syncs...)
		if node.Polls == 0 && node.Err == "" {
			node.Err = "no poll answered"
		}
		out = append(out, node)
	}
	return out
}

// sample is one poll's reading.
type sample struct {
	last   time.Time
	queued time.Time
	count  uint64
	sum    float64
}

// errNoSyncMetrics: the answer had none of kube-proxy's sync metrics
// (another server on the port, or a kube-proxy too old).
var errNoSyncMetrics = errors.New("no " + lastSyncMetric + " in the answer: not kube-proxy's metrics")

func parse(body []byte) (sample, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return sample{}, fmt.Errorf("reading kube-proxy's metrics: %w", err)
	}
	var s sample
	last, ok := fams[lastSyncMetric]
	if !ok || len(last.GetMetric()) == 0 {
		return s, errNoSyncMetrics
	}
	// A dual-stack kube-proxy runs one proxier per IP family, each with
	// its own series (label ip_family): the IPv4 one is read, as the
	// Services' and the lab's are IPv4; a single-stack one has one series.
	family := ""
	for _, m := range last.GetMetric() {
		if f := label(m, "ip_family"); family == "" || f == "IPv4" {
			family = f
		}
	}
	mine := func(m *dto.Metric) bool { return label(m, "ip_family") == family }
	for _, m := range last.GetMetric() {
		if v := m.GetGauge().GetValue(); mine(m) && v > 0 {
			s.last = fromSeconds(v)
		}
	}
	if q, ok := fams[lastQueuedMetric]; ok {
		for _, m := range q.GetMetric() {
			if v := m.GetGauge().GetValue(); mine(m) && v > 0 {
				s.queued = fromSeconds(v)
			}
		}
	}
	if d, ok := fams[syncDurationMetric]; ok {
		for _, m := range d.GetMetric() {
			if mine(m) {
				h := histogramOf(m)
				s.count, s.sum = h.GetSampleCount(), h.GetSampleSum()
			}
		}
	}
	if s.count == 0 && !s.last.IsZero() {
		s.count = 1 // at least the sync the stamp is of
	}
	return s, nil
}

// label returns m's value of the label name ("" when it has none).
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func histogramOf(m *dto.Metric) *dto.Histogram {
	if h := m.GetHistogram(); h != nil {
		return h
	}
	return &dto.Histogram{}
}

// fromSeconds reads a Unix time in seconds to the microsecond (a float64
// holds no finer today's stamps).
func fromSeconds(v float64) time.Time {
	return time.UnixMicro(int64(math.Round(v * 1e6)))
}

// Applied is when one node applied a change, as far as its syncs show.
type Applied struct {
	Node string `json:"node"`
	// At is the end of the first sync seen that surely began after the
	// change (nil: none seen before polling ended); Lag is At minus the
	// change, the longest the node can have taken.
	At  *time.Time     `json:"at,omitempty"`
	Lag *time.Duration `json:"lag_ns,omitempty"`
	// AtLeast is the shortest it can have taken: syncs that ended unseen
	// between two polls may have applied it sooner. Equal to Lag when a
	// single sync was seen to begin after the change.
	AtLeast time.Duration `json:"at_least_ns"`
	// Withheld says why no lag is given (Lag nil).
	Withheld string `json:"withheld,omitempty"`
}

// Skew is how far apart rollcheck's watch and a kube-proxy's may receive
// the same change from the API server: a sync that began more than Skew
// before rollcheck saw a change did not apply it, one that began more than
// Skew after did. Between, it may have, and did if the poll that saw it,
// sent more than Skew after the change, found every change kube-proxy had
// received stamped before the sync began. On one loaded machine the two
// watches were seen 68 ms apart (CI run of TestKubeProxyLagPerNode).
const Skew = 100 * time.Millisecond

// MaxSkew is the farthest apart the two watches are taken to be: a sync
// that began more than Skew, but less than MaxSkew, before rollcheck saw a
// change applied it if kube-proxy had the change when it began (the poll
// that saw it tells), and may have when that cannot be told. On a loaded
// machine a sync that began 0.13 s before rollcheck saw the change applied
// it (CI run ci37 of TestKubeProxyLagPerNode: the next sync came 7 s later).
const MaxSkew = time.Second

// AppliedAt returns when node applied a change rollcheck saw at changed:
// by the end of its first sync that began after it received the change.
// Lag is the longest that can have taken, AtLeast the shortest: a sync
// that began within Skew of the change may or may not have applied it, and
// syncs that ended unseen between two polls may have.
func (n Node) AppliedAt(changed time.Time) Applied {
	a := Applied{Node: n.Name}
	if n.Err != "" && n.Polls == 0 {
		a.Withheld = "kube-proxy's metrics were not read: " + n.Err
		return a
	}
	if n.FirstPoll.IsZero() || changed.Before(n.FirstPoll) {
		a.Withheld = "the change came before the first reading of its kube-proxy"
		return a
	}
	before, after, wide := changed.Add(-Skew), changed.Add(Skew), changed.Add(-MaxSkew)
	var lo time.Time // the earliest the change can have been applied
	for _, s := range n.Syncs {
		if !s.End.After(wide) {
			continue
		}
		if s.Exact && s.Start.Before(before) {
			if s.Start.Before(wide) {
				continue // began before kube-proxy can have had the change
			}
			// Began before rollcheck saw the change, by more than the
			// usual skew: it applied it if kube-proxy had it then, as the
			// poll that saw it tells (every change it had was stamped
			// before the sync began).
			if s.appliedAll(after) {
				at, lag := s.End, max(0, s.End.Sub(changed))
				least := lag
				if !lo.IsZero() {
					least = max(0, min(lo.Sub(changed), lag))
				}
				a.At, a.Lag, a.AtLeast = &at, &lag, least
				return a
			}
			// A change stamped after it began and by the skew is this
			// one: not applied. One stamped later (another change), or
			// no stamp, leaves it open: it may have.
			if lo.IsZero() && (s.Queued.IsZero() || s.Queued.After(after)) {
				lo = s.End
			}
			continue
		}
		if !s.End.After(before) {
			continue
		}
		if lo.IsZero() {
			lo = s.End
			if !s.Exact {
				// One of the syncs that ended unseen since the last poll
				// may have applied it.
				lo = latestOf(s.After, before)
			}
		}
		if !s.Start.Before(after) || s.appliedAll(after) {
			at, lag := s.End, s.End.Sub(changed)
			a.At, a.Lag, a.AtLeast = &at, &lag, max(0, min(lo.Sub(changed), lag))
			return a
		}
	}
	a.Withheld = "no sync of its kube-proxy was seen to begin after the change before the readings ended"
	if n.Err != "" {
		a.Withheld += " (" + n.Err + ")"
	}
	return a
}

// appliedAll says the sync applied every change kube-proxy had received
// by a poll sent at or after by: that poll saw this sync as the last one,
// and the last change stamped before the sync began.
func (s Sync) appliedAll(by time.Time) bool {
	return s.Exact && !s.Queued.IsZero() && s.Queued.Before(s.Start) && !s.Seen.Before(by)
}

func latestOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Describe says a node's reading for people: "3.21 s", or "0.05 to 0.31 s"
// when unseen syncs leave a range.
func (a Applied) Describe() string {
	if a.Lag == nil {
		return "withheld: " + a.Withheld
	}
	if *a.Lag-a.AtLeast > *a.Lag/4 && *a.Lag-a.AtLeast > 50*time.Millisecond {
		return fmt.Sprintf("%.2f to %.2f s", a.AtLeast.Seconds(), a.Lag.Seconds())
	}
	return fmt.Sprintf("%.2f s", a.Lag.Seconds())
}

// Precise says whether the lag is known within a quarter of itself.
func (a Applied) Precise() bool {
	return a.Lag != nil && (*a.Lag-a.AtLeast <= *a.Lag/4 || *a.Lag-a.AtLeast <= 50*time.Millisecond)
}

// Names lists nodes by name, for messages.
func Names(ns []Node) string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return strings.Join(out, ", ")
}
