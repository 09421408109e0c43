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
	EndpointAdded     EventType = "endpoint-added"     // first appearance in a slice; Ready/Serving/Terminating set
	EndpointChanged   EventType = "endpoint-changed"   // conditions changed
	EndpointRemoved   EventType = "endpoint-removed"   // gone from every slice
	ReplicaSetScaled  EventType = "replicaset-scaled"  // spec.replicas changed
	DeploymentUpdated EventType = "deployment-updated" // generation or status counts changed
	RolloutTriggered  EventType = "rollout-triggered"
	RolloutComplete   EventType = "rollout-complete"
	RolloutFailed     EventType = "rollout-failed"
	WatchGap          EventType = "watch-gap" // informer relisted / watch broke; Detail says which
)

// Event is one transition on the rollcheck clock.
type Event struct {
	Time        time.Time  `json:"time"` // receipt time on the rollcheck clock (primary)
	Type        EventType  `json:"type"`
	Pod         string     `json:"pod,omitempty"`
	ReplicaSet  string     `json:"replicaset,omitempty"`
	Revision    string     `json:"revision,omitempty"`   // deployment.kubernetes.io/revision of the ReplicaSet or Deployment
	Deployment  string     `json:"deployment,omitempty"` // for rollout events of runs that change two Deployments
	Service     string     `json:"service,omitempty"`    // for endpoint events
	Container   string     `json:"container,omitempty"`
	IP          string     `json:"ip,omitempty"`
	Ready       *bool      `json:"ready,omitempty"` // endpoint conditions, for endpoint events
	Serving     *bool      `json:"serving,omitempty"`
	Terminating *bool      `json:"terminating,omitempty"`
	ExitCode    *int32     `json:"exit_code,omitempty"`
	Replicas    *int32     `json:"replicas,omitempty"` // for replicaset-scaled
	Reason      string     `json:"reason,omitempty"`
	Detail      string     `json:"detail,omitempty"`
	ServerTime  *time.Time `json:"server_time,omitempty"` // secondary: the server's whole-second timestamp, if any

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
	return nil
}
