package diagnosis

import (
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
)

// The seed's nginx (issue 23): SIGTERM is its fast shutdown, so the slow
// requests open when it exited are cut. The evidence says nginx stops at
// once on SIGTERM, and the preStop advice ends with its graceful stop, with
// the sleep the front's lag asks for before it and the slowest request's
// time after it. Where the preStop already quits nginx gracefully, the
// advice for the cut is the grace period's alone.
func TestNginxStoppedBySIGTERMCutsItsRequests(t *testing.T) {
	nginx := func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:1.15" }
	cut := func() *timeline {
		tl := newTimeline()
		tl.Running("web-old-a")
		tl.Started("web-new-a", 10, 10.5, 11.5)
		tl.Deleted("web-old-a", 12, 12.02, 12.1, 0, 12.2)
		for _, s := range []float64{10.6, 10.9, 11.3, 11.8} {
			tl.Fail(s, attack.ClassEOF, "", at(12.11).Sub(at(s)))
		}
		tl.A.Max = 2 * time.Second
		return tl
	}
	r := build(cut().input(deployment(nginx)))
	c, ok := causeOf(r, InflightCut)
	if !ok || c.Failures != 4 {
		t.Fatalf("causes %+v, want INFLIGHT_CUT for all 4", r.Causes)
	}
	if !strings.Contains(c.Evidence, "container app runs nginx, which SIGTERM stops at once (its fast shutdown; SIGQUIT stops it gracefully)") {
		t.Errorf("evidence %q does not name nginx's fast shutdown", c.Evidence)
	}
	rec := recOf(r, "spec.template.spec.containers[app].lifecycle.preStop")
	if rec == nil || !strings.Contains(rec.Suggested, `exec ["sh", "-c", "sleep 2; /usr/sbin/nginx -s quit; sleep 4"]`) || !strings.Contains(rec.Suggested, "lifecycle.stopSignal: SIGQUIT") || rec.Satisfied {
		t.Errorf("preStop advice %+v, want the margin's 2 s sleep (no routing measured), nginx -s quit, then 4 s for the slowest request (2 s + the margin), or stopSignal SIGQUIT", rec)
	}
	if !strings.Contains(rec.Why, "nginx.org/en/docs/control.html") {
		t.Errorf("why %q cites no nginx documentation", rec.Why)
	}

	// With the front's lag too, the sleep comes first.
	tl := cut()
	tl.Fails(12.3, 13.9, 0.1, attack.Class502, "")
	tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = at(11.6), at(29.9)
	tl.A.FirstByPod["web-old-a"], tl.A.LastByPod["web-old-a"] = at(0), at(12.05)
	r = build(tl.input(deployment(nginx)))
	if _, ok := causeOf(r, TerminatingPodStillRouted); !ok {
		t.Fatalf("causes %+v, want TERMINATING_POD_STILL_ROUTED beside the cut", r.Causes)
	}
	rec = recOf(r, "spec.template.spec.containers[app].lifecycle.preStop")
	if rec == nil || !strings.Contains(rec.Suggested, `exec ["sh", "-c", "sleep 4; /usr/sbin/nginx -s quit; sleep 4"]`) || !slices.Contains(rec.Causes, InflightCut) {
		t.Errorf("preStop advice %+v, want the routing lag's sleep (1.88 s + 2 s), then nginx -s quit, for both causes", rec)
	}

	// The seed's fix in place: nothing about nginx.
	graceful := func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/usr/sbin/nginx", "-s", "quit"}}}}
	}
	r = build(cut().input(deployment(nginx, graceful)))
	c, _ = causeOf(r, InflightCut)
	if strings.Contains(c.Evidence, "nginx") {
		t.Errorf("evidence %q names nginx's fast shutdown, yet the preStop quits it gracefully", c.Evidence)
	}
	if rec := recOf(r, "spec.template.spec.containers[app].lifecycle.preStop"); rec != nil && strings.Contains(rec.Suggested, "nginx") {
		t.Errorf("preStop advice %+v though nginx quits gracefully", rec)
	}
	// Not nginx: nothing about it either.
	r = build(cut().input(deployment()))
	if rec := recOf(r, "spec.template.spec.containers[app].lifecycle.preStop"); rec != nil && strings.Contains(rec.Suggested, "quit") {
		t.Errorf("preStop advice %+v for the demo app", rec)
	}
}

