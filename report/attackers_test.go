package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
)

// TestAttackersInReport: the attackers show in the text, the JSON and the
// HTML; one that died makes a clean run INCONCLUSIVE naming it, while
// failures seen still FAIL.
func TestAttackersInReport(t *testing.T) {
	attackers := func(problem string) []attack.AttackerPod {
		return []attack.AttackerPod{
			{Pod: "rollcheck-attacker-x-0", Node: "node-a", CPURequest: "120m", MemoryRequest: "64Mi", Share: 50, Achieved: 49.8, Requests: 1494,
				Start: t0, End: t0.Add(30 * time.Second), Offset: 300 * time.Millisecond, Bound: 2 * time.Millisecond, FailureTimes: []time.Time{t0.Add(12 * time.Second)}},
			{Pod: "rollcheck-attacker-x-1", Node: "node-b", Share: 50, Achieved: 30, Requests: 600, Start: t0, End: t0.Add(12 * time.Second), Problem: problem},
		}
	}
	a, o := run(nil, 100)
	r := Build(Input{Attack: a, Outcome: o, Thresholds: DefaultThresholds(), Drained: t0.Add(21 * time.Second), Attackers: attackers("died: its stream ended before the run did")})
	if r.Verdict != Inconclusive || !strings.Contains(strings.Join(r.Reasons, " "), "attacker rollcheck-attacker-x-1 died") {
		t.Fatalf("verdict %s %v, want INCONCLUSIVE naming the dead attacker", r.Verdict, r.Reasons)
	}
	var text, js, html bytes.Buffer
	if err := WriteText(r, &text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "rollcheck-attacker-x-0") || !strings.Contains(text.String(), "+300.0ms ± 2.0ms") || !strings.Contains(text.String(), "49.8/s (50.0/s)") {
		t.Errorf("text lacks the attackers:\n%s", text.String())
	}
	if err := WriteJSON(r, &js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Attackers []map[string]any `json:"attackers"`
	}
	if err := Validate(js.Bytes()); err != nil {
		t.Errorf("schema: %v", err)
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || len(doc.Attackers) != 2 || doc.Attackers[0]["clock_offset_seconds"] != 0.3 || doc.Attackers[1]["problem"] == nil {
		t.Errorf("JSON attackers %v (%v)", doc.Attackers, err)
	}
	if err := WriteHTML(r, &html); err != nil {
		t.Fatal(err)
	}
	h := html.String()
	if !strings.Contains(h, `id="attackers"`) || strings.Count(h, `class="attacker"`) != 2 || !strings.Contains(h, "rollcheck-attacker-x-1 on node-b") {
		t.Errorf("HTML lacks the attacker lanes")
	}

	a, o = run(map[int]int{12: 2}, 100)
	if r := Build(Input{Attack: a, Outcome: o, Thresholds: DefaultThresholds(), Drained: t0.Add(21 * time.Second), Attackers: attackers("fell behind")}); r.Verdict != Fail {
		t.Errorf("failures seen with a lost attacker: %s, want FAIL", r.Verdict)
	}
	a, o = run(nil, 100)
	if r := Build(Input{Attack: a, Outcome: o, Thresholds: DefaultThresholds(), Drained: t0.Add(21 * time.Second), Attackers: attackers("")}); r.Verdict != Pass {
		t.Errorf("attackers all fine: %s %v, want PASS", r.Verdict, r.Reasons)
	}
	if r := Build(Input{Attack: a, Outcome: o, Thresholds: DefaultThresholds(), Drained: t0.Add(21 * time.Second)}); strings.Contains(mustJSON(t, r), "attackers") {
		t.Error("a run without attackers has an attackers field")
	}
}

func mustJSON(t *testing.T, r *Report) string {
	var b bytes.Buffer
	if err := WriteJSON(r, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
