package diagnosis

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/rollcheck/rollcheck/preflight"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// TestPreStopFormsReadTheSameInPreflightAndRecommendations holds lint and
// the report to one reading of a preStop hook: both go through workload.
func TestPreStopFormsReadTheSameInPreflightAndRecommendations(t *testing.T) {
	exec := func(cmd ...string) *corev1.LifecycleHandler {
		return &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}}
	}
	for _, tt := range []struct {
		name string
		h    *corev1.LifecycleHandler
		want time.Duration
	}{
		{"the sleep action", &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 15}}, 15 * time.Second},
		{"exec sleep 15", exec("sleep", "15"), 15 * time.Second},
		{"exec /bin/sleep 15", exec("/bin/sleep", "15"), 15 * time.Second},
		{"sh -c sleep 15", exec("sh", "-c", "sleep 15"), 15 * time.Second},
		{"/bin/sh -c sleep 1m", exec("/bin/sh", "-c", "sleep 1m"), time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := deployment(func(d *appsv1.Deployment) {
				d.Spec.Template.Labels = map[string]string{"app": "web"}
				// A sidecar without a port and without a preStop: the
				// serving container is app, wherever it stands.
				d.Spec.Template.Spec.Containers = []corev1.Container{
					{Name: "proxy", Image: "proxy"},
					{Name: "app", Image: "demo", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}, Lifecycle: &corev1.Lifecycle{PreStop: tt.h}},
				}
				d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptrTo(int64(10))
			})

			// Lint: the grace period arithmetic names the preStop length.
			svc := corev1.Service{Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}
			svc.Name = "web"
			var grace *preflight.Finding
			for _, f := range preflight.Check(preflight.Input{Deployment: d, Services: []corev1.Service{svc}}, preflight.Options{}) {
				if f.Rule == preflight.RuleGracePeriodTooShort {
					grace = &f
				}
			}
			if want := fmt.Sprintf("container app needs preStop %ds", int(tt.want/time.Second)); grace == nil || !strings.Contains(grace.Current, want) {
				t.Errorf("preflight grace finding %+v, want preStop %s of container app", grace, tt.want)
			}

			// Report: the preStop the diagnosis weighs, and the one the
			// grace period advice adds up.
			r := build(exitsAtOnce().input(d))
			if got := readSettings(d).servingPreStop(); got != tt.want {
				t.Errorf("report reads preStop %s, want %s", got, tt.want)
			}
			rec, ok := findRec(r, "spec.template.spec.terminationGracePeriodSeconds")
			if !ok || !strings.Contains(rec.Why, "preStop "+format.Sec(tt.want)+" +") {
				t.Errorf("grace recommendation %+v, want preStop %s", rec, format.Sec(tt.want))
			}
			_, app := findRec(r, "spec.template.spec.containers[app].lifecycle.preStop")
			_, proxy := findRec(r, "spec.template.spec.containers[proxy].lifecycle.preStop")
			if !app || proxy {
				t.Errorf("preStop advice is not about the serving container app: %+v", r.Recommendations)
			}
		})
	}
}

// A success a few milliseconds after a terminating pod's endpoint turned not
// ready was routed as the change happened: it is no routing lag, and with
// no failure from routing it asks for no preStop ("up to 0.00 s", with the
// margin rounding to one second above the current sleep). A lag the
// successes do show still gets its advice.
func TestNoPreStopAdviceFromASuccessAtTheEndpointChange(t *testing.T) {
	set := readSettings(deployment(withPreStopSleep("2")))
	cut := []Cause{{Code: InflightCut, Failures: 20, Confidence: ConfidenceHigh}}
	for _, tt := range []struct {
		lag  float64
		want bool
	}{{0.003, false}, {0.09, false}, {2.5, true}} {
		lag := tt.lag
		recs := recommend(set, cut, Measurements{MaxRoutingLag: &lag}, time.Second, nil)
		var got *Recommendation
		for i := range recs {
			if strings.HasSuffix(recs[i].Field, "lifecycle.preStop") {
				got = &recs[i]
			}
		}
		if (got != nil && !got.Satisfied) != tt.want {
			t.Errorf("routing lag %.3f s from successes: preStop advice %+v, want advice %v", lag, got, tt.want)
		}
	}
}

// A terminating pod's last success between its deletion and its endpoint
// turning not ready measures a routing lag of zero, never a negative one
// (the real node measured -0.01 s).
func TestRoutingLagIsNeverNegative(t *testing.T) {
	tl := newTimeline()
	tl.Running("web-old-a")
	tl.Deleted("web-old-a", 12, 12.2, 12.3, 0, 12.4)
	tl.A.FirstByPod["web-old-a"], tl.A.LastByPod["web-old-a"] = at(0), at(12.19)
	r := build(tl.input(deployment()))
	if m := r.Measurements.MaxRoutingLag; m == nil || *m != 0 {
		t.Errorf("max routing lag %v, want 0", deref(m))
	}
}
