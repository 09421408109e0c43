package report

import (
	"github.com/rollcheck/rollcheck/report/diagnosis"
	"github.com/rollcheck/rollcheck/rollout"
)

// The diagnosis's types and codes under the names the report's readers
// (renderers, compare, check, cmd) have always used: the report holds
// them as they are, so its JSON is the diagnosis's own.
type (
	// Cause is one reason requests failed (diagnosis.Cause).
	Cause = diagnosis.Cause
	// CauseCode is a stable identifier of why requests failed.
	CauseCode = diagnosis.CauseCode
	// Confidence says how firmly the evidence ties failures to a cause.
	Confidence = diagnosis.Confidence
	// Alternative is another cause that fits some failures of a cause.
	Alternative = diagnosis.Alternative
	// Attributed counts the failures tied to one pod in one phase for one cause.
	Attributed = diagnosis.Attributed
	// Measurements are the measured lags of the rollout.
	Measurements = diagnosis.Measurements
	// TerminatingPod holds the measured termination of one pod.
	TerminatingPod = diagnosis.TerminatingPod
	// NewPod holds the measured start-up of one pod.
	NewPod = diagnosis.NewPod
	// Recommendation is one setting to change.
	Recommendation = diagnosis.Recommendation
	// DiagnosisOptions tune the time windows of attribution.
	DiagnosisOptions = diagnosis.Options
	// PodLife is one pod's lifecycle as the timeline shows it.
	PodLife = diagnosis.PodLife
	// NodeTargets is a front whose targets are the nodes, before a Service
	// with externalTrafficPolicy Local.
	NodeTargets = diagnosis.NodeTargets
)

// Cause codes (diagnosis's).
const (
	TerminatingPodStillRouted = diagnosis.TerminatingPodStillRouted
	LBDeregistrationLag       = diagnosis.LBDeregistrationLag
	InflightCut               = diagnosis.InflightCut
	NoReadyEndpoints          = diagnosis.NoReadyEndpoints
	NewPodNotServing          = diagnosis.NewPodNotServing
	DrainNoReadyEndpoints     = diagnosis.DrainNoReadyEndpoints
	KeptConnectionClosed      = diagnosis.KeptConnectionClosed
	KubeProxyLag              = diagnosis.KubeProxyLag
	NodeTargetDeregistration  = diagnosis.NodeTargetDeregistration
	DrainTooFewReadyPods      = diagnosis.DrainTooFewReadyPods
	SidecarStoppedFirst       = diagnosis.SidecarStoppedFirst
	AppReadyBeforeSidecar     = diagnosis.AppReadyBeforeSidecar
	HTTP2ClosedWithoutGoaway  = diagnosis.HTTP2ClosedWithoutGoaway
	Unattributed              = diagnosis.Unattributed
)

// Confidence levels (diagnosis's).
const (
	ConfidenceHigh   = diagnosis.ConfidenceHigh
	ConfidenceMedium = diagnosis.ConfidenceMedium
	ConfidenceLow    = diagnosis.ConfidenceLow
)

// Ways a failure is tied to a pod (diagnosis's).
const (
	ByPodHeader  = diagnosis.ByPodHeader
	ByTimeWindow = diagnosis.ByTimeWindow
	ByBoth       = diagnosis.ByBoth
)

// Pod phases at the moment of a failure (diagnosis's).
const (
	PhaseStarting     = diagnosis.PhaseStarting
	PhaseReady        = diagnosis.PhaseReady
	PhaseTerminatingR = diagnosis.PhaseTerminatingR
	PhaseTerminating  = diagnosis.PhaseTerminating
	PhaseRemoved      = diagnosis.PhaseRemoved
	PhaseExited       = diagnosis.PhaseExited
	PhaseKilled       = diagnosis.PhaseKilled
	PhaseUnknown      = diagnosis.PhaseUnknown
)

// PodLives are the pods' lifecycles read from the timeline, by name
// (diagnosis.PodLives).
func PodLives(evs []rollout.Event) map[string]PodLife { return diagnosis.PodLives(evs) }
