package report

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"time"
)

// What the renderers and the comparison read of a saved or built report
// beyond its fields.

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

// Start is the zero of the relative clock: the start of the load, or of the
// first event when no load ran.
func (r *Report) Start() time.Time {
	if len(r.Phases) > 0 {
		return r.Phases[0].Start
	}
	if len(r.Events) > 0 {
		return r.Events[0].Time
	}
	return time.Time{}
}

// Workload names the report's workload as kubectl does: "deployment/web".
func (r *Report) Workload() string {
	kind := r.Rollout.Kind
	if kind == "" {
		kind = "deployment"
	}
	return kind + "/" + r.Rollout.Deployment
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
