package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// A request's time is when it was sent. A time window ties a failure to
// the pod whose transition it falls next to, which holds while requests
// reach the pods within milliseconds of being sent. When they queue on the
// way (a front or a path at the end of its capacity, a starved load
// generator), a request may reach a pod seconds after it was sent, and
// the window, and every lag measured from it, is off by as much.
//
// Queued is the median latency at and above which rollcheck calls the
// requests queued, when it is also QueuedFactor times the baseline's.
const (
	Queued       = time.Second
	QueuedFactor = 10
)

// bucketQuantile is the q quantile of one value of the buckets that lie
// whole within [from, to) and that keep takes (nil: all), each weighted by
// its requests (0: none).
func bucketQuantile(a *attack.Result, from, to time.Time, q float64, of func(attack.Bucket) time.Duration, keep func(attack.Bucket) bool) time.Duration {
	type v struct {
		d time.Duration
		n int
	}
	var vs []v
	total := 0
	for _, x := range a.Buckets {
		if x.Total > 0 && !x.Start.Before(from) && !x.Start.Add(a.BucketWidth).After(to) && (keep == nil || keep(x)) {
			vs = append(vs, v{of(x), x.Total})
			total += x.Total
		}
	}
	if total == 0 {
		return 0
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].d < vs[j].d })
	seen := 0
	for _, x := range vs {
		seen += x.n
		if float64(seen) >= q*float64(total) {
			return x.d
		}
	}
	return vs[len(vs)-1].d
}

func p50(b attack.Bucket) time.Duration { return b.P50 }
func p99(b attack.Bucket) time.Duration { return b.P99 }

// mostlyOK takes a bucket whose requests more than half succeeded: its
// median is then a success's latency, whatever its failures took (a cause
// of timeouts does not make its own requests look queued).
func mostlyOK(b attack.Bucket) bool { return 2*b.OK > b.Total }

// queuedBetween reports the median latency of the requests sent between
// from and to (of the buckets mostlyOK takes) when they queued (Queued, QueuedFactor times the
// baseline's median), and the baseline's median; ok false when they did
// not, or when there is no baseline to compare with.
func queuedBetween(in Input, from, to time.Time) (median, base time.Duration, ok bool) {
	a := in.Attack
	if a == nil || !in.Outcome.Triggered || a.BucketWidth <= 0 {
		return 0, 0, false
	}
	base = bucketQuantile(a, a.Start, in.Outcome.StartedAt, 0.5, p50, mostlyOK)
	// The buckets that hold from and to, whole.
	from = a.Start.Add(from.Sub(a.Start).Truncate(a.BucketWidth))
	to = a.Start.Add(to.Sub(a.Start).Truncate(a.BucketWidth) + a.BucketWidth)
	median = bucketQuantile(a, from, to, 0.5, p50, mostlyOK)
	return median, base, base > 0 && median >= Queued && median >= QueuedFactor*base
}

// queuedNote says that the requests around a cause's failures queued ("":
// they did not).
func queuedNote(in Input, from, to time.Time) string {
	median, base, ok := queuedBetween(in, from, to)
	if !ok {
		return ""
	}
	return fmt.Sprintf("requests sent around these failures took a median %s, against %s in the baseline: they queued on the way", format.Sec(median), format.Sec(base))
}

// notCarriedAfter is the evidence that the path could not carry the rate
// once the rollout was over ("" when it could): from when the last removed
// pod was gone (else the rollout's completion) to the load's end, at least
// 2 s, the requests still queued. The rollout left as many pods as before;
// a queue that does not drain at the rate asked says the rate is at the
// capacity of the path, not that the rollout dropped anything.
func notCarriedAfter(r *Report, in Input) string {
	a := in.Attack
	if a == nil || !in.Outcome.Triggered || !in.Outcome.Completed {
		return ""
	}
	from := in.Outcome.CompletedAt
	if r.Rollout.RemovedGoneAt != nil && r.Rollout.RemovedGoneAt.After(from) {
		from = *r.Rollout.RemovedGoneAt
	}
	if a.End.Sub(from) < 2*time.Second {
		return ""
	}
	median, base, ok := queuedBetween(in, from, a.End.Add(-a.BucketWidth))
	if !ok {
		return ""
	}
	return fmt.Sprintf("after the rollout, from %s to the load's end, requests still took a median %s, against %s in the baseline: the path did not carry the rate once the rollout was over",
		format.Offset(r.Start(), from), format.Sec(median), format.Sec(base))
}

// markQueued lowers the causes whose failures a time window tied to their
// pods when the requests had queued on the way: before the rollout
// (saturation) or around the failures (queuedNote). Their times may be
// seconds before what reached the pods, so they give no numbers; a pod
// header still ties a failure to the pod that answered it.
func markQueued(r *Report, in Input, cs clientSide) {
	signs := saturation(cs)
	windowed := map[CauseCode]bool{}
	for _, a := range r.Attributed {
		if a.By == ByTimeWindow {
			windowed[a.Cause] = true
		}
	}
	for i := range r.Causes {
		c := &r.Causes[i]
		if c.Code == Unattributed || !windowed[c.Code] {
			continue
		}
		note := ""
		if len(signs) > 0 {
			note = "the load was saturated before the rollout: " + strings.Join(signs, " and ")
		} else if note = queuedNote(in, c.From, c.To); note == "" {
			continue
		}
		if c.Confidence == ConfidenceHigh {
			c.Confidence = ConfidenceMedium
		}
		if c.Uncertain != "" {
			c.Uncertain += "; "
		}
		c.Uncertain += note
		c.Basis = append(c.Basis, note+": a request's send time may be seconds before it reached a pod")
		c.Evidence += " Uncertain: " + note + "; the times and lags above are the requests' send times, which may be seconds before they reached a pod."
	}
}
