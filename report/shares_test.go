package report

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
)

// weightedRun is a load of 10 requests per 100 ms bucket for 6 s: two
// weighted steps, from +1 s (accepted at +1.5 s) and from +3 s (accepted
// at +3.2 s), each bucket's answers split between the pods by split(t).
func weightedRun(split func(s float64) (stable, canary, unnamed int)) (*attack.Result, []StepInput) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	a := &attack.Result{Start: t0, End: at(6), BucketWidth: 100 * time.Millisecond, Rate: 100, AchievedRate: 100}
	for i := range 60 {
		s := float64(i) / 10
		st, ca, un := split(s)
		b := attack.Bucket{Start: at(s), Total: st + ca + un, OK: st + ca, Pods: map[string]int{}}
		if st > 0 {
			b.Pods["web-1"] = st
		}
		if ca > 0 {
			b.Pods["web-canary-1"] = ca
		}
		if un > 0 {
			b.ByClass = map[attack.Class]int{attack.Class502: un}
		}
		a.Buckets = append(a.Buckets, b)
		a.Requests += b.Total
		a.Failures += un
		for range un {
			a.FailureList = append(a.FailureList, attack.Failure{Time: at(s), Class: attack.Class502, Code: 502})
		}
	}
	steps := []StepInput{
		{Name: "1/2 90/10", Weights: &rollout.WeightStep{Stable: 90, Canary: 10},
			Outcome: rollout.Outcome{Triggered: true, Completed: true, StartedAt: at(1), CompletedAt: at(1.5)}},
		{Name: "2/2 0/100", Weights: &rollout.WeightStep{Stable: 0, Canary: 100},
			Outcome: rollout.Outcome{Triggered: true, Completed: true, StartedAt: at(3), CompletedAt: at(3.2)}},
	}
	return a, steps
}

var testWeights = &WeightsInput{Route: "web", StableService: "web", CanaryService: "web-canary",
	Original: rollout.WeightStep{Stable: 1, Canary: 0}, Left: "restored 1/0",
	PodServices: map[string]string{"web-1": "web", "web-canary-1": "web-canary"}}

func TestAWeightedStepsShareCountsTheNamedResponsesFromItsAcceptance(t *testing.T) {
	a, steps := weightedRun(func(s float64) (int, int, int) {
		switch {
		case s < 1.5: // the route before the first step took effect
			return 10, 0, 0
		case s < 3.2:
			return 9, 1, 0
		}
		return 0, 10, 0
	})
	r := Build(Input{Deployment: "web-canary", Attack: a, Steps: steps, Weights: testWeights, Thresholds: DefaultThresholds(),
		Outcome: rollout.Outcome{Triggered: true, Completed: true, StartedAt: steps[0].Outcome.StartedAt, CompletedAt: steps[1].Outcome.CompletedAt}})
	if len(r.Steps) != 2 {
		t.Fatalf("steps %+v", r.Steps)
	}
	first, second := r.Steps[0].Share, r.Steps[1].Share
	if first == nil || second == nil {
		t.Fatalf("no share: %+v", r.Steps)
	}
	// From +1.5 s to +3 s: 15 buckets of 9 stable and 1 canary.
	if first.StableResponses != 135 || first.CanaryResponses != 15 || first.Unnamed != 0 || first.AskedCanaryPercent != 10 {
		t.Errorf("first step %+v", *first)
	}
	if first.CanaryPercent == nil || math.Abs(*first.CanaryPercent-10) > 1e-9 {
		t.Errorf("first step received %v, want 10%%", first.CanaryPercent)
	}
	if second.CanaryPercent == nil || *second.CanaryPercent != 100 || second.CanaryResponses != 280 {
		t.Errorf("second step %+v", *second)
	}
	if wc := r.WeightedCanary; wc == nil || wc.OriginalWeights != "1/0" || wc.Left != "restored 1/0" {
		t.Errorf("weighted canary %+v", wc)
	}
	var js bytes.Buffer
	if err := writeJSON(r, &js); err != nil {
		t.Fatal(err)
	}
	if err := Validate(js.Bytes()); err != nil {
		t.Errorf("the report does not match the schema: %v", err)
	}
	for _, s := range []string{`"share":`, `"canary_percent": 100`, `"weighted_canary":`} {
		if !strings.Contains(js.String(), s) {
			t.Errorf("the JSON lacks %s", s)
		}
	}
}

func TestAWeightedStepWhoseResponsesNameNoPodHasAnUnknownShare(t *testing.T) {
	a, steps := weightedRun(func(s float64) (int, int, int) {
		if s < 3 {
			return 9, 0, 1 // the canary's tenth fails and names no pod
		}
		return 0, 0, 10
	})
	r := Build(Input{Deployment: "web-canary", Attack: a, Steps: steps, Weights: testWeights, Thresholds: DefaultThresholds(),
		Outcome: rollout.Outcome{Triggered: true, Completed: true, StartedAt: steps[0].Outcome.StartedAt, CompletedAt: steps[1].Outcome.CompletedAt}})
	first, second := r.Steps[0].Share, r.Steps[1].Share
	if first.CanaryPercent == nil || *first.CanaryPercent != 0 || first.Unnamed != 15 {
		t.Errorf("first step: the named responses were all stable's, and 15 named no pod: %+v", *first)
	}
	if second.CanaryPercent != nil || second.Unnamed != 280 || !strings.Contains(second.Unknown, "no response named its pod") {
		t.Errorf("second step: nothing named a pod, so the share is unknown: %+v", *second)
	}
	if r.Steps[0].Passed || r.Steps[1].Passed {
		t.Error("steps with failures passed")
	}
}

func TestStepsWithoutWeightsHaveNoShare(t *testing.T) {
	a, steps := weightedRun(func(float64) (int, int, int) { return 10, 0, 0 })
	for i := range steps {
		steps[i].Weights = nil
	}
	r := Build(Input{Deployment: "web", Attack: a, Steps: steps, Thresholds: DefaultThresholds()})
	for _, st := range r.Steps {
		if st.Share != nil {
			t.Errorf("step %s has a share", st.Name)
		}
	}
	if r.WeightedCanary != nil {
		t.Error("a weighted canary without weights")
	}
}

func TestAWeightedCanaryThatAnsweredNothingIsNotAPass(t *testing.T) {
	a, steps := weightedRun(func(float64) (int, int, int) { return 10, 0, 0 })
	in := Input{Deployment: "web-canary", Attack: a, Steps: steps, Weights: testWeights, Thresholds: DefaultThresholds(),
		Outcome: rollout.Outcome{Triggered: true, Completed: true, StartedAt: steps[0].Outcome.StartedAt, CompletedAt: steps[1].Outcome.CompletedAt},
		Drained: steps[1].Outcome.CompletedAt}
	r := Build(in)
	if r.Verdict != Inconclusive || len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], "1/2 90/10 asked 10% and the canary answered none of 150 responses") {
		t.Errorf("verdict %s, reasons %v", r.Verdict, r.Reasons)
	}
	a, steps = weightedRun(func(s float64) (int, int, int) {
		if s >= 1.5 {
			return 9, 1, 0
		}
		return 10, 0, 0
	})
	in.Attack, in.Steps = a, steps
	if r := Build(in); r.Verdict != Pass {
		t.Errorf("a canary that answered its share: %s %v", r.Verdict, r.Reasons)
	}
}
