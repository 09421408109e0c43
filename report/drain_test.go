package report

import (
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/rollout"
)

func TestDrainNamesEachReplacementItsNodeAndReadiness(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	evs := []rollout.Event{
		{Time: at(0), Type: rollout.PodReady, Pod: "web-a", Initial: true},
		{Time: at(0), Type: rollout.PodCreated, Pod: "web-a", Initial: true}, // before the drain: not a replacement
		{Time: at(3), Type: rollout.RolloutTriggered, Reason: string(rollout.ActionDrain)},
		{Time: at(3.1), Type: rollout.DeletionRequested, Pod: "web-a"},
		{Time: at(3.2), Type: rollout.PodCreated, Pod: "web-c"},
		{Time: at(3.3), Type: rollout.PodScheduled, Pod: "web-c", Detail: "node-3"},
		{Time: at(3.4), Type: rollout.PodCreated, Pod: "web-d"},
		{Time: at(3.5), Type: rollout.PodScheduled, Pod: "web-d", Detail: "node-1"},
		{Time: at(8.2), Type: rollout.PodReady, Pod: "web-c"},
	}
	d := buildDrain(&DrainInput{Node: "node-2", Evicted: []string{"default/web-a", "default/web-b"}, Drained: true}, evs)
	if len(d.Evicted) != 2 || d.Evicted[0] != "web-a" || d.Evicted[1] != "web-b" {
		t.Errorf("evicted %v, want the pods' names", d.Evicted)
	}
	if len(d.Replacements) != 2 {
		t.Fatalf("replacements %+v, want web-c and web-d", d.Replacements)
	}
	c, dd := d.Replacements[0], d.Replacements[1]
	if c.Pod != "web-c" || c.Node != "node-3" || c.ReadyAt == nil || !c.ReadyAt.Equal(at(8.2)) {
		t.Errorf("replacement %+v, want web-c on node-3 ready at +8.2s", c)
	}
	if dd.Pod != "web-d" || dd.Node != "node-1" || dd.ReadyAt != nil {
		t.Errorf("replacement %+v, want web-d on node-1, not ready", dd)
	}
	if buildDrain(nil, evs) != nil {
		t.Error("a run that drained nothing has a drain")
	}
}
