package attack

import (
	"time"
)

// The fleet's view of each attacker pod, which the report copies: here so
// that the fleet (attackers/) need not import the report.

// AttackerPod is one attacker pod of a run, as the fleet saw it; times
// are on rollcheck's clock.
type AttackerPod struct {
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
	// FailureTimes are its first failed requests (at most
	// MaxAttackerFailureTimes), for its lane in the HTML timeline.
	FailureTimes []time.Time
}

// MaxAttackerFailureTimes bounds AttackerPod.FailureTimes.
const MaxAttackerFailureTimes = 1000
