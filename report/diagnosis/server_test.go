package diagnosis

import (
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/rollcheck/rollcheck/attack"
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

// recOf is the recommendation for field (nil: none).
func recOf(r *run, field string) *Recommendation {
	for i := range r.Recommendations {
		if r.Recommendations[i].Field == field {
			return &r.Recommendations[i]
		}
	}
	return nil
}
