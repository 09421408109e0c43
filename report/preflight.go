package report

import (
	"slices"

	"github.com/rollcheck/rollcheck/preflight"
)

// predictors maps each cause to the lint rules that foresee it from the
// manifests alone, so the report can say which failures were predictable.
var predictors = map[CauseCode][]string{
	TerminatingPodStillRouted: {preflight.RuleNoPreStop, preflight.RulePreStopShorterThanLag, preflight.RuleNoPodReadinessGate},
	LBDeregistrationLag:       {preflight.RuleNoPreStop, preflight.RulePreStopShorterThanLag, preflight.RuleDeregistrationNotAboveGrace},
	InflightCut:               {preflight.RuleGracePeriodTooShort, preflight.RuleShellFormEntrypoint, preflight.RuleServerStopsAtOnce},
	KeptConnectionClosed:      {preflight.RuleShellFormEntrypoint, preflight.RuleServerStopsAtOnce},
	NoReadyEndpoints:          {preflight.RuleRecreateStrategy, preflight.RuleRollingUpdateNoReadyPods, preflight.RuleSingleReplica},
	DrainNoReadyEndpoints:     {preflight.RuleNoPDB, preflight.RuleSingleReplica},
	DrainTooFewReadyPods:      {preflight.RuleNoPDB},
	SidecarStoppedFirst:       {preflight.RuleProxySidecarNotNative},
	AppReadyBeforeSidecar:     {preflight.RuleNoReadinessProbe, preflight.RuleIstioNoHoldApplication},
	NewPodNotServing:          {preflight.RuleNoReadinessProbe, preflight.RuleMinReadySecondsZero, preflight.RuleNoPodReadinessGate},
	NodeTargetDeregistration:  {preflight.RuleLocalNoNodeHealthCheck},
}

// markPredicted fills Cause.PredictedBy from the preflight findings.
func markPredicted(causes []Cause, findings []preflight.Finding) {
	for i := range causes {
		for _, f := range findings {
			if slices.Contains(predictors[causes[i].Code], f.Rule) && !slices.Contains(causes[i].PredictedBy, f.Rule) {
				causes[i].PredictedBy = append(causes[i].PredictedBy, f.Rule)
			}
		}
	}
}
