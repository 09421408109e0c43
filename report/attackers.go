package report

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/format"
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

// writeAttackers lists the attackers in the text report.
func (r *Report) writeAttackers(p *format.Printer) {
	if len(r.Attackers) == 0 {
		return
	}
	p.Table([]string{"attacker", "node", "requests (cpu/mem)", "rate (share)", "clock offset", "state"}, func(add func(...any)) {
		for _, a := range r.Attackers {
			add(a.Pod, format.Dash(a.Node), a.CPURequest+"/"+a.MemoryRequest,
				fmt.Sprintf("%.1f/s (%.1f/s)", a.Achieved, a.Share),
				fmt.Sprintf("%+.1fms ± %.1fms (drift %.1fms)", 1000*a.OffsetSeconds, 1000*a.BoundSeconds, 1000*a.SpreadSeconds),
				format.Pick(a.Problem == "", "ok", a.Problem))
		}
	})
}

// attackersSVG draws one lane per attacker: its active span (first to
// last request), failures as marks, and its problem in the tooltip.
func attackersSVG(r *Report, ts timeScale) string {
	if len(r.Attackers) == 0 {
		return ""
	}
	h := float64(len(r.Attackers)*laneH + 4)
	var s format.SVG
	s.F(`<svg id="attackers" xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" role="img" aria-label="attacker pods">`, format.SVGWidth, h+20)
	axis(&s, r, ts, h)
	for i, a := range r.Attackers {
		y := float64(i*laneH + 2)
		s.F(`<g class="attacker" data-pod="%s"><text x="4" y="%.1f" class="pod">%s</text>`, format.Esc(a.Pod), y+12, format.Esc(a.Pod))
		if a.Start != nil && a.End != nil {
			color := "#42a5f5"
			if a.Problem != "" {
				color = "#ef9a9a"
			}
			title := fmt.Sprintf("%s on %s: %.1f/s of %.1f/s, clock %+.1fms ± %.1fms, %s to %s", a.Pod, format.Dash(a.Node), a.Achieved, a.Share,
				1000*a.OffsetSeconds, 1000*a.BoundSeconds, format.Offset(ts.t0, *a.Start), format.Offset(ts.t0, *a.End))
			if a.Problem != "" {
				title += ": " + a.Problem
			}
			s.F(`<rect class="active" x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`,
				ts.x(*a.Start), y, math.Max(1, ts.x(*a.End)-ts.x(*a.Start)), laneH-4, color, format.Esc(title))
		}
		for _, t := range a.FailureTimes {
			s.F(`<rect class="fail" data-detail="%s" x="%.1f" y="%.1f" width="2" height="%d" fill="#d32f2f"><title>%s</title></rect>`,
				format.Esc(a.Pod+" failure at "+format.Offset(ts.t0, t)), ts.x(t)-1, y, laneH-4, format.Esc("failed at "+format.Offset(ts.t0, t)))
		}
		s.B.WriteString(`</g>`)
	}
	s.B.WriteString(`</svg>`)
	return s.B.String()
}
