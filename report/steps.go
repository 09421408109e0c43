package report

import (
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
)

// StepInput is one step of a run that changes the cluster more than once
// (canary steps, --repeat): what was done and how it ended.
type StepInput struct {
	Name    string
	Detail  string
	Outcome rollout.Outcome
	// Weights are the route weights a weighted canary's step set.
	Weights *rollout.WeightStep
}

// Step is the result of one step: from its trigger to the next step's (the
// last one to the end of the load), so that the load held after a step
// counts in it.
type Step struct {
	Name             string         `json:"name"`
	Detail           string         `json:"detail,omitempty"`
	Start            time.Time      `json:"start"`
	End              time.Time      `json:"end"`
	Completed        bool           `json:"completed"`
	RolloutSeconds   float64        `json:"rollout_seconds"` // trigger to complete
	Reason           string         `json:"reason,omitempty"`
	Requests         int            `json:"requests"`
	Failures         int            `json:"failures"`
	SuccessRatio     float64        `json:"success_ratio"`
	DisruptedSeconds float64        `json:"disrupted_seconds"`
	ByClass          map[string]int `json:"by_class,omitempty"` // failing classes only
	// Passed: the step completed and its own requests stay within the
	// failure thresholds.
	Passed bool `json:"passed"`
	// Share is what a weighted canary's step asked of the route and what
	// each backend received; absent for other steps.
	Share *Share `json:"share,omitempty"`
}

// StepSummary aggregates the steps: the run's totals are in Load.
type StepSummary struct {
	Steps         int    `json:"steps"`
	Completed     int    `json:"completed"`
	Passed        int    `json:"passed"`
	TotalFailures int    `json:"total_failures"`
	WorstStep     string `json:"worst_step,omitempty"` // most failures; "" when none failed
	WorstFailures int    `json:"worst_failures"`
}

// buildSteps cuts the run into the steps' windows and judges each.
func buildSteps(in []StepInput, a *attack.Result, t Thresholds, w *WeightsInput) ([]Step, *StepSummary) {
	var steps []Step
	var weights []*rollout.WeightStep // of each step kept
	var from []time.Time              // where each step's share counts from
	for _, s := range in {
		o := s.Outcome
		if !o.Triggered || o.StartedAt.IsZero() {
			continue // never started: no window
		}
		st := Step{Name: s.Name, Detail: s.Detail, Start: o.StartedAt, End: a.End, Completed: o.Completed, Reason: o.Reason}
		if o.Completed {
			st.RolloutSeconds = o.CompletedAt.Sub(o.StartedAt).Seconds()
		}
		if n := len(steps); n > 0 {
			steps[n-1].End = st.Start
		}
		steps = append(steps, st)
		weights = append(weights, s.Weights)
		f := o.StartedAt
		if o.Completed {
			f = o.CompletedAt
		}
		from = append(from, f)
	}
	if len(steps) == 0 {
		return nil, nil
	}
	if w != nil {
		for i := range steps {
			if weights[i] != nil {
				steps[i].Share = buildShare(*weights[i], from[i], steps[i].End, a, w.PodServices, w)
			}
		}
	}
	// Requests, failures and classes are all counted by bucket, each
	// bucket in the step it starts in, so that they agree: a failure
	// placed by its own time could fall in a step that the bucket holding
	// it, with its requests, does not (failures above the requests).
	at := func(tm time.Time) int {
		for i := len(steps) - 1; i >= 0; i-- {
			if !tm.Before(steps[i].Start) {
				return i
			}
		}
		return -1 // the baseline
	}
	for _, b := range a.Buckets {
		i := at(b.Start)
		if i < 0 {
			continue
		}
		s := &steps[i]
		s.Requests += b.Total
		if b.Failed() > 0 {
			s.DisruptedSeconds += a.BucketWidth.Seconds()
		}
		for c, n := range b.ByClass {
			if s.ByClass == nil {
				s.ByClass = map[string]int{}
			}
			s.ByClass[string(c)] += n
		}
		s.Failures += b.Failed()
	}
	sum := &StepSummary{Steps: len(steps)}
	for i := range steps {
		s := &steps[i]
		ratio := 0.0
		if s.Requests > 0 {
			ratio = float64(s.Failures) / float64(s.Requests)
			s.SuccessRatio = 1 - ratio
		}
		disrupted := time.Duration(s.DisruptedSeconds * float64(time.Second))
		s.Passed = s.Completed && s.Failures <= t.MaxFailures &&
			(t.MaxFailureRatio < 0 || ratio <= t.MaxFailureRatio) &&
			(t.MinSuccessRatio < 0 || 1-ratio >= t.MinSuccessRatio) &&
			disrupted <= t.MaxDisrupted
		if s.Completed {
			sum.Completed++
		}
		if s.Passed {
			sum.Passed++
		}
		sum.TotalFailures += s.Failures
		if s.Failures > sum.WorstFailures {
			sum.WorstStep, sum.WorstFailures = s.Name, s.Failures
		}
	}
	return steps, sum
}
