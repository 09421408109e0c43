// Package rollout triggers a Deployment rollout, follows it to completion with
// kubectl's `rollout status` semantics and records a timeline of pod,
// EndpointSlice, ReplicaSet and Deployment transitions, each stamped when the
// informer delivered it (the rollcheck clock).
package rollout

import (
	"time"
)

// ActionKind names how the rollout is started.
type ActionKind string

// Actions.
const (
	ActionRestart  ActionKind = "restart"    // kubectl rollout restart: restartedAt annotation patch
	ActionSetImage ActionKind = "set-image"  // kubectl set image CONTAINER=IMAGE
	ActionWatch    ActionKind = "watch-only" // someone else starts it: AwaitExternal, never Trigger
	ActionApply    ActionKind = "apply"      // server-side apply of a changed Deployment manifest
	ActionScale    ActionKind = "scale"      // kubectl scale: one step of a canary
	ActionSwitch   ActionKind = "switch"     // blue/green: the Service's selector moves away from this Deployment
)

// Action is the trigger of a rollout.
type Action struct {
	Kind   ActionKind
	Images map[string]string // container name -> image, for ActionSetImage
	// Manifest is the Deployment to apply, as JSON, for ActionApply; Source
	// names where it came from in messages (the file).
	Manifest []byte
	Source   string
	Replicas int32 // for ActionScale
}

// Config configures a watch of one Deployment.
type Config struct {
	Namespace  string
	Deployment string
	Service    string // "" finds the Services whose selector matches the pod template
	// NoServices watches no EndpointSlices: another Watcher of the same run
	// (blue/green, canary) records the endpoints of the shared Service.
	NoServices bool
	Action     Action
	Now        func() time.Time // clock; time.Now when nil
}

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
}

// Status is a live view of the rollout for progress lines.
type Status struct {
	Desired        int32
	Updated        int32
	Ready          int32
	Available      int32
	ReadyEndpoints int
	Message        string // what the rollout waits for, in kubectl rollout status words
}

// Outcome is how the rollout ended.
type Outcome struct {
	Triggered   bool      `json:"triggered"`
	StartedAt   time.Time `json:"started_at"`
	CompletedAt time.Time `json:"completed_at,omitempty"`
	Completed   bool      `json:"completed"`
	Reason      string    `json:"reason,omitempty"` // why it did not complete (ProgressDeadlineExceeded, timeout, interrupted)
	Revision    string    `json:"revision,omitempty"`
}
