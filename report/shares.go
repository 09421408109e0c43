package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/diagnosis"
	"github.com/rollcheck/rollcheck/rollout"
)

// WeightsInput is what a weighted canary's report needs beyond its steps:
// the route, its two Services, and whose pods each Service's are.
type WeightsInput struct {
	Route                        string
	StableService, CanaryService string
	// Original are the route's weights before the run.
	Original rollout.WeightStep
	// PodServices maps every pod the run saw to the Service (stable or
	// canary) whose Deployment owns it: who a response's pod header names.
	PodServices map[string]string
	// Left says what the run left on the route: "restored S/C", "kept
	// S/C", "not restored: why", "unchanged".
	Left string
}

// WeightedCanary is the route of a weighted canary: what it weighed before
// the run and what the run left on it.
type WeightedCanary struct {
	Route           string `json:"route"`
	StableService   string `json:"stable_service"`
	CanaryService   string `json:"canary_service"`
	OriginalWeights string `json:"original_weights"` // STABLE/CANARY
	Left            string `json:"left"`
}

// Share is the traffic a weighted step asked for beside what each backend
// really received: the successful responses whose pod header named a pod
// of the stable or the canary Service's Deployment, counted from when the
// route's Gateways accepted the step's weights (the patch, when they did
// not say) to the step's end. Failures name no pod: their backend is
// unknown, and they are counted apart, never guessed.
type Share struct {
	StableWeight int32     `json:"stable_weight"`
	CanaryWeight int32     `json:"canary_weight"`
	From         time.Time `json:"from"`
	// AskedCanaryPercent is the canary's share the weights ask for.
	AskedCanaryPercent float64 `json:"asked_canary_percent"`
	StableResponses    int     `json:"stable_responses"`
	CanaryResponses    int     `json:"canary_responses"`
	// OtherResponses named a pod of neither Deployment; Unnamed are the
	// requests whose response named no pod (failures, or no header).
	OtherResponses int `json:"other_responses"`
	Unnamed        int `json:"unnamed_requests"`
	// CanaryPercent is the canary's share of the responses that named a
	// pod of either Service; absent when none did, and Unknown says why.
	CanaryPercent *float64 `json:"canary_percent,omitempty"`
	Unknown       string   `json:"unknown,omitempty"`
}

// buildShare counts a weighted step's share over the buckets that start
// in [from, end).
func buildShare(w rollout.WeightStep, from, end time.Time, a *attack.Result, pods map[string]string, in *WeightsInput) *Share {
	sh := &Share{StableWeight: w.Stable, CanaryWeight: w.Canary, From: from,
		AskedCanaryPercent: 100 * float64(w.Canary) / float64(w.Stable+w.Canary)}
	for _, b := range a.Buckets {
		if b.Start.Before(from) || !b.Start.Before(end) {
			continue
		}
		named := 0
		for pod, n := range b.Pods {
			named += n
			switch pods[pod] {
			case in.StableService:
				sh.StableResponses += n
			case in.CanaryService:
				sh.CanaryResponses += n
			default:
				sh.OtherResponses += n
			}
		}
		sh.Unnamed += max(b.Total-named, 0)
	}
	switch ours := sh.StableResponses + sh.CanaryResponses; {
	case ours > 0:
		p := 100 * float64(sh.CanaryResponses) / float64(ours)
		sh.CanaryPercent = &p
	case sh.OtherResponses > 0:
		sh.Unknown = "the responses named pods of neither Service's Deployment"
	default:
		sh.Unknown = "no response named its pod (--pod-header names the header the app sets)"
	}
	return sh
}

// weightedCanary is the report's view of the route.
func weightedCanary(in *WeightsInput) *WeightedCanary {
	if in == nil {
		return nil
	}
	return &WeightedCanary{Route: in.Route, StableService: in.StableService, CanaryService: in.CanaryService,
		OriginalWeights: in.Original.String(), Left: in.Left}
}

// canaryShareCheck judges whether a weighted canary's canary was tried at
// all: a step that asked it for a share, in which responses named pods and
// none was the canary's and no request went unnamed, sent it nothing (a
// front that does not follow the route, a route no Gateway serves). Such a
// run has not tested the canary: it cannot PASS. A share off the weights is
// shown, not judged: the front decides how exact its split is. Only a
// weighted canary's report has this check.
func canaryShareCheck(r *Report) Check {
	c := Check{Code: CheckCanaryShare, Name: "canary received its share", Inconclusive: true, Partial: true, Passed: true}
	var none []string
	for _, st := range r.Steps {
		sh := st.Share
		if sh == nil || sh.CanaryWeight == 0 || sh.CanaryPercent == nil || sh.CanaryResponses > 0 || sh.Unnamed > 0 {
			continue
		}
		none = append(none, fmt.Sprintf("%s asked %.0f%% and the canary answered none of %d responses", st.Name, sh.AskedCanaryPercent, sh.StableResponses+sh.OtherResponses))
	}
	if len(none) == 0 {
		c.Message = "the canary answered in every step that gave it weight (or its share was unknown)"
		return c
	}
	c.Passed = false
	c.Message = fmt.Sprintf("the canary was not tested: %s; is the load going through httproute/%s's Gateway?", strings.Join(none, "; "), r.WeightedCanary.Route)
	return c
}

// backends are a weighted canary's two Services with the weights the route
// gave each from the run's start (the original ones) and from each step's
// patch on, for the diagnosis (nil for other runs).
func backends(w *WeightsInput, steps []StepInput) []diagnosis.Backend {
	if w == nil {
		return nil
	}
	stable := diagnosis.Backend{Service: w.StableService, At: []time.Time{{}}, Weight: []int32{w.Original.Stable}}
	canary := diagnosis.Backend{Service: w.CanaryService, At: []time.Time{{}}, Weight: []int32{w.Original.Canary}}
	for _, s := range steps {
		if s.Weights == nil || s.Outcome.StartedAt.IsZero() {
			continue
		}
		stable.At, stable.Weight = append(stable.At, s.Outcome.StartedAt), append(stable.Weight, s.Weights.Stable)
		canary.At, canary.Weight = append(canary.At, s.Outcome.StartedAt), append(canary.Weight, s.Weights.Canary)
	}
	return []diagnosis.Backend{stable, canary}
}
