package report

import (
	"fmt"
	"time"

	"github.com/rollcheck/rollcheck/report/internal/format"
	"github.com/rollcheck/rollcheck/rollout"
)

// drainedCheck judges whether the load ran until every pod the rollout
// removed was gone. kubectl's "complete" comes while old pods are still in
// their preStop and drain; failures from them (a load balancer still
// routing, requests cut at exit) come later, and a run whose load ended
// before them has not seen them: it may not PASS.
func drainedCheck(r *Report, in Input) Check {
	c := Check{Code: CheckDrained, Name: "removed pods gone under load", Inconclusive: true, Partial: true,
		Skipped: !r.Rollout.Triggered || !r.Rollout.Completed || in.Interrupted}
	end := time.Time{}
	if in.Attack != nil {
		end = in.Attack.End
	}
	t0 := r.Start()
	switch {
	case c.Skipped:
		c.Passed, c.Message = true, "not applicable: the rollout did not complete"
	case in.NotDrained != "":
		c.Message = fmt.Sprintf("the load ended at %s before every pod the rollout removed was gone (%s): failures after that were not seen", format.Offset(t0, end), in.NotDrained)
	case in.Drained.IsZero():
		c.Message = "when the pods the rollout removed were gone was not observed: failures after the load ended would not be seen"
	default:
		c.Passed = true
		c.Message = fmt.Sprintf("the last pod the rollout removed was gone at %s; the load ran until %s", format.Offset(t0, in.Drained), format.Offset(t0, end))
	}
	return c
}

// replacedCheck judges whether the rollout replaced any pod: a set-image to
// the running image, someone else's change that was only a scale or a
// label, leave every pod in place, and a run over them has tested nothing.
func replacedCheck(r *Report, in Input) Check {
	c := Check{Code: CheckReplaced, Name: "pods replaced", Inconclusive: true, Partial: true,
		Skipped: !in.Replaces || !r.Rollout.Triggered || !r.Rollout.Completed || in.Interrupted}
	if c.Skipped {
		c.Passed, c.Message = true, "not applicable"
		return c
	}
	created, removed := 0, 0
	for _, e := range in.Events {
		switch {
		case e.Initial:
		case e.Type == rollout.PodCreated:
			created++
		case e.Type == rollout.DeletionRequested:
			removed++
		}
	}
	c.Passed = created > 0 && removed > 0
	c.Message = fmt.Sprintf("%d pods created, %d removed", created, removed)
	if !c.Passed {
		c.Message = fmt.Sprintf("no pod was replaced (%d created, %d removed): the rollout changed nothing that serves, so nothing was tested", created, removed)
	}
	return c
}
