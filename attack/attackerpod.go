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

// AttackerCPU is the CPU an attacker pod asks for to send rate requests a
// second, in millicores. It follows the measured cost (docs/benchmarks.md,
// BenchmarkAttackersSplit): an attacker writing the summarized stream spent
// 88 to 148 µs of CPU per request at 500/s on the lab machine with
// AttackerProcs (137 to 195 µs at 500 to 1,000/s without), so 200 µs per
// request (rate/5 millicores) with room for its log's path through the
// container runtime, plus 100m for its runtime, timers and clock server.
func AttackerCPU(rate float64) int64 { return 100 + int64(rate/5) }

// AttackerProcs is the GOMAXPROCS an attacker pod runs with: the cores its
// CPU request rounds up to, 1 up to 4,500/s. Go would otherwise take every
// core of the node (it reads a CPU limit, never a request), and a process
// that waits on the network between requests spends more on waking its
// idle threads the more it has: 3 attackers at 500/s on the 2-core lab
// machine spent a median 139 µs of CPU per request with 2, 106 µs with 1
// (BenchmarkAttackersSplit, 6 and 9 rounds).
func AttackerProcs(rate float64) int { return int((AttackerCPU(rate) + 999) / 1000) }
