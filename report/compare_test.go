package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestCompare(t *testing.T) {
	before, bo := run(map[int]int{12: 20, 13: 10}, 100)
	after, ao := run(nil, 100)
	b := Build(Input{Deployment: "web", Namespace: "default", Action: "restart", Attack: before, Outcome: bo, Drained: bo.CompletedAt.Add(time.Second), Thresholds: DefaultThresholds()})
	a := Build(Input{Deployment: "web", Namespace: "default", Action: "restart", Attack: after, Outcome: ao, Drained: ao.CompletedAt.Add(time.Second), Thresholds: DefaultThresholds()})

	t.Run("an improvement is no regression", func(t *testing.T) {
		c := Compare(b, a, 0.1)
		if reg := c.Regressions(); len(reg) != 0 {
			t.Errorf("regressions %v", reg)
		}
		var buf bytes.Buffer
		if err := WriteComparison(c, &buf); err != nil {
			t.Fatal(err)
		}
		golden(t, "compare.txt", buf.Bytes())
	})
	t.Run("failures appearing from zero are a regression", func(t *testing.T) {
		reg := Compare(a, b, 0.1).Regressions()
		for _, want := range []string{"failed requests", "disrupted seconds"} {
			if !slices.Contains(reg, want) {
				t.Errorf("regressions %v lack %q", reg, want)
			}
		}
	})
	t.Run("a rise within the tolerance is no regression", func(t *testing.T) {
		more, mo := run(map[int]int{12: 21, 13: 10}, 100)
		m := Build(Input{Attack: more, Outcome: mo, Drained: mo.CompletedAt.Add(time.Second), Thresholds: DefaultThresholds()})
		if reg := Compare(b, m, 0.1).Regressions(); slices.Contains(reg, "failed requests") {
			t.Errorf("31 vs 30 failures flagged with 10%% tolerance: %v", reg)
		}
		if reg := Compare(b, m, 0).Regressions(); !slices.Contains(reg, "failed requests") {
			t.Errorf("31 vs 30 failures not flagged with 0 tolerance: %v", reg)
		}
	})
	t.Run("a report survives a JSON round trip", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "r.json")
		var buf bytes.Buffer
		if err := WriteJSON(b, &buf); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != b.Verdict || r.Load.Failures != b.Load.Failures || len(r.Checks) != len(b.Checks) {
			t.Errorf("round trip: %s %d vs %s %d", r.Verdict, r.Load.Failures, b.Verdict, b.Load.Failures)
		}
	})
	t.Run("a file that is not a report is refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "x.json")
		data, _ := json.Marshal(map[string]string{"schema": "other"})
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadFile(path); err == nil {
			t.Error("no error")
		}
	})
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (rerun with -update if intended):\n%s", name, got)
	}
}
