package report

import (
	"strings"
	"testing"
	"time"
)

// The lab's balancer at 4,000/s (issue 24, second run): the baseline fast
// (p99 0.10 s), then from 2 s after the trigger every request took seconds
// to the load's end; the run FAILed on LB_DEREGISTRATION_LAG "routed 9.25
// s after not-ready" at high confidence with a preStop of 14 s.
func TestQueuedRequestsLowerTheTimeWindowCauses(t *testing.T) {
	latency := func(in Input, slowFrom, slowTo int) {
		for i := range in.Attack.Buckets {
			in.Attack.Buckets[i].P50, in.Attack.Buckets[i].P99 = 20*time.Millisecond, 60*time.Millisecond
			if i >= slowFrom && i < slowTo {
				in.Attack.Buckets[i].P50, in.Attack.Buckets[i].P99 = 2500*time.Millisecond, 4*time.Second
			}
		}
	}
	t.Run("requests that queued around the failures: the causes lowered, no numbers, still FAIL", func(t *testing.T) {
		in := exitsAtOnce().input(deployment())
		in.Timeout = 5 * time.Second
		latency(in, 12, 15)
		r := Build(in)
		wantVerdict(t, r, Fail, "requests failed")
		if len(r.Causes) == 0 {
			t.Fatal("no causes")
		}
		for _, c := range r.Causes {
			if c.Confidence == ConfidenceHigh || !strings.Contains(c.Uncertain, "took a median 2.50 s, against 0.02 s in the baseline") {
				t.Errorf("cause %s at %s confidence (uncertain %q): want it lowered, the queueing named", c.Code, c.Confidence, c.Uncertain)
			}
		}
		preStop := 0
		for _, rec := range r.Recommendations {
			if strings.Contains(rec.Field, "preStop") {
				preStop++
				if !strings.Contains(rec.Suggested, "no number") {
					t.Errorf("recommendation %+v: a number from queued requests' times", rec)
				}
			}
		}
		if preStop == 0 {
			t.Errorf("no preStop recommendation: %+v", r.Recommendations)
		}
		fast := exitsAtOnce().input(deployment())
		fast.Timeout = 5 * time.Second
		latency(fast, 0, 0)
		for _, c := range Build(fast).Causes {
			if c.Uncertain != "" {
				t.Errorf("fast requests: cause %s uncertain %q", c.Code, c.Uncertain)
			}
		}
		// Failures that time out make their own buckets slow, not queued.
		timeouts := exitsAtOnce().input(deployment())
		timeouts.Timeout = 5 * time.Second
		latency(timeouts, 0, 0)
		for i := 12; i < 15; i++ {
			b := &timeouts.Attack.Buckets[i]
			b.P50, b.OK = 5*time.Second, b.Total/3
		}
		for _, c := range Build(timeouts).Causes {
			if c.Uncertain != "" {
				t.Errorf("slow failures: cause %s uncertain %q", c.Code, c.Uncertain)
			}
		}
	})
	t.Run("requests that still queued after the rollout: the rate was not carried, INCONCLUSIVE", func(t *testing.T) {
		in := exitsAtOnce().input(deployment())
		in.Timeout = 5 * time.Second
		latency(in, 12, 30)
		r := Build(in)
		if v := verdictWithout(r, CheckLoadCarried); v != Fail {
			t.Fatalf("without the check the verdict is %s, want FAIL", v)
		}
		wantVerdict(t, r, Inconclusive, "the load was not carried", "after the rollout, from +20.00s to the load's end, requests still took a median 2.50 s, against 0.02 s in the baseline")
	})
}
