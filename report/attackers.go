package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/attack"
)

// CheckAttackers is the check that every attacker pod kept its share of
// the rate to the end, with its stream and clock reachable.
const CheckAttackers CheckCode = "attackers-kept-rate"

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
	// FailureTimes are its first failed requests, corrected (at most
	// attack.MaxAttackerFailureTimes).
	FailureTimes []time.Time `json:"failure_times,omitempty"`
}

// buildAttackers copies the fleet's view into the report.
func buildAttackers(in []attack.AttackerPod) []Attacker {
	var out []Attacker
	for _, a := range in {
		x := Attacker{
			Pod: a.Pod, Node: a.Node, CPURequest: a.CPURequest, MemoryRequest: a.MemoryRequest,
			Share: a.Share, Achieved: a.Achieved, Requests: a.Requests, Failures: a.Failures,
			OffsetSeconds: a.Offset.Seconds(), BoundSeconds: a.Bound.Seconds(), SpreadSeconds: a.Spread.Seconds(),
			ClockSamples: a.ClockSamples, Problem: a.Problem, FailureTimes: a.FailureTimes,
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
