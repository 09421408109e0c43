package report

import (
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
)

// stall empties the buckets of seconds from..to-1 and puts their requests
// in the two seconds after, as vegeta does when it catches up: the
// average rate stays what was asked.
func stall(a *attack.Result, from, to int) {
	for s := from; s < to; s++ {
		n := a.Buckets[s].Total
		a.Buckets[s].Total, a.Buckets[s].OK = 0, 0
		a.Buckets[to].Total += n / 2
		a.Buckets[to].OK += n / 2
		a.Buckets[to+1].Total += n - n/2
		a.Buckets[to+1].OK += n - n/2
	}
}

func TestRateWindows(t *testing.T) {
	t.Run("a load stalled two seconds in the rollout is inconclusive, naming the window, where it passed before", func(t *testing.T) {
		in := soundInput(nil)
		stall(in.Attack, 13, 15)
		r := Build(in)
		if v := verdictWithout(r, CheckRateWindows); v != Pass {
			t.Fatalf("without the check the verdict is %s, want the old false PASS (average %.1f/s)", v, in.Attack.AchievedRate)
		}
		wantVerdict(t, r, Inconclusive, "+13.00s to +15.00s (0 of 200 requests)", "below 80% of the 100.0/s asked")
	})
	t.Run("a stall in the rollout still fails on the failures seen", func(t *testing.T) {
		in := soundInput(map[int]int{12: 1})
		stall(in.Attack, 13, 15)
		r := Build(in)
		wantVerdict(t, r, Fail, "1 requests failed")
		if c := check(t, r, CheckRateWindows); c.Passed || !strings.Contains(c.Message, "+13.00s to +15.00s") {
			t.Errorf("check %+v, want it failed and naming the window", c)
		}
	})
	t.Run("two stalls are named apart", func(t *testing.T) {
		in := soundInput(nil)
		stall(in.Attack, 12, 13)
		stall(in.Attack, 22, 23)
		wantVerdict(t, Build(in), Inconclusive, "+12.00s to +13.00s (0 of 100 requests), +22.00s to +23.00s (0 of 100 requests)")
	})
	t.Run("a stall in the baseline is left to the average and the baseline", func(t *testing.T) {
		in := soundInput(nil)
		stall(in.Attack, 3, 5)
		wantVerdict(t, Build(in), Pass)
	})
	t.Run("a window short by less than a fifth passes", func(t *testing.T) {
		in := soundInput(nil)
		in.Attack.Buckets[14].Total, in.Attack.Buckets[14].OK = 85, 85
		wantVerdict(t, Build(in), Pass)
	})
	t.Run("the last partial window is not judged", func(t *testing.T) {
		in := soundInput(nil)
		in.Attack.End = at(30.5)
		in.Attack.Buckets = append(in.Attack.Buckets, attack.Bucket{Start: at(30), Total: 10, OK: 10})
		r := Build(in)
		wantVerdict(t, r, Pass)
	})
	t.Run("at 5/s a window is 4 s long, and a stall of 2 s in it is a shortfall", func(t *testing.T) {
		a := &attack.Result{Start: t0, End: at(30), Rate: 5, AchievedRate: 5, BucketWidth: 100 * time.Millisecond, ByClass: map[attack.Class]int{attack.ClassOK: 0}}
		for i := 0; i < 300; i++ {
			b := attack.Bucket{Start: t0.Add(time.Duration(i) * 100 * time.Millisecond)}
			if i%2 == 0 && (i < 140 || i >= 160) {
				b.Total, b.OK = 1, 1
			}
			a.Buckets = append(a.Buckets, b)
			a.Requests += b.Total
		}
		in := soundInput(nil)
		in.Attack = a
		wantVerdict(t, Build(in), Inconclusive, "+14.00s to +18.00s (10 of 20 requests)")
	})
	for _, tt := range []struct {
		rate   float64
		bucket time.Duration
		want   time.Duration
	}{{100, 100 * time.Millisecond, time.Second}, {20, 100 * time.Millisecond, time.Second}, {5, 100 * time.Millisecond, 4 * time.Second},
		{3, 100 * time.Millisecond, 6700 * time.Millisecond}, {100, time.Second, time.Second}, {100, 2 * time.Second, 2 * time.Second}} {
		if got := windowLength(tt.rate, tt.bucket); got != tt.want {
			t.Errorf("window at %.0f/s in %s buckets = %s, want %s", tt.rate, tt.bucket, got, tt.want)
		}
	}
}
