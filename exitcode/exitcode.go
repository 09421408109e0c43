// Package exitcode is the one table of rollcheck's process exit codes, the
// contract with the scripts and CI jobs that run it (README.md, "Exit
// codes"). Only cmd/rollcheck maps errors to these codes, and only its main
// calls os.Exit; its tests and the end-to-end tests compare with the same
// names, so that a code cannot drift between the command and its checks.
package exitcode

// Exit codes of the rollcheck command.
const (
	// Pass is a PASS verdict, or a command other than run that succeeded.
	Pass = 0
	// Fail is a FAIL verdict, a lint with findings at the threshold, or a
	// regression found by compare --fail-on-regression.
	Fail = 1
	// Usage is bad input (flags, a scenario, a workload that does not
	// exist): nothing in the cluster was changed.
	Usage = 2
	// Inconclusive is an INCONCLUSIVE verdict: the run could not judge
	// the rollout.
	Inconclusive = 3
	// Runtime is an error at run time: the cluster unreachable, a
	// permission missing.
	Runtime = 4
	// Interrupted is a run stopped by a signal; a partial report is still
	// written.
	Interrupted = 130
)
