package rollout

import (
	"encoding/json"
	"testing"
	"time"
)

func TestEventJSON(t *testing.T) {
	grace := 30 * time.Second
	tests := []struct {
		name string
		json string
		want Event
	}{
		{"a new report carries the typed fields",
			`{"time":"2026-01-01T00:00:00Z","type":"deletion-requested","pod":"web-1","detail":"grace 30s, initial","initial":true,"grace_period_ns":30000000000}`,
			Event{Type: DeletionRequested, Pod: "web-1", Detail: "grace 30s, initial", Initial: true, GracePeriod: &grace}},
		{"an older report's initial snapshot is read from its detail",
			`{"time":"2026-01-01T00:00:00Z","type":"endpoint-added","pod":"web-1","detail":"initial"}`,
			Event{Type: EndpointAdded, Pod: "web-1", Detail: "initial", Initial: true}},
		{"an older report's deletion keeps its grace period and initial mark",
			`{"time":"2026-01-01T00:00:00Z","type":"deletion-requested","pod":"web-1","detail":"grace 30s, initial"}`,
			Event{Type: DeletionRequested, Pod: "web-1", Detail: "grace 30s, initial", Initial: true, GracePeriod: &grace}},
		{"an unknown grace period stays unknown",
			`{"time":"2026-01-01T00:00:00Z","type":"deletion-requested","pod":"web-1","detail":"grace unknown"}`,
			Event{Type: DeletionRequested, Pod: "web-1", Detail: "grace unknown"}},
		{"a node named initial does not make a scheduling initial",
			`{"time":"2026-01-01T00:00:00Z","type":"pod-scheduled","pod":"web-1","detail":"initial"}`,
			Event{Type: PodScheduled, Pod: "web-1", Detail: "initial"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Event
			if err := json.Unmarshal([]byte(tt.json), &got); err != nil {
				t.Fatal(err)
			}
			tt.want.Time = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			if got.Initial != tt.want.Initial || (got.GracePeriod == nil) != (tt.want.GracePeriod == nil) ||
				got.GracePeriod != nil && *got.GracePeriod != *tt.want.GracePeriod ||
				got.Type != tt.want.Type || got.Detail != tt.want.Detail || !got.Time.Equal(tt.want.Time) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("an event without the typed facts serializes as before", func(t *testing.T) {
		b, err := json.Marshal(Event{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Type: PodCreated, Pod: "web-1"})
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"time":"2026-01-01T00:00:00Z","type":"pod-created","pod":"web-1"}`; string(b) != want {
			t.Errorf("got %s, want %s", b, want)
		}
	})
}
