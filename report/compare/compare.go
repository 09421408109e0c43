// Package compare reads saved reports side by side: the comparison of a run
// with its baselines and the gate that calls a change a regression
// (rollcheck compare), and the trend page of many runs over time (rollcheck
// report --trend). It only reads the report model, never builds one.
package compare

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// Change says how a metric moved from BEFORE to AFTER.
type Change string

// Changes.
const (
	Better Change = "better"
	Worse  Change = "worse"
	Same   Change = "same"
	Info   Change = "" // not judged (context, such as the request count)
)

// Row is one metric of a comparison.
type Row struct {
	Metric string `json:"metric"`
	Before string `json:"before"`
	After  string `json:"after"`
	Change Change `json:"change,omitempty"`
	// Limit is the value AFTER must exceed for the metric to regress, in the
	// metric's unit; "" for a metric that is not judged.
	Limit string `json:"limit,omitempty"`
	// Regression is set when the metric got worse beyond its limit.
	Regression bool `json:"regression,omitempty"`
}

// Floors are the absolute worsening a judged metric must also exceed to
// regress. Run-to-run jitter of a healthy rollout (a millisecond of p99, a
// bucket of disrupted time, a slower image pull) is above any relative
// tolerance when the baseline is small, and a nightly gate that fails on it
// is soon ignored.
type Floors struct {
	P99       time.Duration `json:"p99"`       // p99 latency during the rollout
	Disrupted time.Duration `json:"disrupted"` // disrupted time
	Duration  time.Duration `json:"duration"`  // rollout duration
}

// DefaultFloors are the floors compare uses unless told otherwise.
func DefaultFloors() Floors {
	return Floors{P99: 5 * time.Millisecond, Disrupted: 500 * time.Millisecond, Duration: 2 * time.Second}
}

// FloorNames are the metric names a floor is set by, in the order shown.
func FloorNames() []string { return []string{"p99", "disrupted", "duration"} }

// Set sets the floor of the metric called name (one of FloorNames).
func (f *Floors) Set(name string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("floor %s=%s: must be 0 or more", name, d)
	}
	switch name {
	case "p99":
		f.P99 = d
	case "disrupted":
		f.Disrupted = d
	case "duration":
		f.Duration = d
	default:
		return fmt.Errorf("no metric %q has a floor; valid: %s", name, strings.Join(FloorNames(), ", "))
	}
	return nil
}

// String lists the floors as the command line sets them: "p99=5ms, ...".
func (f Floors) String() string {
	return fmt.Sprintf("p99=%s, disrupted=%s, duration=%s", f.P99, f.Disrupted, f.Duration)
}

// Gate says when a worse metric is a regression.
type Gate struct {
	// Tolerance is the relative worsening allowed (0.1 is 10%) for the
	// metrics with a floor; failed requests and the verdict have none.
	Tolerance float64 `json:"tolerance"`
	Floors    Floors  `json:"floors"`
}

// DefaultGate is a tolerance of 10% and the default floors.
func DefaultGate() Gate { return Gate{Tolerance: 0.1, Floors: DefaultFloors()} }

// Comparison is BEFORE against AFTER, metric by metric.
type Comparison struct {
	Gate
	// Baselines is how many BEFORE reports there were; with more than one,
	// BEFORE is their median and its spread is allowed (see Compare).
	Baselines int   `json:"baselines"`
	Rows      []Row `json:"rows"`
}

// Regressions lists the metrics that got worse beyond their limits.
func (c *Comparison) Regressions() []string {
	var out []string
	for _, r := range c.Rows {
		if r.Regression {
			out = append(out, r.Metric)
		}
	}
	return out
}

var verdictRank = map[report.Verdict]int{report.Pass: 0, report.Inconclusive: 1, report.Fail: 2}

