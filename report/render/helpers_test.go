package render

import (
	"flag"
	"testing"

	"github.com/rollcheck/rollcheck/report/internal/fixture"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	t0  = fixture.T0
	run = fixture.Run
)

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	fixture.Golden(t, *update, name, got)
}
