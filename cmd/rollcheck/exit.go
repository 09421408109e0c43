package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/rollcheck/rollcheck/check"
	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/preflight"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

// usageError is bad input: shown with the command's usage, exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// configError is input that is well formed but wrong for the cluster (a
// Deployment that does not exist, a container it does not have): exit 2,
// without usage, and nothing in the cluster was changed.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// verdictError carries a finished run's verdict out of RunE.
type verdictError struct {
	verdict     report.Verdict
	interrupted bool
}

func (e verdictError) Error() string { return "verdict " + string(e.verdict) }

// exitCode maps an error from a command to the process exit code. It is the
// only place that knows the mapping.
func exitCode(err error, errOut io.Writer) int {
	if err == nil {
		return exitcode.Pass
	}
	var v verdictError
	if errors.As(err, &v) {
		switch {
		case v.interrupted:
			return exitcode.Interrupted
		case v.verdict == report.Pass:
			return exitcode.Pass
		case v.verdict == report.Fail:
			return exitcode.Fail
		default:
			return exitcode.Inconclusive
		}
	}
	var l lintFailed
	var reg regressionError
	if errors.As(err, &reg) {
		fmt.Fprintln(errOut, "Error:", err)
		return exitcode.Fail
	}
	if errors.As(err, &l) {
		// The findings are the output; no "Error:" line.
		return exitcode.Fail
	}
	fmt.Fprintln(errOut, "Error:", err)
	var u usageError
	var c configError
	var cc check.ConfigError
	switch {
	case errors.As(err, &u), errors.As(err, &c), errors.As(err, &cc):
		return exitcode.Usage
	case errors.Is(err, rollout.ErrNotFound), errors.Is(err, rollout.ErrInvalid), errors.Is(err, preflight.ErrNotFound):
		return exitcode.Usage
	}
	// Everything else, a missing permission (rollout.AccessError) among
	// them, happened at run time.
	return exitcode.Runtime
}

// regressionError is `compare --fail-on-regression` finding AFTER worse than
// BEFORE: exit 1, like a FAIL, so a nightly job fails.
type regressionError struct{ metrics []string }

func (e regressionError) Error() string {
	return "regression: " + strings.Join(e.metrics, ", ")
}