// Compare puts one or more BEFORE reports (the baseline) and AFTER side by
// side. BEFORE's value of each metric is the median over the baseline.
//
// Failed requests and the verdict are strict: any rise in failures, any
// worse verdict (PASS, INCONCLUSIVE, FAIL in that order) is a regression.
// Disrupted time, the p99 latency during the rollout and the rollout's
// duration regress only when AFTER is above all of: BEFORE by more than the
// tolerance, BEFORE plus the metric's floor, and the highest value in the
// baseline, so that what the baseline itself showed is never a regression.
func Compare(before []*report.Report, after *report.Report, g Gate) *Comparison {
	c := &Comparison{Gate: g, Baselines: len(before)}
	add := func(r Row) { c.Rows = append(c.Rows, r) }

	ranks := make([]int, len(before))
	for i, b := range before {
		ranks[i] = verdictRank[b.Verdict]
	}
	sort.Ints(ranks)
	var vb report.Verdict
	if len(ranks) > 0 {
		vb = rankVerdict(ranks[len(ranks)/2]) // the upper median on a tie: the gentler
	}
	va := verdictRank[after.Verdict]
	add(Row{Metric: "verdict", Before: verdictList(before, vb), After: string(after.Verdict), Change: cmpInt(verdictRank[vb], va),
		Limit: string(vb), Regression: va > verdictRank[vb]})

	add(Row{Metric: "requests", Before: spreadOf(before, func(r *report.Report) float64 { return float64(r.Load.Requests) }).text("%.0f", 1),
		After: fmt.Sprint(after.Load.Requests)})
	fails := spreadOf(before, func(r *report.Report) float64 { return float64(r.Load.Failures) })
	fa := float64(after.Load.Failures)
	add(Row{Metric: "failed requests", Before: fails.text("%.0f", 1), After: fmt.Sprint(after.Load.Failures), Change: cmpFloat(fails.median, fa),
		Limit: trimFloat(fails.median), Regression: fa > fails.median})
	for _, class := range unionClasses(append([]*report.Report{after}, before...)...) {
		b := spreadOf(before, func(r *report.Report) float64 { return float64(r.Load.ByClass[class]) })
		a := after.Load.ByClass[class]
		add(Row{Metric: "failed: " + class, Before: b.text("%.0f", 1), After: fmt.Sprint(a), Change: cmpFloat(b.median, float64(a))})
	}
	ratio := spreadOf(before, func(r *report.Report) float64 { return r.Load.SuccessRatio })
	add(Row{Metric: "success ratio", Before: ratio.text("%.4f", 1), After: fmt.Sprintf("%.4f", after.Load.SuccessRatio), Change: cmpFloat(after.Load.SuccessRatio, ratio.median)})

	judged := func(metric string, s spread, a float64, floor time.Duration, format string, scale float64, measured bool) {
		row := Row{Metric: metric, Before: s.text(format, scale), After: fmt.Sprintf(format, a*scale)}
		if !measured {
			add(row)
			return
		}
		limit := math.Max(math.Max(s.median*(1+g.Tolerance), s.median+floor.Seconds()), s.max)
		row.Change, row.Limit, row.Regression = cmpFloat(s.median, a), fmt.Sprintf(format, limit*scale), a > limit
		add(row)
	}
	disrupted := spreadOf(before, func(r *report.Report) float64 { return r.DisruptedSeconds })
	judged("disrupted seconds", disrupted, after.DisruptedSeconds, g.Floors.Disrupted, "%.1f", 1, true)
	p99 := spreadOf(before, (*report.Report).RolloutP99)
	pa := after.RolloutP99()
	judged("p99 latency in rollout (ms)", p99, pa, g.Floors.P99, "%.1f", 1000, p99.min > 0 && pa > 0)
	took := spreadOf(before, func(r *report.Report) float64 { return r.Rollout.Duration })
	judged("rollout duration (s)", took, after.Rollout.Duration, g.Floors.Duration, "%.1f", 1,
		took.min > 0 && after.Rollout.Completed && allCompleted(before))

	var nb []int
	for _, b := range before {
		nb = append(nb, len(b.Causes))
	}
	sort.Ints(nb)
	causes := Row{Metric: "causes", Before: causeList(before), After: causeList([]*report.Report{after})}
	if len(nb) > 0 {
		causes.Change = cmpInt(nb[len(nb)/2], len(after.Causes))
	}
	add(causes)
	return c
}

func rankVerdict(rank int) report.Verdict {
	for v, r := range verdictRank {
		if r == rank {
			return v
		}
	}
	return ""
}

