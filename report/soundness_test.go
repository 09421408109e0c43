package report

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
)

// Helpers for the tests of the checks that keep a run from passing on what
// it did not see (watchgaps_test.go, ratewindows_test.go,
// clientside_test.go).

// soundInput is run's 30 s load at 100/s, triggered at 10 s, complete at
// 20 s, the removed pods gone at 21 s.
func soundInput(fails map[int]int) Input {
	a, o := run(fails, 100)
	return Input{Deployment: "web", Namespace: "default", Action: "restart", Attack: a, Outcome: o, Drained: at(21), Thresholds: DefaultThresholds()}
}

// addFailures adds n failures of class c, with error text e, at second s.
func addFailures(a *attack.Result, s, n int, c attack.Class, e string) {
	b := &a.Buckets[s]
	if b.ByClass == nil {
		b.ByClass = map[attack.Class]int{}
	}
	b.ByClass[c] += n
	b.OK -= n
	a.ByClass[c] += n
	a.ByClass[attack.ClassOK] -= n
	a.Failures += n
	for i := 0; i < n; i++ {
		a.FailureList = append(a.FailureList, attack.Failure{Time: b.Start.Add(time.Duration(500+i) * time.Millisecond), Class: c, Error: e})
	}
	slices.SortStableFunc(a.FailureList, func(x, y attack.Failure) int { return x.Time.Compare(y.Time) })
}

// verdictWithout is the verdict the checks other than code give: the
// verdict before that check existed.
func verdictWithout(r *Report, code CheckCode) Verdict {
	var cs []Check
	for _, c := range r.Checks {
		if c.Code != code {
			cs = append(cs, c)
		}
	}
	v, _ := decide(cs)
	return v
}

func check(t *testing.T, r *Report, code CheckCode) Check {
	t.Helper()
	i := slices.IndexFunc(r.Checks, func(c Check) bool { return c.Code == code })
	if i < 0 {
		t.Fatalf("no check %s in %+v", code, r.Checks)
	}
	return r.Checks[i]
}

// wantVerdict fails the test unless r has verdict v and a reason with each
// of has.
func wantVerdict(t *testing.T, r *Report, v Verdict, has ...string) {
	t.Helper()
	if r.Verdict != v {
		t.Fatalf("verdict %s (%q), want %s", r.Verdict, r.Reasons, v)
	}
	all := strings.Join(r.Reasons, "\n")
	for _, s := range has {
		if !strings.Contains(all, s) {
			t.Errorf("reasons %q lack %q", r.Reasons, s)
		}
	}
}

func gapBegins(s float64, watch string) rollout.Event {
	return rollout.Event{Time: at(s), Type: rollout.WatchGap, Watch: watch, Detail: watch + ": watch failed: connection refused"}
}

func gapEnds(from, s float64, watch string) rollout.Event {
	start := at(from)
	return rollout.Event{Time: at(s), Type: rollout.WatchGap, Watch: watch, Resumed: true, GapStart: &start, Detail: watch + ": watch resumed"}
}
