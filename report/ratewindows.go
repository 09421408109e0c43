package report

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// MinWindowRatio is the share of the asked rate every window after the
// trigger must reach. It is below MinAchievedRatio because a hiccup of the
// load generator a tenth of a second long, across a window's edge, moves
// requests into the next window (vegeta catches up at once) without
// leaving the service untested; a window missing a fifth of its requests
// or more means the load stalled there, and failures in that time would
// not have been seen.
const MinWindowRatio = 0.8

// minWindowRequests sets the window length at low rates: long enough to
// expect this many requests, so one request more or less is not a shortfall.
const minWindowRequests = 20

// rateWindow is a span of the load after the trigger, with the requests
// started in it and the number the asked rate expects.
type rateWindow struct {
	from, to time.Time
	requests int
	expected float64
}

// windowLength is one second, or longer at low rates so that a window
// expects minWindowRequests, in whole buckets.
func windowLength(rate float64, bucket time.Duration) time.Duration {
	w := time.Second
	if rate > 0 && minWindowRequests/rate > w.Seconds() {
		w = time.Duration(math.Ceil(minWindowRequests / rate * float64(time.Second)))
	}
	if bucket > 0 {
		w = time.Duration(math.Ceil(float64(w)/float64(bucket))) * bucket
	}
	return w
}

// rateWindows cuts the load from the bucket holding from to the load's end
// into windows of length w, leaving out the last partial window, and
// counts the requests of each from the buckets.
func rateWindows(a *attack.Result, from time.Time, w time.Duration) []rateWindow {
	if a.BucketWidth <= 0 || w <= 0 || from.Before(a.Start) || !a.End.After(from) {
		return nil
	}
	start := a.Start.Add(from.Sub(a.Start) / a.BucketWidth * a.BucketWidth)
	var out []rateWindow
	for ws := start; !ws.Add(w).After(a.End); ws = ws.Add(w) {
		out = append(out, rateWindow{from: ws, to: ws.Add(w), expected: a.Rate * w.Seconds()})
	}
	for _, b := range a.Buckets {
		if i := int(b.Start.Sub(start) / w); !b.Start.Before(start) && i < len(out) {
			out[i].requests += b.Total
		}
	}
	return out
}

// rateWindowsCheck judges the rate per window from the trigger to the
// load's end. The average rate hides a load that stalled for a second or
// two in the middle of the rollout, which is when failures happen: a
// window below MinWindowRatio of the asked rate means the run did not see
// that part (INCONCLUSIVE; failures it did see still FAIL).
func rateWindowsCheck(r *Report, in Input) Check {
	c := Check{Code: CheckRateWindows, Name: "load kept its rate in every window", Inconclusive: true, Partial: true}
	a := in.Attack
	if a == nil || a.Rate <= 0 || !in.Outcome.Triggered {
		c.Skipped, c.Passed, c.Message = true, true, "not applicable: no rollout under load"
		return c
	}
	w := windowLength(a.Rate, a.BucketWidth)
	ws := rateWindows(a, in.Outcome.StartedAt, w)
	if len(ws) == 0 {
		c.Skipped, c.Passed, c.Message = true, true, fmt.Sprintf("not applicable: the load ran less than one %s window after the trigger", format.Sec(w))
		return c
	}
	t0 := r.Start()
	// Consecutive short windows are named as one span.
	var spans []rateWindow
	lowest := ws[0]
	for i, x := range ws {
		if float64(x.requests)/x.expected < float64(lowest.requests)/lowest.expected {
			lowest = x
		}
		if float64(x.requests) >= MinWindowRatio*x.expected {
			continue
		}
		if n := len(spans); n > 0 && i > 0 && spans[n-1].to.Equal(x.from) {
			spans[n-1].to = x.to
			spans[n-1].requests += x.requests
			spans[n-1].expected += x.expected
			continue
		}
		spans = append(spans, x)
	}
	if len(spans) == 0 {
		c.Passed = true
		c.Message = fmt.Sprintf("every %s window from the trigger to the load's end reached %.0f%% of the %.1f/s asked (lowest %d of %.0f requests, at %s)",
			format.Sec(w), 100*MinWindowRatio, a.Rate, lowest.requests, lowest.expected, format.Offset(t0, lowest.from))
		return c
	}
	var named []string
	for i, s := range spans {
		if i == 3 {
			named = append(named, fmt.Sprintf("and %d more", len(spans)-i))
			break
		}
		named = append(named, fmt.Sprintf("%s to %s (%d of %.0f requests)", format.Offset(t0, s.from), format.Offset(t0, s.to), s.requests, s.expected))
	}
	c.Message = fmt.Sprintf("the load fell below %.0f%% of the %.1f/s asked after the trigger, from %s: the service was not tested at the rate asked then, and failures in that time would not have been seen",
		100*MinWindowRatio, a.Rate, strings.Join(named, ", "))
	return c
}