// verdictList is the median verdict, followed by every baseline's when
// they differ: "PASS (PASS, FAIL, PASS)".
func verdictList(rs []*report.Report, median report.Verdict) string {
	all := make([]string, len(rs))
	same := true
	for i, r := range rs {
		all[i] = string(r.Verdict)
		same = same && r.Verdict == rs[0].Verdict
	}
	if same {
		return string(median)
	}
	return fmt.Sprintf("%s (%s)", median, strings.Join(all, ", "))
}

func allCompleted(rs []*report.Report) bool {
	for _, r := range rs {
		if !r.Rollout.Completed {
			return false
		}
	}
	return true
}

// spread is one metric over the baseline reports.
type spread struct{ median, min, max float64 }

func spreadOf(rs []*report.Report, value func(*report.Report) float64) spread {
	if len(rs) == 0 {
		return spread{}
	}
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = value(r)
	}
	sort.Float64s(vs)
	m := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		m = (vs[len(vs)/2-1] + m) / 2
	}
	return spread{median: m, min: vs[0], max: vs[len(vs)-1]}
}

// text prints the median, and the range when the baseline varied:
// "6.0 (5.1 to 6.8)". A median between two whole counts keeps its half.
func (s spread) text(format string, scale float64) string {
	f := func(v float64) string {
		if format == "%.0f" {
			return trimFloat(v * scale)
		}
		return fmt.Sprintf(format, v*scale)
	}
	if s.min == s.max {
		return f(s.median)
	}
	return fmt.Sprintf("%s (%s to %s)", f(s.median), f(s.min), f(s.max))
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func cmpInt(before, after int) Change { return cmpFloat(float64(before), float64(after)) }

// cmpFloat compares a lower-is-better metric.
func cmpFloat(before, after float64) Change {
	switch {
	case after < before:
		return Better
	case after > before:
		return Worse
	}
	return Same
}

func unionClasses(rs ...*report.Report) []string {
	set := map[string]bool{}
	for _, r := range rs {
		for c, n := range r.Load.ByClass {
			if c != "ok" && n > 0 {
				set[c] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// causeList names the causes of one report with their failures; of several,
// each cause with the number of reports it appears in.
func causeList(rs []*report.Report) string {
	if len(rs) == 1 {
		r := rs[0]
		if len(r.Causes) == 0 {
			return "-"
		}
		parts := make([]string, len(r.Causes))
		for i, c := range r.Causes {
			parts[i] = fmt.Sprintf("%s (%d)", c.Code, c.Failures)
		}
		return strings.Join(parts, ", ")
	}
	in := map[report.CauseCode]int{}
	var order []report.CauseCode
	for _, r := range rs {
		for _, c := range r.Causes {
			if in[c.Code] == 0 {
				order = append(order, c.Code)
			}
			in[c.Code]++
		}
	}
	if len(order) == 0 {
		return "-"
	}
	parts := make([]string, len(order))
	for i, code := range order {
		parts[i] = fmt.Sprintf("%s (in %d of %d)", code, in[code], len(rs))
	}
	return strings.Join(parts, ", ")
}

// WriteComparison renders the comparison as a table, marking what got
// better or worse, the limit each judged metric must exceed to regress, and
// the regressions.
func WriteComparison(c *Comparison, w io.Writer) error {
	p := format.NewPrinter(w)
	p.Table([]string{"metric", "before", "after", "change", "regresses above"}, func(add func(...any)) {
		for _, r := range c.Rows {
			mark := string(r.Change)
			if r.Regression {
				mark = "WORSE (regression)"
			}
			add(r.Metric, r.Before, r.After, mark, r.Limit)
		}
	})
	gate := fmt.Sprintf("tolerance %.0f%%, floors %s; any more failed requests or a worse verdict", 100*c.Tolerance, c.Floors)
	if c.Baselines > 1 {
		gate = fmt.Sprintf("BEFORE is the median of %d reports, whose highest value is allowed too; ", c.Baselines) + gate
	}
	if reg := c.Regressions(); len(reg) > 0 {
		p.Line(fmt.Sprintf("Regressions: %s (%s).", strings.Join(reg, ", "), gate))
	} else {
		p.Line(fmt.Sprintf("No regression (%s).", gate))
	}
	return p.Err()
}
