package rollout

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// EventType is one kind of lifecycle transition (DESIGN.md vocabulary).
type EventType string

// Event types.
const (
	PodCreated        EventType = "pod-created"
	PodScheduled      EventType = "pod-scheduled"
	ContainerStarted  EventType = "container-started"
	PodReady          EventType = "pod-ready"
	PodNotReady       EventType = "pod-not-ready"
	DeletionRequested EventType = "deletion-requested"
	ContainerExited   EventType = "container-exited"
	PodDeleted        EventType = "pod-deleted"
	PodEvicted        EventType = "pod-evicted"        // a drain's eviction the API server accepted
	EndpointAdded     EventType = "endpoint-added"     // first appearance in a slice; Ready/Serving/Terminating set
	EndpointChanged   EventType = "endpoint-changed"   // conditions changed
	EndpointRemoved   EventType = "endpoint-removed"   // gone from every slice
	ReplicaSetScaled  EventType = "replicaset-scaled"  // spec.replicas changed
	DeploymentUpdated EventType = "deployment-updated" // generation or status counts changed
	RolloutTriggered  EventType = "rollout-triggered"
	RolloutComplete   EventType = "rollout-complete"
	RolloutFailed     EventType = "rollout-failed"
	WatchGap          EventType = "watch-gap" // a watch broke or resumed: Watch, Resumed, GapStart
)

// Event is one transition on the rollcheck clock.
type Event struct {
	Time        time.Time `json:"time"` // receipt time on the rollcheck clock (primary)
	Type        EventType `json:"type"`
	Pod         string    `json:"pod,omitempty"`
	Node        string    `json:"node,omitempty"` // of a pod event: the Node the pod is bound to, once scheduled
	ReplicaSet  string    `json:"replicaset,omitempty"`
	Revision    string    `json:"revision,omitempty"`   // deployment.kubernetes.io/revision of the ReplicaSet or Deployment
	Deployment  string    `json:"deployment,omitempty"` // for rollout events of runs that change two Deployments
	Service     string    `json:"service,omitempty"`    // for endpoint events
	Container   string    `json:"container,omitempty"`
	IP          string    `json:"ip,omitempty"`
	Ready       *bool     `json:"ready,omitempty"` // endpoint conditions, for endpoint events
	Serving     *bool     `json:"serving,omitempty"`
	Terminating *bool     `json:"terminating,omitempty"`
	ExitCode    *int32    `json:"exit_code,omitempty"`
	// StopSignal, of a container-started event, is the signal the kubelet
	// reports it will stop the container with (status.containerStatuses[].
	// stopSignal): "" when it reports none, as a kubelet without the
	// ContainerStopSignals gate or on a runtime that does not implement it.
	StopSignal string     `json:"stop_signal,omitempty"`
	Replicas   *int32     `json:"replicas,omitempty"` // for replicaset-scaled
	Reason     string     `json:"reason,omitempty"`
	Detail     string     `json:"detail,omitempty"`
	ServerTime *time.Time `json:"server_time,omitempty"` // secondary: the server's whole-second timestamp, if any

	// The facts below are also in Detail, which is for people; programs
	// read them here. They are serialized because reports are re-rendered
	// from their JSON (rollcheck report), which rebuilds pod lifecycles.

	// Initial marks a snapshot of what existed before the watch started (a
	// pod's readiness, an endpoint, a deletion already under way) rather
	// than a transition seen as it happened.
	Initial bool `json:"initial,omitempty"`
	// GracePeriod is the pod's deletion grace period, for
	// deletion-requested; nil when the pod did not say.
	GracePeriod *time.Duration `json:"grace_period_ns,omitempty"`

	// Watch names the watch of a watch-gap event: deployments,
	// replicasets, pods or endpointslices.
	Watch string `json:"watch,omitempty"`
	// Resumed marks the watch-gap event that ends a gap: the watch works
	// again. What changed meanwhile is delivered by the relist, so it
	// carries about this time rather than when it happened. A watch-gap
	// event without Resumed begins a gap.
	Resumed bool `json:"resumed,omitempty"`
	// GapStart is, on the event that ends a gap, when the gap began.
	GapStart *time.Time `json:"gap_start,omitempty"`
}

// UnmarshalJSON reads an Event from a JSON report. Reports written before
// Initial and GracePeriod existed carry those facts only in Detail, in the
// words this package wrote there; they are read back from it so that an
// older report re-renders as it did.
func (e *Event) UnmarshalJSON(data []byte) error {
	type plain Event // without this method
	if err := json.Unmarshal(data, (*plain)(e)); err != nil {
		return err
	}
	switch e.Type {
	case PodReady, PodNotReady, EndpointAdded, DeletionRequested:
		if e.Detail == "initial" || strings.HasSuffix(e.Detail, ", initial") {
			e.Initial = true
		}
	}
	if e.Type == DeletionRequested && e.GracePeriod == nil {
		var s int64
		if _, err := fmt.Sscanf(e.Detail, "grace %ds", &s); err == nil {
			e.GracePeriod = ptr(time.Duration(s) * time.Second)
		}
	}
	if e.Type == WatchGap && e.Watch == "" {
		e.Watch, e.Resumed, e.GapStart = gapFromDetail(e.Time, e.Detail)
	}
	return nil
}

// gapFromDetail reads a watch-gap event of a report written before Watch,
// Resumed and GapStart existed, from the words gaps.go wrote in Detail:
// "NAME: watch resumed after 3.2s" ends a gap; "NAME: watch failed: ..."
// and "NAME: ERROR" (the watch error handler) begin one.
func gapFromDetail(at time.Time, detail string) (watch string, resumed bool, start *time.Time) {
	watch, rest, ok := strings.Cut(detail, ": ")
	if !ok {
		return "", false, nil
	}
	if after, ok := strings.CutPrefix(rest, "watch resumed after "); ok {
		if d, err := time.ParseDuration(after); err == nil {
			return watch, true, ptr(at.Add(-d))
		}
		return watch, true, nil
	}
	return watch, false, nil
}
