package attack

import (
	"fmt"
	"sort"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// StreamVersionSummary names the summarized result stream: the same
// records as StreamVersion, except that the successes are not written one
// by one. They are folded, per bucket of the run's width, into summary
// records written at each beacon (and before the end record); every
// failure is still a result record of its own. What the report reads
// from successes (the count, the latency histogram and maximum, the
// stream and connection kind, and per pod its count per bucket and its
// first and last success) merges from the summaries exactly: the stream
// grows with buckets, pods and failures, not with requests.
const StreamVersionSummary = "rollcheck.attack/v2"

// RecordSummary is the type of a summary record.
const RecordSummary = "summary"

// Summary is the successes an attacker saw since its previous summary.
// Its times are the attacker's clock. A bucket may come back in a later
// summary (a slow request that started in it completed later): its
// counts add up.
type Summary struct {
	// Origin and Width place the buckets: bucket i starts at Origin +
	// i×Width.
	Origin  time.Time       `json:"origin"`
	Width   time.Duration   `json:"width"`
	Buckets []SummaryBucket `json:"buckets"`
	// First and Last are the earliest and latest start of these
	// successes.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Pods are each pod's first and last success among these (request
	// starts), by the pod header.
	Pods map[string]PodSpan `json:"pods,omitempty"`
}

// SummaryBucket is one bucket's successes.
type SummaryBucket struct {
	Index int `json:"i"`
	// Counts are the successes by load stream, connection kind and pod.
	Counts []SummaryCount `json:"counts"`
	// HistLo and Hist are their latencies in the histogram's bins
	// (Hist[0] is bin HistLo); Max is the longest.
	HistLo int           `json:"hist_lo"`
	Hist   []uint32      `json:"hist"`
	Max    time.Duration `json:"max"`
}

// SummaryCount is a number of successes sent on one load stream, over a
// kept connection or not, that one pod answered ("" none named itself).
type SummaryCount struct {
	Stream Stream `json:"stream"`
	Reused bool   `json:"reused,omitempty"`
	Pod    string `json:"pod,omitempty"`
	N      int    `json:"n"`
}

// PodSpan is a pod's first and last success.
type PodSpan struct {
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// summarizer folds an attacker's successes into the summary of the next
// record. It is used under the attacker's lock.
type summarizer struct {
	origin      time.Time
	width       time.Duration
	buckets     map[int]*sumBucket
	pods        map[string]*PodSpan
	first, last time.Time
}

type sumKey struct {
	si     int
	reused bool
	pod    string
}

type sumBucket struct {
	counts map[sumKey]int
	hist   spanHistogram
	max    time.Duration
}

func newSummarizer(origin time.Time, width time.Duration) *summarizer {
	return &summarizer{origin: origin, width: width, buckets: map[int]*sumBucket{}, pods: map[string]*PodSpan{}}
}

// add folds r, a success, in. A request that started before the origin
// counts in bucket 0, as the aggregator counts it.
func (s *summarizer) add(r *vegeta.Result, reused bool, pod string) {
	si, ok := streamIndex(r.Attack)
	if !ok {
		si = idxStreamReused
	}
	i := 0
	if d := r.Timestamp.Sub(s.origin); d > 0 {
		i = int(d / s.width)
	}
	b := s.buckets[i]
	if b == nil {
		b = &sumBucket{counts: map[sumKey]int{}}
		s.buckets[i] = b
	}
	b.counts[sumKey{si: si, reused: reused, pod: pod}]++
	b.hist.add(r.Latency)
	b.max = max(b.max, r.Latency)
	if s.first.IsZero() || r.Timestamp.Before(s.first) {
		s.first = r.Timestamp
	}
	if r.Timestamp.After(s.last) {
		s.last = r.Timestamp
	}
	if pod == "" {
		return
	}
	if p := s.pods[pod]; p == nil {
		s.pods[pod] = &PodSpan{First: r.Timestamp, Last: r.Timestamp}
	} else {
		if r.Timestamp.Before(p.First) {
			p.First = r.Timestamp
		}
		if r.Timestamp.After(p.Last) {
			p.Last = r.Timestamp
		}
	}
}

// take returns the summary of what was added since the last take, and
// starts the next; nil when nothing was.
func (s *summarizer) take() *Summary {
	if len(s.buckets) == 0 {
		return nil
	}
	out := &Summary{Origin: s.origin, Width: s.width, First: s.first, Last: s.last, Buckets: make([]SummaryBucket, 0, len(s.buckets))}
	for i, b := range s.buckets {
		sb := SummaryBucket{Index: i, HistLo: b.hist.lo, Hist: b.hist.counts, Max: b.max, Counts: make([]SummaryCount, 0, len(b.counts))}
		for k, n := range b.counts {
			sb.Counts = append(sb.Counts, SummaryCount{Stream: streamNames[k.si], Reused: k.reused, Pod: k.pod, N: n})
		}
		sort.Slice(sb.Counts, func(i, j int) bool {
			a, b := sb.Counts[i], sb.Counts[j]
			if a.Stream != b.Stream {
				return a.Stream < b.Stream
			}
			if a.Reused != b.Reused {
				return !a.Reused
			}
			return a.Pod < b.Pod
		})
		out.Buckets = append(out.Buckets, sb)
	}
	sort.Slice(out.Buckets, func(i, j int) bool { return out.Buckets[i].Index < out.Buckets[j].Index })
	if len(s.pods) > 0 {
		out.Pods = make(map[string]PodSpan, len(s.pods))
		for name, p := range s.pods {
			out.Pods[name] = *p
		}
	}
	s.buckets, s.pods, s.first, s.last = map[int]*sumBucket{}, map[string]*PodSpan{}, time.Time{}, time.Time{}
	return out
}

// Successes is how many successes the summary counts.
func (sm *Summary) Successes() int {
	n := 0
	for _, b := range sm.Buckets {
		for _, c := range b.Counts {
			n += c.N
		}
	}
	return n
}

// widen returns [first, last] grown to hold [from, to] (first zero: none
// yet).
func widen(first, last, from, to time.Time) (time.Time, time.Time) {
	if first.IsZero() || from.Before(first) {
		first = from
	}
	if to.After(last) {
		last = to
	}
	return first, last
}

// Span is the summary's successes' first and last start, shifted by
// -offset, widening [first, last] (first zero: none yet); unchanged when
// it counts none.
func (sm *Summary) Span(first, last time.Time, offset time.Duration) (time.Time, time.Time) {
	if sm.Successes() == 0 {
		return first, last
	}
	return widen(first, last, sm.First.Add(-offset), sm.Last.Add(-offset))
}

// check reports what makes a summary unusable, before anything of it is
// counted.
func (sm *Summary) check() error {
	if sm.Width <= 0 {
		return fmt.Errorf("summary: bucket width %s", sm.Width)
	}
	for _, b := range sm.Buckets {
		if b.Index < 0 || b.HistLo < 0 || b.HistLo+len(b.Hist) > numBins {
			return fmt.Errorf("summary: bucket %d: histogram bins %d..%d outside 0..%d", b.Index, b.HistLo, b.HistLo+len(b.Hist)-1, numBins-1)
		}
		var n, h uint64
		for _, c := range b.Counts {
			if c.N < 0 {
				return fmt.Errorf("summary: bucket %d: a count of %d", b.Index, c.N)
			}
			if _, ok := streamIndex(string(c.Stream)); !ok {
				return fmt.Errorf("summary: bucket %d: unknown load stream %q", b.Index, c.Stream)
			}
			n += uint64(c.N)
		}
		for _, c := range b.Hist {
			h += uint64(c)
		}
		if n != h {
			return fmt.Errorf("summary: bucket %d: %d successes counted, %d in its histogram", b.Index, n, h)
		}
	}
	return nil
}

// merge adds a summary's successes, its times shifted by -offset onto
// this aggregate's clock. Each summary bucket goes to the bucket its
// start falls in (the attacker's buckets line up with these when its
// origin was this aggregate's start on its clock; else to within a
// bucket). It returns the number of successes added.
func (g *aggregator) merge(sm *Summary, offset time.Duration) int {
	added := 0
	for _, sb := range sm.Buckets {
		start := sm.Origin.Add(time.Duration(sb.Index)*sm.Width - offset)
		// The middle of the attacker's bucket places it: a clock offset
		// of a few milliseconds leaves it in the bucket it lines up with.
		b := g.bucketAt(start.Add(sm.Width / 2))
		for _, c := range sb.Counts {
			si, _ := streamIndex(string(c.Stream))
			sc := &g.streams[si]
			sc.byClass[idxOK] += c.N
			if c.Reused {
				sc.reusedByClass[idxOK] += c.N
			}
			b.byClass[idxOK] += uint32(c.N)
			g.requests += c.N
			g.byClass[idxOK] += c.N
			added += c.N
			if c.Pod != "" {
				if b.pods == nil {
					b.pods = map[string]uint32{}
				}
				b.pods[g.intern(c.Pod)] += uint32(c.N)
			}
		}
		for j, n := range sb.Hist {
			if n == 0 {
				continue
			}
			bin := sb.HistLo + j
			b.hist.addBin(bin, n)
			g.hist[bin] += n
		}
		b.max = max(b.max, sb.Max)
		g.max = max(g.max, sb.Max)
	}
	if added > 0 {
		g.firstSeen, g.lastSeen = widen(g.firstSeen, g.lastSeen, sm.First.Add(-offset), sm.Last.Add(-offset))
	}
	for name, sp := range sm.Pods {
		first, last := sp.First.Add(-offset), sp.Last.Add(-offset)
		name = g.intern(name)
		if p := g.pods[name]; p == nil {
			g.pods[name] = &podSpan{first: first, last: last}
		} else {
			if first.Before(p.first) {
				p.first = first
			}
			if last.After(p.last) {
				p.last = last
			}
		}
	}
	return added
}
