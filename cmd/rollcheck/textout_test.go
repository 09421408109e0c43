package main

import (
	"bytes"
	"testing"
)

// TestTextOptions: the width is $COLUMNS, else 100 off a terminal; colour
// is off off a terminal unless --color always, and --color takes only
// auto, always and never.
func TestTextOptions(t *testing.T) {
	var out bytes.Buffer
	t.Setenv("COLUMNS", "")
	if o := (&textFlags{Color: "auto"}).options(&out); o.Width != 100 || o.Color {
		t.Errorf("off a terminal: width %d colour %v, want 100 and none", o.Width, o.Color)
	}
	t.Setenv("COLUMNS", "77")
	if o := (&textFlags{Color: "always", Details: true}).options(&out); o.Width != 77 || !o.Color || !o.Details {
		t.Errorf("COLUMNS=77 --color always --details: %+v", o)
	}
	t.Setenv("NO_COLOR", "1")
	if o := (&textFlags{Color: "auto"}).options(&out); o.Color {
		t.Errorf("NO_COLOR: coloured")
	}
	for _, c := range []string{"auto", "always", "never"} {
		if err := (&textFlags{Color: c}).validate(); err != nil {
			t.Errorf("--color %s: %v", c, err)
		}
	}
	if err := (&textFlags{Color: "yes"}).validate(); err == nil {
		t.Errorf("--color yes accepted")
	}
}
