package diagnosis

import (
	"testing"
	"time"
)

// A failure sent just before the endpoint turned not ready is said to be
// before it, not "-0.04 s after" (CI run ci58, through Traefik).
func TestAroundSaysBeforeOrAfter(t *testing.T) {
	ref := "its endpoint turned not-ready"
	for d, want := range map[time.Duration]string{
		1980 * time.Millisecond: "1.98 s after its endpoint turned not-ready",
		0:                       "0.00 s after its endpoint turned not-ready",
		-40 * time.Millisecond:  "0.04 s before its endpoint turned not-ready",
	} {
		if got := around(d, ref); got != want {
			t.Errorf("around(%v) = %q, want %q", d, got, want)
		}
	}
}
