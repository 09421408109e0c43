package report

import (
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/report/diagnosis"
	"github.com/rollcheck/rollcheck/rollout"
)

// DrainInput is what a drain's report needs beyond the timeline: the node,
// the pods it evicted, the PodDisruptionBudgets that refused an eviction,
// and how the node was left.
type DrainInput struct {
	Node string
	// Evicted are the pods evicted and gone, namespace/name, in order.
	Evicted []string
	// Blocking are the PodDisruptionBudgets that refused an eviction
	// ("namespace/name (allows N disruptions)"), found when the drain
	// did not finish.
	Blocking []string
	// Drained: every pod the drain had to evict is gone.
	Drained bool
	// Error is why the drain did not finish ("" when it did).
	Error string
	// LeftCordoned: the node is unschedulable after the run.
	LeftCordoned bool
	// WorkloadEvicted counts the judged workload's pods among Evicted.
	WorkloadEvicted int
	// PDBs are the PodDisruptionBudgets that select the workload's pods,
	// with their rule ("web: maxUnavailable 1").
	PDBs []string
}

// Drain is the report's view of a node drain.
type Drain struct {
	Node         string        `json:"node"`
	Drained      bool          `json:"drained"`
	Evicted      []string      `json:"evicted"`
	Replacements []Replacement `json:"replacements"`
	// BlockingPDBs are the PodDisruptionBudgets that refused an eviction.
	BlockingPDBs []string `json:"blocking_pdbs,omitempty"`
	Error        string   `json:"error,omitempty"`
	LeftCordoned bool     `json:"left_cordoned"`
	// PDBs are the PodDisruptionBudgets that select the workload's pods.
	PDBs []string `json:"pdbs"`
}

// Replacement is a pod created after the drain began, the node it was
// scheduled to and when it became ready (nil: not seen ready).
type Replacement struct {
	Pod     string     `json:"pod"`
	Node    string     `json:"node"`
	ReadyAt *time.Time `json:"ready_at,omitempty"`
}

// buildDrain reads the replacements from the timeline: the pods created
// after the drain was triggered, where they were scheduled and when they
// became ready.
func buildDrain(in *DrainInput, events []rollout.Event) *Drain {
	if in == nil {
		return nil
	}
	d := &Drain{Node: in.Node, Drained: in.Drained, Evicted: []string{}, Replacements: []Replacement{},
		BlockingPDBs: in.Blocking, Error: in.Error, LeftCordoned: in.LeftCordoned, PDBs: append([]string{}, in.PDBs...)}
	for _, ref := range in.Evicted {
		_, name, _ := strings.Cut(ref, "/")
		d.Evicted = append(d.Evicted, name)
	}
	var triggered time.Time
	byPod := map[string]*Replacement{}
	var order []string
	for _, e := range events {
		switch {
		case e.Type == rollout.RolloutTriggered && e.Reason == string(rollout.ActionDrain) && triggered.IsZero():
			triggered = e.Time
		case triggered.IsZero() || e.Initial:
		case e.Type == rollout.PodCreated:
			byPod[e.Pod] = &Replacement{Pod: e.Pod}
			order = append(order, e.Pod)
		case e.Type == rollout.PodScheduled && byPod[e.Pod] != nil:
			byPod[e.Pod].Node = e.Detail
		case e.Type == rollout.PodReady && byPod[e.Pod] != nil && byPod[e.Pod].ReadyAt == nil:
			t := e.Time
			byPod[e.Pod].ReadyAt = &t
		}
	}
	for _, p := range order {
		d.Replacements = append(d.Replacements, *byPod[p])
	}
	return d
}

// drainDiagnosis is what the diagnosis needs of a drain (nil for other
// runs).
func drainDiagnosis(in *DrainInput) *diagnosis.Drain {
	if in == nil {
		return nil
	}
	return &diagnosis.Drain{Node: in.Node, Evicted: in.WorkloadEvicted, PDBs: in.PDBs}
}

// PodNodes maps each pod of the timeline to the Node it was bound to, as
// its events say (pods of older reports, and pods never scheduled, are
// absent).
func (r *Report) PodNodes() map[string]string { return podNodes(r.Events) }

func podNodes(events []rollout.Event) map[string]string {
	out := map[string]string{}
	for _, e := range events {
		if e.Pod != "" && e.Node != "" {
			out[e.Pod] = e.Node
		}
	}
	return out
}
