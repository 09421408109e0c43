package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// ReadFile reads a JSON report written by --report-json.
func ReadFile(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading report: %w", err)
	}
	if err := Validate(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("report %s: %w", path, err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("report %s: schema %q, want %q (is it a rollcheck JSON report?)", path, r.Schema, Schema)
	}
	return &r, nil
}

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
	// Regression is set when the metric got worse beyond the tolerance.
	Regression bool `json:"regression,omitempty"`
}

// Comparison is BEFORE against AFTER, metric by metric.
type Comparison struct {
	Tolerance float64 `json:"tolerance"`
	Rows      []Row   `json:"rows"`
}

// Regressions lists the metrics that got worse beyond the tolerance.
func (c *Comparison) Regressions() []string {
	var out []string
	for _, r := range c.Rows {
		if r.Regression {
			out = append(out, r.Metric)
		}
	}
	return out
}

var verdictRank = map[Verdict]int{Pass: 0, Inconclusive: 1, Fail: 2}

// Compare puts two reports side by side. A judged metric is a regression
// when AFTER is worse than BEFORE by more than tolerance (relative: 0.1 is
// 10%); for failures and disrupted time, any rise from zero is one.
func Compare(before, after *Report, tolerance float64) *Comparison {
	c := &Comparison{Tolerance: tolerance}
	add := func(metric, b, a string, ch Change, regression bool) {
		c.Rows = append(c.Rows, Row{Metric: metric, Before: b, After: a, Change: ch, Regression: regression})
	}
	vb, va := verdictRank[before.Verdict], verdictRank[after.Verdict]
	add("verdict", string(before.Verdict), string(after.Verdict), cmpInt(vb, va), false)
	add("requests", fmt.Sprint(before.Load.Requests), fmt.Sprint(after.Load.Requests), Info, false)
	fb, fa := float64(before.Load.Failures), float64(after.Load.Failures)
	add("failed requests", fmt.Sprint(before.Load.Failures), fmt.Sprint(after.Load.Failures), cmpFloat(fb, fa), worse(fb, fa, tolerance))
	for _, class := range unionClasses(before, after) {
		b, a := before.Load.ByClass[class], after.Load.ByClass[class]
		add("failed: "+class, fmt.Sprint(b), fmt.Sprint(a), cmpInt(b, a), false)
	}
	add("success ratio", fmt.Sprintf("%.4f", before.Load.SuccessRatio), fmt.Sprintf("%.4f", after.Load.SuccessRatio), cmpFloat(after.Load.SuccessRatio, before.Load.SuccessRatio), false)
	add("disrupted seconds", fmt.Sprintf("%.1f", before.DisruptedSeconds), fmt.Sprintf("%.1f", after.DisruptedSeconds),
		cmpFloat(before.DisruptedSeconds, after.DisruptedSeconds), worse(before.DisruptedSeconds, after.DisruptedSeconds, tolerance))
	pb, pa := before.RolloutP99(), after.RolloutP99()
	add("p99 latency in rollout (ms)", fmt.Sprintf("%.1f", pb*1000), fmt.Sprintf("%.1f", pa*1000), cmpFloat(pb, pa), pb > 0 && pa > pb*(1+tolerance))
	add("rollout duration (s)", fmt.Sprintf("%.1f", before.Rollout.Duration), fmt.Sprintf("%.1f", after.Rollout.Duration), Info, false)
	add("causes", causeList(before), causeList(after), cmpInt(len(before.Causes), len(after.Causes)), false)
	return c
}

// worse reports a rise beyond tolerance; from zero, any rise counts.
func worse(before, after, tolerance float64) bool {
	if before == 0 {
		return after > 0
	}
	return after > before*(1+tolerance)
}

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

func unionClasses(rs ...*Report) []string {
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

func causeList(r *Report) string {
	if len(r.Causes) == 0 {
		return "-"
	}
	parts := make([]string, len(r.Causes))
	for i, c := range r.Causes {
		parts[i] = fmt.Sprintf("%s (%d)", c.Code, c.Failures)
	}
	return strings.Join(parts, ", ")
}

// RolloutP99 is the 99th percentile of latency during the rollout phase,
// estimated from the buckets' own p99s weighted by their requests (an upper
// bound of the phase's true p99), in seconds; 0 without a rollout.
func (r *Report) RolloutP99() float64 {
	ph := r.phase("rollout")
	if ph.Start.IsZero() {
		return 0
	}
	type wq struct {
		q float64
		n int
	}
	var qs []wq
	total := 0
	for _, b := range r.Buckets {
		if b.Start.Before(ph.Start) || !b.Start.Before(ph.End) || b.Total == 0 {
			continue
		}
		qs = append(qs, wq{b.P99.Seconds(), b.Total})
		total += b.Total
	}
	if total == 0 {
		return 0
	}
	sort.Slice(qs, func(i, j int) bool { return qs[i].q < qs[j].q })
	want := int(math.Ceil(0.99 * float64(total)))
	seen := 0
	for _, x := range qs {
		seen += x.n
		if seen >= want {
			return x.q
		}
	}
	return qs[len(qs)-1].q
}

// WriteComparison renders the comparison as a table, marking what got
// better or worse, and the regressions beyond the tolerance.
func WriteComparison(c *Comparison, w io.Writer) error {
	p := &printer{w: w}
	p.table([]string{"metric", "before", "after", "change"}, func(add func(...any)) {
		for _, r := range c.Rows {
			mark := string(r.Change)
			if r.Regression {
				mark = "WORSE (regression)"
			}
			add(r.Metric, r.Before, r.After, mark)
		}
	})
	if reg := c.Regressions(); len(reg) > 0 {
		p.line(fmt.Sprintf("Regressions beyond %.0f%%: %s", 100*c.Tolerance, strings.Join(reg, ", ")))
	} else {
		p.line(fmt.Sprintf("No regression beyond %.0f%%.", 100*c.Tolerance))
	}
	return p.err
}
