package report

import (
	"fmt"
	"time"
)

// This file formats the prose that the diagnosis and the recommendations
// compute (evidence, why): text stored in the report, which the renderers
// only print. It does not depend on them.

// sec prints a duration in seconds with two decimals: "1.25 s".
func sec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// offset is t on the report's relative clock, in the words of the
// timeline the renderers print, so that a moment named in evidence can be
// found there: "+12.34s" after t0, "-" when either is unknown.
func offset(t0, t time.Time) string {
	if t0.IsZero() || t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%+.2fs", t.Sub(t0).Seconds())
}
