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
	ActionWeights  ActionKind = "weights"    // a weighted canary: an HTTPRoute's weights move, the Deployment is only watched
	ActionDrain    ActionKind = "drain"      // kubectl drain NODE: the node's pods are evicted, the workload is only watched
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

// Config configures a watch of one workload.
type Config struct {
	Namespace string
	// Kind is the workload's kind (Deployment when unset); Deployment is
	// its name, whatever the kind.
	Kind       Kind
	Deployment string
	Service    string // "" finds the Services whose selector matches the pod template
	// NoServices watches no EndpointSlices: another Driver of the same run
	// (blue/green, canary) records the endpoints of the shared Service.
	NoServices bool
	Action     Action
	Now        func() time.Time // clock; time.Now when nil
}

// Status is a live view of the rollout for progress lines.
type Status struct {
	Desired int32
	// Updated counts the pods of the newest spec known, the one an action
	// wrote or the informer delivered: for a Deployment, the pods of the
	// ReplicaSet whose template is that spec's, as the informers see them;
	// otherwise the kind's status count, and 0 while the controller has not
	// observed that spec (kubectl's "waiting for spec update to be
	// observed": no pod is known to be of it).
	Updated int32
	// Ready counts the workload's pods that are Ready and not terminating,
	// from the pod informer once started (the status's readyReplicas
	// before): the same pods Updated and Terminating count.
	Ready     int32
	Available int32
	// Terminating counts the pods the selector matches that have a
	// deletionTimestamp: what WaitDrained (the drain phase) waits to see
	// gone, including a pod whose old ReplicaSet was already deleted.
	Terminating    int32
	ReadyEndpoints int
	// Triggered: the Driver has started a rollout or seen one started
	// elsewhere. Before that, Updated counts the pods of the spec the run
	// found, which are all of them.
	Triggered bool
	Message   string // what the rollout waits for, in kubectl rollout status words
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
