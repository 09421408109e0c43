package check

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/rollout"
)

// An interrupt that cuts the first change's request short (CI run ci21:
// "patch deployment ...: context canceled") ends the run as interrupted,
// not as an error.
func TestInterruptDuringTheTriggerIsAnInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := &Config{RolloutTimeout: time.Minute}
	p := &Plan{cfg: cfg, Steps: []Step{{Name: "restart", Run: func(ctx context.Context, _ time.Duration, _ Reporter) StepResult {
		cancel()
		return StepResult{Err: errors.New("patch deployment default/demo: " + ctx.Err().Error())}
	}}}}
	ph, err := runSteps(ctx, cfg, p, newReporter(nil))
	if err != nil || !ph.interrupted || ph.outcome != (rollout.Outcome{}) {
		t.Errorf("phases %+v, err %v: want interrupted, nothing triggered, no error", ph, err)
	}
	// Without the interrupt the same error is a refused change.
	p.Steps[0].Run = func(context.Context, time.Duration, Reporter) StepResult {
		return StepResult{Err: errors.New("forbidden")}
	}
	if _, err := runSteps(context.Background(), cfg, p, newReporter(nil)); err == nil {
		t.Error("a refused first change is not an error")
	}
}
