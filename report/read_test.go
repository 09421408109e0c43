package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReadFile(t *testing.T) {
	a, o := run(map[int]int{12: 20, 13: 10}, 100)
	b := Build(Input{Deployment: "web", Namespace: "default", Action: "restart", Attack: a, Outcome: o, Drained: o.CompletedAt.Add(time.Second), Thresholds: DefaultThresholds()})
	t.Run("a report survives a JSON round trip", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "r.json")
		var buf bytes.Buffer
		if err := writeJSON(b, &buf); err != nil {
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
