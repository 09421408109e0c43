package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/report/internal/format"
	"github.com/rollcheck/rollcheck/rollout"
)

// gap is one time a watch was broken, from the typed watch-gap events
// (never their Detail). to is when it resumed; zero if it never did.
type gap struct {
	watch    string
	from, to time.Time
}

// open reports whether the gap was still open at t: begun at or before t
// and not resumed by then.
func (g gap) open(t time.Time) bool {
	return !g.from.After(t) && (g.to.IsZero() || g.to.After(t))
}

// watchGaps pairs each watch's gap beginnings with their ends. What changed
// during a gap reaches the timeline only at the relist, with the relist's
// time.
func watchGaps(events []rollout.Event) []gap {
	var out []gap
	openAt := map[string]int{} // watch -> index in out of its open gap
	for _, e := range events {
		if e.Type != rollout.WatchGap || e.Watch == "" {
			continue
		}
		i, isOpen := openAt[e.Watch]
		switch {
		case !e.Resumed && !isOpen:
			openAt[e.Watch] = len(out)
			out = append(out, gap{watch: e.Watch, from: e.Time})
		case e.Resumed && isOpen:
			out[i].to = e.Time
			delete(openAt, e.Watch)
		case e.Resumed && e.GapStart != nil:
			// Its beginning is not in the timeline (a trimmed report).
			out = append(out, gap{watch: e.Watch, from: *e.GapStart, to: e.Time})
		}
	}
	return out
}

// lostWatches are the gaps still open at the end of the load: what
// happened after they began was not seen.
func lostWatches(gaps []gap, end time.Time) []gap {
	var out []gap
	for _, g := range gaps {
		if !end.IsZero() && g.open(end) {
			out = append(out, g)
		}
	}
	return out
}

// watchesCheck judges whether the run saw the rollout to the end: a watch
// lost and not recovered before the load ended leaves the rest of the
// rollout unseen, so the run cannot PASS (failures it did see still FAIL).
func watchesCheck(r *Report, in Input) Check {
	c := Check{Code: CheckWatches, Name: "watches unbroken to the end", Inconclusive: true, Partial: true}
	t0, end := r.Start(), loadEnd(in)
	gaps := watchGaps(in.Events)
	lost := lostWatches(gaps, end)
	if len(lost) > 0 {
		var names []string
		for _, g := range lost {
			names = append(names, fmt.Sprintf("%s (lost at %s)", g.watch, format.Offset(t0, g.from)))
		}
		c.Message = fmt.Sprintf("the %s of %s did not recover before the load ended at %s: what the rollout did after that was not seen",
			format.Pick(len(lost) > 1, "watches", "watch"), strings.Join(names, ", "), format.Offset(t0, end))
		return c
	}
	c.Passed = true
	if len(gaps) == 0 {
		c.Message = "no watch gap"
		return c
	}
	var spans []string
	for _, g := range gaps {
		spans = append(spans, fmt.Sprintf("%s %s to %s", g.watch, format.Offset(t0, g.from), format.Offset(t0, g.to)))
	}
	c.Message = fmt.Sprintf("%d watch gaps, each recovered before the load ended: %s", len(gaps), strings.Join(spans, ", "))
	return c
}

// completionUnseen turns a rollout that "did not complete" into one whose
// completion was not seen when the Deployment's watch was lost at the time
// the run gave up on it: the Deployment may well have completed. Without
// failures seen, such a run is INCONCLUSIVE, not FAIL.
func completionUnseen(r *Report, in Input) {
	if !in.Outcome.Triggered || in.Outcome.Completed {
		return
	}
	gaveUp := loadEnd(in)
	for _, e := range in.Events {
		if e.Type == rollout.RolloutFailed {
			gaveUp = e.Time
		}
	}
	var lost *gap
	for _, g := range watchGaps(in.Events) {
		if g.watch == "deployments" && g.open(gaveUp) {
			lost = &g
			break
		}
	}
	i := slices.IndexFunc(r.Checks, func(c Check) bool { return c.Code == CheckCompleted })
	if lost == nil || i < 0 || r.Checks[i].Passed {
		return
	}
	c := &r.Checks[i]
	c.Inconclusive, c.Partial = true, true
	c.Message += fmt.Sprintf(" (the Deployment's watch was lost at %s and not back when the run gave up at %s: whether it completed was not seen)",
		format.Offset(r.Start(), lost.from), format.Offset(r.Start(), gaveUp))
}

// markUncertain marks the causes whose failures, or whose pods'
// transitions, fall in a watch gap: the transitions seen only at the relist
// carry the relist's time, so the times and lags the cause states may be
// off. The failures themselves were counted by the load, not the watch.
func markUncertain(r *Report, in Input) {
	gaps := watchGaps(in.Events)
	if len(gaps) == 0 {
		return
	}
	t0, end := r.Start(), loadEnd(in)
	for i := range r.Causes {
		c := &r.Causes[i]
		from, to := c.From, c.To
		for _, e := range in.Events {
			if e.Initial || e.Pod == "" || !slices.Contains(c.Pods, e.Pod) {
				continue
			}
			if from.IsZero() || e.Time.Before(from) {
				from = e.Time
			}
			if e.Time.After(to) {
				to = e.Time
			}
		}
		var hit []string
		for _, g := range gaps {
			gto := g.to
			if gto.IsZero() {
				gto = end
			}
			if !g.from.After(to) && !gto.Before(from) {
				hit = append(hit, fmt.Sprintf("the %s watch was broken from %s to %s", g.watch, format.Offset(t0, g.from), format.Pick(g.to.IsZero(), "the end", format.Offset(t0, g.to))))
			}
		}
		if len(hit) == 0 {
			continue
		}
		c.Uncertain = strings.Join(hit, "; ")
		if c.Confidence == ConfidenceHigh {
			// The times the numbers come from may be the relist's.
			c.Confidence = ConfidenceMedium
		}
		c.Basis = append(c.Basis, "a watch gap overlaps them: "+c.Uncertain)
		c.Evidence += " Uncertain: " + c.Uncertain + ", during these failures or their pods' transitions; what changed meanwhile was seen only when the watch relisted, with the relist's time, so the times and lags above may be off."
	}
}

// loadEnd is when the load ended (zero: no load).
func loadEnd(in Input) time.Time {
	if in.Attack == nil {
		return time.Time{}
	}
	return in.Attack.End
}

// Unseen are the messages of the partial checks that failed when the
// verdict is FAIL: the reasons name only what failed, and a reader should
// still learn that part of the rollout was not seen (a lost watch, a
// stalled load, client-side failures).
func (r *Report) Unseen() []string {
	if r.Verdict != Fail {
		return nil
	}
	var out []string
	for _, c := range r.Checks {
		if c.Partial && !c.Passed && !c.Skipped {
			out = append(out, c.Message)
		}
	}
	return out
}
