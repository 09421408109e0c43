package report

import (
	"fmt"
	"strings"
	"time"
)

// CheckAttackers is the check that every attacker pod kept its share of
// the rate to the end, with its stream and clock reachable.
const CheckAttackers CheckCode = "attackers-kept-rate"

// AttackerInput is one attacker pod of a run, as the fleet saw it; times
// are on rollcheck's clock.
type AttackerInput struct {
	Pod           string
	Node          string
	CPURequest    string
	MemoryRequest string
	// Share is the rate asked of it, Achieved what it sent over the
	// fleet's active span (requests/s).
	Share    float64
	Achieved float64
	Requests int
	Failures int
	// Start and End are its first and last request (corrected).
	Start, End time.Time
	// Offset is its clock minus rollcheck's (subtracted from its times),
	// within ±Bound; Spread is how much the estimate moved during the run.
	Offset, Bound, Spread time.Duration
	ClockSamples          int
	// Problem says why it is not trusted ("" when it kept its rate to the
	// end): it fell behind, died, or its stream or clock was lost.
	Problem string
}

// Attacker is one attacker pod in the report.
type Attacker struct {
	Pod           string     `json:"pod"`
	Node          string     `json:"node,omitempty"`
	CPURequest    string     `json:"cpu_request,omitempty"`
	MemoryRequest string     `json:"memory_request,omitempty"`
	Share         float64    `json:"share_rate"`
	Achieved      float64    `json:"achieved_rate"`
	Requests      int        `json:"requests"`
	Failures      int        `json:"failures"`
	Start         *time.Time `json:"start,omitempty"`
	End           *time.Time `json:"end,omitempty"`
	OffsetSeconds float64    `json:"clock_offset_seconds"`
	BoundSeconds  float64    `json:"clock_bound_seconds"`
	SpreadSeconds float64    `json:"clock_spread_seconds"`
	ClockSamples  int        `json:"clock_samples"`
	Problem       string     `json:"problem,omitempty"`
}

// buildAttackers copies the fleet's view into the report.
func buildAttackers(in []AttackerInput) []Attacker {
	var out []Attacker
	for _, a := range in {
		x := Attacker{
			Pod: a.Pod, Node: a.Node, CPURequest: a.CPURequest, MemoryRequest: a.MemoryRequest,
			Share: a.Share, Achieved: a.Achieved, Requests: a.Requests, Failures: a.Failures,
			OffsetSeconds: a.Offset.Seconds(), BoundSeconds: a.Bound.Seconds(), SpreadSeconds: a.Spread.Seconds(),
			ClockSamples: a.ClockSamples, Problem: a.Problem,
		}
		if !a.Start.IsZero() {
			s, e := a.Start, a.End
			x.Start, x.End = &s, &e
		}
		out = append(out, x)
	}
	return out
}

// attackersCheck fails (INCONCLUSIVE) naming each attacker with a
// problem; their results up to then are kept, so failures seen still FAIL.
func attackersCheck(as []Attacker) []Check {
	if len(as) == 0 {
		return nil
	}
	c := Check{Code: CheckAttackers, Name: "attackers kept their rate", Inconclusive: true, Partial: true, Passed: true}
	var bad []string
	for _, a := range as {
		if a.Problem != "" {
			bad = append(bad, fmt.Sprintf("attacker %s %s", a.Pod, a.Problem))
		}
	}
	if len(bad) > 0 {
		c.Passed = false
		c.Message = strings.Join(bad, "; ") + ": the load from it is missing from then on"
	} else {
		c.Message = fmt.Sprintf("%d attackers kept their share of the rate to the end", len(as))
	}
	return []Check{c}
}

// writeAttackers lists the attackers in the text report.
func (r *Report) writeAttackers(p *printer) {
	if len(r.Attackers) == 0 {
		return
	}
	p.table([]string{"attacker", "node", "requests (cpu/mem)", "rate (share)", "clock offset", "state"}, func(add func(...any)) {
		for _, a := range r.Attackers {
			add(a.Pod, dash(a.Node), a.CPURequest+"/"+a.MemoryRequest,
				fmt.Sprintf("%.1f/s (%.1f/s)", a.Achieved, a.Share),
				fmt.Sprintf("%+.1fms ± %.1fms (drift %.1fms)", 1000*a.OffsetSeconds, 1000*a.BoundSeconds, 1000*a.SpreadSeconds),
				pick(a.Problem == "", "ok", a.Problem))
		}
	})
}
