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

func TestWatchGapJSON(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC)
	began := at.Add(-3200 * time.Millisecond)
	tests := []struct {
		name    string
		json    string
		watch   string
		resumed bool
		start   *time.Time
	}{
		{"a new report carries the watch, the end and the gap's start",
			`{"time":"2026-01-01T00:00:05Z","type":"watch-gap","detail":"pods: watch resumed after 3.2s","watch":"pods","resumed":true,"gap_start":"2026-01-01T00:00:01.8Z"}`,
			"pods", true, &began},
		{"an older report's resumption is read from its detail, with the gap's start",
			`{"time":"2026-01-01T00:00:05Z","type":"watch-gap","detail":"pods: watch resumed after 3.2s"}`,
			"pods", true, &began},
		{"an older report's refused watch begins a gap",
			`{"time":"2026-01-01T00:00:05Z","type":"watch-gap","detail":"endpointslices: watch failed: dial tcp 127.0.0.1:6443: connect: connection refused"}`,
			"endpointslices", false, nil},
		{"an older report's failed list begins a gap",
			`{"time":"2026-01-01T00:00:05Z","type":"watch-gap","detail":"deployments: failed to list *v1.Deployment: Get \"https://127.0.0.1:6443\": EOF"}`,
			"deployments", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Event
			if err := json.Unmarshal([]byte(tt.json), &got); err != nil {
				t.Fatal(err)
			}
			if got.Watch != tt.watch || got.Resumed != tt.resumed || (got.GapStart == nil) != (tt.start == nil) ||
				got.GapStart != nil && !got.GapStart.Equal(*tt.start) {
				t.Errorf("got watch %q resumed %v start %v, want %q %v %v", got.Watch, got.Resumed, got.GapStart, tt.watch, tt.resumed, tt.start)
			}
		})
	}
}