// nginx whose lifecycle.stopSignal is SIGQUIT: where the kubelet reports
// SIGQUIT in the started container's status, the signal stopped it and the
// cut is not nginx's; where it reports none (a kubelet without the
// ContainerStopSignals gate, or containerd 1.6 on the lab's real node),
// SIGTERM did, and the evidence and the advice say the field was not
// applied, advising the preStop alone.
func TestNginxStopSignalNotApplied(t *testing.T) {
	nginx := func(d *appsv1.Deployment) {
		quit := corev1.SIGQUIT
		c := &d.Spec.Template.Spec.Containers[0]
		c.Image, c.Lifecycle = "nginx:1.15", &corev1.Lifecycle{StopSignal: &quit}
	}
	cut := func(reported string) *timeline {
		tl := newTimeline()
		tl.Running("web-old-a")
		tl.Started("web-new-a", 10, 10.5, 11.5)
		for i := range tl.Ev {
			if tl.Ev[i].Type == rollout.ContainerStarted {
				tl.Ev[i].StopSignal = reported
			}
		}
		tl.Deleted("web-old-a", 12, 12.02, 12.1, 0, 12.2)
		for _, s := range []float64{10.6, 10.9, 11.3, 11.8} {
			tl.Fail(s, attack.ClassEOF, "", at(12.11).Sub(at(s)))
		}
		tl.A.Max = 2 * time.Second
		return tl
	}
	const preStop = "spec.template.spec.containers[app].lifecycle.preStop"
	r := build(cut("").input(deployment(nginx)))
	c, ok := causeOf(r, InflightCut)
	if !ok {
		t.Fatalf("causes %+v, want INFLIGHT_CUT", r.Causes)
	}
	if !strings.Contains(c.Evidence, "its lifecycle.stopSignal SIGQUIT was not applied: the kubelet reported no stop signal in the status of its 1 start in the run") {
		t.Errorf("evidence %q does not say the stop signal was not applied", c.Evidence)
	}
	rec := recOf(r, preStop)
	if rec == nil || !strings.Contains(rec.Suggested, "/usr/sbin/nginx -s quit") || strings.Contains(rec.Suggested, "or lifecycle.stopSignal") || !strings.Contains(rec.Suggested, "was not applied in this cluster") {
		t.Errorf("preStop advice %+v, want nginx -s quit and no stopSignal alternative", rec)
	}
	// A kubelet that reports another signal did not apply it either.
	r = build(cut("SIGTERM").input(deployment(nginx)))
	if c, _ := causeOf(r, InflightCut); !strings.Contains(c.Evidence, "the kubelet reported SIGTERM") {
		t.Errorf("evidence %q does not name the signal the kubelet reported", c.Evidence)
	}
	// Applied: nothing about nginx.
	r = build(cut("SIGQUIT").input(deployment(nginx)))
	if c, _ := causeOf(r, InflightCut); strings.Contains(c.Evidence, "nginx") {
		t.Errorf("evidence %q names nginx, yet the kubelet applied SIGQUIT", c.Evidence)
	}
	if rec := recOf(r, preStop); rec != nil && strings.Contains(rec.Suggested, "nginx") {
		t.Errorf("preStop advice %+v though SIGQUIT stopped nginx", rec)
	}
}

// recOf is the recommendation for field (nil: none).
func recOf(r *run, field string) *Recommendation {
	for i := range r.Recommendations {
		if r.Recommendations[i].Field == field {
			return &r.Recommendations[i]
		}
	}
	return nil
}
