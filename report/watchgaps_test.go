package report

import (
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/rollout"
)

func TestWatchGaps(t *testing.T) {
	deletion := rollout.Event{Time: at(11), Type: rollout.DeletionRequested, Pod: "web-1"}

	t.Run("a watch lost in the rollout and never back is inconclusive, naming the watch, where it passed before", func(t *testing.T) {
		in := soundInput(nil)
		in.Events = []rollout.Event{gapBegins(12, "pods"), gapBegins(12.01, "endpointslices")}
		r := Build(in)
		if v := verdictWithout(r, CheckWatches); v != Pass {
			t.Fatalf("without the check the verdict is %s, want the old false PASS", v)
		}
		wantVerdict(t, r, Inconclusive, "pods (lost at +12.00s)", "endpointslices (lost at +12.01s)", "did not recover before the load ended at +30.00s")
	})
	t.Run("a watch lost for good still fails on the failures seen", func(t *testing.T) {
		in := soundInput(map[int]int{12: 1})
		in.Events = []rollout.Event{gapBegins(12, "pods")}
		wantVerdict(t, Build(in), Fail, "1 requests failed")
	})
	t.Run("a watch that came back before the load ended passes, and the check names the gap", func(t *testing.T) {
		in := soundInput(nil)
		in.Events = []rollout.Event{gapBegins(12, "pods"), gapEnds(12, 13.5, "pods")}
		r := Build(in)
		wantVerdict(t, r, Pass)
		if c := check(t, r, CheckWatches); !c.Passed || !strings.Contains(c.Message, "pods +12.00s to +13.50s") {
			t.Errorf("check %+v, want it passed and naming the gap", c)
		}
	})
	t.Run("a watch back only after the load ended counts as lost", func(t *testing.T) {
		in := soundInput(nil)
		in.Events = []rollout.Event{gapBegins(28, "replicasets"), gapEnds(28, 31, "replicasets")}
		wantVerdict(t, Build(in), Inconclusive, "replicasets (lost at +28.00s)")
	})
	t.Run("a gap over a cause's failures marks the cause uncertain, and the verdict stays FAIL", func(t *testing.T) {
		in := soundInput(map[int]int{12: 3})
		in.Events = []rollout.Event{deletion, gapBegins(11.5, "pods"), gapEnds(11.5, 12.5, "pods")}
		r := Build(in)
		wantVerdict(t, r, Fail, "3 requests failed")
		if len(r.Causes) == 0 {
			t.Fatal("no cause")
		}
		c := r.Causes[0]
		if c.Uncertain != "the pods watch was broken from +11.50s to +12.50s" || !strings.Contains(c.Evidence, "Uncertain: the pods watch was broken") {
			t.Errorf("cause %s: uncertain %q, evidence %q; want both to name the gap", c.Code, c.Uncertain, c.Evidence)
		}
	})
	t.Run("a gap over a pod's transitions, after its failures, marks the cause uncertain", func(t *testing.T) {
		in := soundInput(map[int]int{12: 3})
		in.Events = []rollout.Event{deletion, gapBegins(12.5, "endpointslices"), gapEnds(12.5, 12.8, "endpointslices"), {Time: at(13), Type: rollout.ContainerExited, Pod: "web-1"}}
		r := Build(in)
		if len(r.Causes) == 0 || r.Causes[0].Uncertain == "" {
			t.Errorf("causes %+v: want the first uncertain (its pod exited after the gap)", r.Causes)
		}
	})
	t.Run("a gap away from a cause's failures and pods leaves it certain", func(t *testing.T) {
		in := soundInput(map[int]int{12: 3})
		in.Events = []rollout.Event{deletion, gapBegins(25, "pods"), gapEnds(25, 26, "pods")}
		r := Build(in)
		wantVerdict(t, r, Fail)
		for _, c := range r.Causes {
			if c.Uncertain != "" || strings.Contains(c.Evidence, "Uncertain") {
				t.Errorf("cause %s marked uncertain by a gap 13 s later: %q", c.Code, c.Uncertain)
			}
		}
	})
	t.Run("a rollout whose Deployment watch was lost when the run gave up was not seen to fail: inconclusive, not FAIL", func(t *testing.T) {
		in := soundInput(nil)
		in.Outcome.Completed, in.Outcome.Reason = false, "timeout"
		in.Events = []rollout.Event{gapBegins(12, "deployments"), {Time: at(25), Type: rollout.RolloutFailed, Reason: "timeout"}}
		r := Build(in)
		wantVerdict(t, r, Inconclusive, "did not complete: timeout", "whether it completed was not seen", "deployments (lost at +12.00s)")
	})
	t.Run("a rollout that failed while its Deployment was watched still fails", func(t *testing.T) {
		in := soundInput(nil)
		in.Outcome.Completed, in.Outcome.Reason = false, "ProgressDeadlineExceeded"
		in.Events = []rollout.Event{gapBegins(12, "deployments"), gapEnds(12, 13, "deployments"), {Time: at(25), Type: rollout.RolloutFailed, Reason: "ProgressDeadlineExceeded"}}
		wantVerdict(t, Build(in), Fail, "ProgressDeadlineExceeded")
	})
}
