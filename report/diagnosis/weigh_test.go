package diagnosis

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
)

// Attribution without the pod's identity on the failures (issue 14): the
// load balancer's own 502/503/504 name no pod; at most the app's successes
// do.

func causeOf(r *run, code CauseCode) (Cause, bool) {
	for _, c := range r.Causes {
		if c.Code == code {
			return c, true
		}
	}
	return Cause{}, false
}

var digits = regexp.MustCompile(`[0-9]`)

// wantNoNumber fails unless the recommendation for field exists, names no
// number and says why.
func wantNoNumber(t *testing.T, r *run, field string) {
	t.Helper()
	rec, ok := findRec(r, field)
	switch {
	case !ok:
		t.Errorf("no recommendation for %s: %+v", field, r.Recommendations)
	case rec.Withheld == "":
		t.Errorf("%s suggests %q without saying why no number is given", field, rec.Suggested)
	case digits.MatchString(rec.Suggested):
		t.Errorf("%s suggests a number (%q) from an ambiguous measurement", field, rec.Suggested)
	case rec.Satisfied:
		t.Errorf("%s is satisfied although nothing was measured to satisfy", field)
	}
}

// wantUnsure fails unless the primary cause is of low confidence, names
// an alternative, and the preStop advice gives no number.
func wantUnsure(t *testing.T, r *run) {
	t.Helper()
	if c := r.Causes[0]; c.Confidence != ConfidenceLow || len(c.Alternatives) == 0 {
		t.Errorf("primary cause %s, confidence %s, alternatives %+v; want low with an alternative", c.Code, c.Confidence, c.Alternatives)
	}
	wantNoNumber(t, r, "spec.template.spec.containers[app].lifecycle.preStop")
}

// newPodsSlowOldDraining is the reported case: a new pod without a
// readiness probe is Ready at 10.5 s but listens only at 15.5 s; the old
// pod, deleted at 10.6 s, runs a preStop sleep of 2 s and exits at 12.7 s.
// The load balancer (no lag) sends the new pod its share at once and the
// old one none after its endpoint turned not-ready: every failure is the
// new pod's, and none names a pod.
func newPodsSlowOldDraining(successHeader bool) *timeline {
	tl := newTimeline()
	tl.Running("web-old-a")
	tl.Started("web-new-a", 10, 10.2, 10.5)
	tl.Deleted("web-old-a", 10.6, 10.62, 12.7, 0, 12.8)
	tl.Fails(10.7, 15.5, 0.1, attack.Class502, "")
	if successHeader {
		tl.A.FirstByPod["web-old-a"], tl.A.LastByPod["web-old-a"] = at(0), at(10.6)
		tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = at(15.55), at(29.9)
	}
	return tl
}

func TestAttributionWithoutPodIdentity(t *testing.T) {
	t.Run("an old pod exited and a new pod not yet seen serving fit the same failures: both named, confidence low, no number", func(t *testing.T) {
		r := build(exitsAtOnceNoHeader().input(deployment()))
		routed, ok := causeOf(r, TerminatingPodStillRouted)
		if !ok || routed.Confidence != ConfidenceLow {
			t.Fatalf("TERMINATING_POD_STILL_ROUTED = %+v, want it with confidence low", routed)
		}
		if len(routed.Alternatives) != 1 || routed.Alternatives[0].Code != NewPodNotServing || routed.Alternatives[0].Failures != routed.Failures {
			t.Errorf("alternatives = %+v, want NEW_POD_NOT_SERVING for all %d failures", routed.Alternatives, routed.Failures)
		}
		if len(routed.SeparateBy) == 0 || !strings.Contains(strings.Join(routed.SeparateBy, " "), "pod header") {
			t.Errorf("separate by = %q, want what would tell them apart", routed.SeparateBy)
		}
		fresh, ok := causeOf(r, NewPodNotServing)
		if !ok || fresh.Confidence != ConfidenceLow || fresh.AlsoExplains != routed.Failures || fresh.Failures != 0 {
			t.Errorf("NEW_POD_NOT_SERVING = %+v, want it named as fitting the same %d failures, confidence low", fresh, routed.Failures)
		}
		if r.Measurements.MaxRoutingLag != nil {
			t.Errorf("routing lag %v measured from failures that fit another cause", *r.Measurements.MaxRoutingLag)
		}
		wantNoNumber(t, r, "spec.template.spec.containers[app].lifecycle.preStop")
		wantNoNumber(t, r, "spec.minReadySeconds")
		if rec, _ := findRec(r, "spec.template.spec.terminationGracePeriodSeconds"); rec.Withheld == "" || !strings.Contains(rec.Suggested, "the preStop you choose") {
			t.Errorf("grace period = %+v, want no total while the preStop is unknown", rec)
		}
	})

	t.Run("a new pod Ready after an old one exited fits as well as the old one: both named, confidence low", func(t *testing.T) {
		tl := newTimeline()
		tl.Running("web-old-a")
		tl.Deleted("web-old-a", 12, 12.02, 12.1, 0, 12.2)
		tl.Started("web-new-a", 11, 11.5, 12.15)
		tl.Fails(12.3, 14.0, 0.05, attack.Class502, "")
		r := build(tl.input(deployment()))
		total := 0
		for _, c := range r.Causes {
			total += c.Failures
			if c.Confidence != ConfidenceLow {
				t.Errorf("%s has confidence %s, want low", c.Code, c.Confidence)
			}
		}
		if total != r.Failures {
			t.Errorf("causes count %d failures, the load %d: a shared failure must be counted once", total, r.Failures)
		}
		_, routed := causeOf(r, TerminatingPodStillRouted)
		_, fresh := causeOf(r, NewPodNotServing)
		if !routed || !fresh {
			t.Errorf("causes = %+v, want both candidates named", r.Causes)
		}
		wantNoNumber(t, r, "spec.template.spec.containers[app].lifecycle.preStop")
		wantNoNumber(t, r, "spec.minReadySeconds")
	})

	for _, header := range []bool{true, false} {
		name := "the reported case with the app's header on successes: the new pod, confidence high, no preStop advice"
		if !header {
			name = "the reported case with no header at all: the new pod first, the old one only as a low alternative, no preStop number"
		}
		t.Run(name, func(t *testing.T) {
			r := build(newPodsSlowOldDraining(header).input(deployment(withPreStopSleep("2"))))
			if r.Causes[0].Code != NewPodNotServing {
				t.Fatalf("primary cause = %s (%s), want NEW_POD_NOT_SERVING", r.Causes[0].Code, r.Causes[0].Evidence)
			}
			for _, c := range r.Causes {
				if (c.Code == LBDeregistrationLag || c.Code == TerminatingPodStillRouted) && (c.Failures > 0 || c.Confidence != ConfidenceLow) {
					t.Errorf("old pod blamed: %s %d failed, confidence %s: %s", c.Code, c.Failures, c.Confidence, c.Evidence)
				}
			}
			if lag := r.Measurements.MaxRoutingLag; lag != nil && *lag > 0.1 {
				t.Errorf("routing lag %.2f s measured, the load balancer had none", *lag)
			}
			if rec, ok := findRec(r, "spec.template.spec.containers[app].lifecycle.preStop"); ok && (rec.Withheld == "" || digits.MatchString(rec.Suggested)) {
				t.Errorf("preStop advice %q: a number that would fix nothing", rec.Suggested)
			}
			if header {
				if c := r.Causes[0]; c.Confidence != ConfidenceHigh || len(r.Causes) != 1 {
					t.Errorf("causes = %+v, want only NEW_POD_NOT_SERVING with confidence high", r.Causes)
				}
				if _, ok := findRec(r, "spec.template.spec.containers[app].lifecycle.preStop"); ok {
					t.Errorf("preStop advice given although no old pod failed a request")
				}
				if b := strings.Join(r.Causes[0].Basis, "; "); !strings.Contains(b, "not web-old-a: its successes stopped at +10.60s") {
					t.Errorf("basis %q does not say why the old pod is not blamed", b)
				}
				// Failures for 5.0 s after Ready (10.5 → 15.5 s).
				if rec, _ := findRec(r, "spec.minReadySeconds"); rec.Suggested != "6" {
					t.Errorf("minReadySeconds = %q, want 6", rec.Suggested)
				}
			} else {
				wantNoNumber(t, r, "spec.minReadySeconds")
			}
		})
	}

	t.Run("an old pod whose successes stopped at its endpoint's removal while it still served is not blamed after it exits", func(t *testing.T) {
		tl := newTimeline()
		tl.Running("web-old-a")
		tl.Started("web-new-a", 10, 10.2, 10.5)
		tl.Deleted("web-old-a", 10.6, 10.62, 16.7, 0, 16.8)
		tl.A.LastByPod["web-old-a"] = at(10.62)
		tl.Fails(10.7, 18.0, 0.1, attack.Class502, "")
		r := build(tl.input(deployment(withPreStopSleep("6"))))
		if _, ok := causeOf(r, LBDeregistrationLag); ok {
			t.Errorf("causes = %+v: the load balancer had stopped routing to web-old-a 6 s before it exited", r.Causes)
		}
	})

	// Seen on the lab (issue 14's e2e suite): new pods without a readiness
	// probe Ready at once, old pods with a 3 s preStop behind a load
	// balancer that routes to them for 2 s after deletion. The old pod's
	// last success, 2 s after deletion, came before its preStop ended: the
	// load balancer had stopped sending it requests, not the pod serving.
	t.Run("an old pod's last success before its preStop ended does not open its window: the failures meanwhile are the new pod's alone", func(t *testing.T) {
		tl := newTimeline()
		tl.Running("web-old-a")
		tl.Started("web-new-a", 10, 10.05, 10.1)
		tl.Deleted("web-old-a", 10.2, 10.22, 13.3, 0, 13.4)
		tl.A.FirstByPod["web-old-a"], tl.A.LastByPod["web-old-a"] = at(0), at(12.2)
		tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = at(13.0), at(29.9)
		tl.Fails(10.2, 12.95, 0.05, attack.Class502, "")
		r := build(tl.input(deployment(withPreStopSleep("3"))))
		if c := r.Causes[0]; c.Code != NewPodNotServing || c.Confidence != ConfidenceHigh || len(c.Alternatives) != 0 || len(r.Causes) != 1 {
			t.Fatalf("causes = %+v; want only NEW_POD_NOT_SERVING, high, with no alternative", r.Causes)
		}
		if rec, _ := findRec(r, "spec.minReadySeconds"); rec.Suggested != "4" {
			t.Errorf("minReadySeconds = %q (%s), want 4 (failures until 2.85 s after Ready)", rec.Suggested, rec.Withheld)
		}
	})

	// exitsAtOnceNoHeader with a readiness probe on the app's port: the
	// new pod was Ready only once its listener answered the kubelet.
	probed := func(port intstr.IntOrString, declared ...corev1.ContainerPort) func(*appsv1.Deployment) {
		return func(d *appsv1.Deployment) {
			c := &d.Spec.Template.Spec.Containers[0]
			c.Ports = declared
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: port}}}
		}
	}
	http8080 := corev1.ContainerPort{Name: "http", ContainerPort: 8080}
	for name, opt := range map[string]func(*appsv1.Deployment){
		"by number": probed(intstr.FromInt32(8080), http8080),
		"by name":   probed(intstr.FromString("http"), http8080),
	} {
		t.Run("a new pod Ready by a readiness probe on its declared port ("+name+") listened: refused and 502s are the old pod's, confidence high, a number", func(t *testing.T) {
			r := build(exitsAtOnceNoHeader().input(deployment(opt)))
			if c := r.Causes[0]; c.Code != TerminatingPodStillRouted || c.Confidence != ConfidenceHigh || len(c.Alternatives) != 0 || len(r.Causes) != 1 {
				t.Fatalf("causes = %+v; want only TERMINATING_POD_STILL_ROUTED, high, no alternative", r.Causes)
			}
			if rec, _ := findRec(r, "spec.template.spec.containers[app].lifecycle.preStop"); rec.Withheld != "" || !strings.HasPrefix(rec.Suggested, "sleep 4") {
				t.Errorf("preStop = %q (%s), want sleep 4 (lag 1.98 s + 2 s)", rec.Suggested, rec.Withheld)
			}
		})
	}
	for name, opt := range map[string]func(*appsv1.Deployment){
		"a probe on a port the container does not declare (an admin port)": probed(intstr.FromInt32(9090), http8080),
		"an exec probe": func(d *appsv1.Deployment) {
			c := &d.Spec.Template.Spec.Containers[0]
			c.Ports = []corev1.ContainerPort{http8080}
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		},
	} {
		t.Run(name+" proves nothing about the listener: both named, confidence low, no number", func(t *testing.T) {
			wantUnsure(t, build(exitsAtOnceNoHeader().input(deployment(opt))))
		})
	}
	t.Run("a new pod Ready by a readiness probe on its port may still time out: a 504 fits it as well", func(t *testing.T) {
		tl := exitsAtOnceNoHeader()
		for i := range tl.A.FailureList {
			tl.A.FailureList[i].Class, tl.A.FailureList[i].Error = attack.Class504, "504 Gateway Timeout"
		}
		wantUnsure(t, build(tl.input(deployment(probed(intstr.FromInt32(8080), http8080)))))
	})

	t.Run("a kept connection that was reset had served before: not a new pod that never served", func(t *testing.T) {
		tl := exitsAtOnceNoHeader()
		for i := range tl.A.FailureList {
			tl.A.FailureList[i].Class, tl.A.FailureList[i].Reused, tl.A.FailureList[i].Error = attack.ClassReset, true, "read: connection reset by peer"
		}
		r := build(tl.input(deployment()))
		if c := r.Causes[0]; c.Code != TerminatingPodStillRouted || c.Confidence != ConfidenceHigh || len(c.Alternatives) != 0 {
			t.Errorf("primary cause = %s, confidence %s, alternatives %+v; want the old pod, high, none", c.Code, c.Confidence, c.Alternatives)
		}
	})

	// An app that closes its listener on SIGTERM and drains for 4 s: the
	// load balancer's 502s come while the pod still runs, and no other pod
	// starts or stops around them.
	closesListener := func() *timeline {
		tl := newTimeline()
		tl.Running("web-old-a")
		tl.Running("web-old-b")
		tl.Deleted("web-old-a", 12, 12.02, 16, 0, 16.1)
		tl.Fails(12.05, 13.0, 0.05, attack.Class502, "")
		return tl
	}
	t.Run("the only explanation, with the preStop known from the Deployment: confidence high and a number", func(t *testing.T) {
		r := build(closesListener().input(deployment()))
		for _, c := range r.Causes {
			if c.Code != TerminatingPodStillRouted && c.Code != LBDeregistrationLag || c.Confidence != ConfidenceHigh || len(c.Alternatives) > 0 {
				t.Fatalf("cause %s, confidence %s, alternatives %+v; want web-old-a still routed, high, none other", c.Code, c.Confidence, c.Alternatives)
			}
		}
		if rec, _ := findRec(r, "spec.template.spec.containers[app].lifecycle.preStop"); rec.Withheld != "" || !strings.HasPrefix(rec.Suggested, "sleep 3") {
			t.Errorf("preStop = %q (%s), want sleep 3 (lag 0.98 s + 2 s)", rec.Suggested, rec.Withheld)
		}
	})
	t.Run("the only explanation, but without the Deployment when the pod stopped serving is a guess: confidence medium, no number", func(t *testing.T) {
		r := build(closesListener().input(nil))
		for _, c := range r.Causes {
			if c.Code != TerminatingPodStillRouted && c.Code != LBDeregistrationLag || c.Confidence != ConfidenceMedium {
				t.Fatalf("cause %s, confidence %s; want web-old-a still routed, medium", c.Code, c.Confidence)
			}
		}
		wantNoNumber(t, r, "spec.template.spec.containers[NAME].lifecycle.preStop")
	})

	t.Run("a new pod's window closes when its failures stop, even before its first success", func(t *testing.T) {
		tl := newTimeline()
		tl.Running("web-old-a")
		tl.Started("web-new-a", 10, 10.2, 10.5)
		tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = at(20), at(29.9)
		tl.A.FirstByPod["web-old-a"], tl.A.LastByPod["web-old-a"] = at(0), at(29.9)
		tl.Fails(10.7, 11.5, 0.1, attack.Class502, "")
		tl.Fail(15, attack.Class502, "", time.Millisecond)
		r := build(tl.input(deployment()))
		fresh, _ := causeOf(r, NewPodNotServing)
		un, _ := causeOf(r, Unattributed)
		if fresh.Failures != 9 || un.Failures != 1 {
			t.Errorf("NEW_POD_NOT_SERVING %d, UNATTRIBUTED %d; want 9 and the lone failure 3.5 s later 1", fresh.Failures, un.Failures)
		}
	})

	t.Run("every cause carries a confidence and what it rests on", func(t *testing.T) {
		for _, tl := range []*timeline{exitsAtOnce(), exitsAtOnceNoHeader(), newPodsSlowOldDraining(true), newPodsSlowOldDraining(false)} {
			for _, c := range build(tl.input(deployment())).Causes {
				if c.Confidence == "" || len(c.Basis) == 0 {
					t.Errorf("%s: confidence %q, basis %q", c.Code, c.Confidence, c.Basis)
				}
			}
		}
	})
}

// TestGracePeriodCountsEachPreStopOnce: the grace period advice adds a
// container's preStop to that container's own shutdown, never a preStop
// to a shutdown that already contains it.
func TestGracePeriodCountsEachPreStopOnce(t *testing.T) {
	sh := func(s string) *corev1.Lifecycle {
		return &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", s}}}}
	}
	withContainers := func(cs ...corev1.Container) func(*appsv1.Deployment) {
		return func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers = cs }
	}
	// exit adds a container's exit after deletion at 12 s.
	exit := func(tl *timeline, container string, after float64) {
		tl.Event(12+after, rolloutExit("web-old-a", container))
	}
	for _, tt := range []struct {
		name         string
		spec         *appsv1.Deployment
		exits        map[string]float64
		lateBy       float64 // the kubelet reports the exit this late
		wantShutdown float64
		want         string
	}{
		{
			name:         "an exec sh -c sleep 4 preStop and an app that exits 0.5 s after it: 4 + 0.5 + 2",
			spec:         deployment(withPreStopSleep("4")),
			exits:        map[string]float64{"app": 4.5},
			wantShutdown: 0.5,
			want:         "at least 7 ",
		},
		{
			name:         "the same exit reported a second late adds the second, not the preStop again",
			spec:         deployment(withPreStopSleep("4")),
			exits:        map[string]float64{"app": 4.5},
			lateBy:       1,
			wantShutdown: 1.5,
			want:         "at least 8 ",
		},
		{
			name: "two serving containers, one with sleep 4 that exits after 4.5 s, one without that drains 5 s: max(4 + 0.5, 0 + 5) + 2",
			spec: deployment(withContainers(
				corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}, Lifecycle: sh("sleep 4")},
				corev1.Container{Name: "api", Ports: []corev1.ContainerPort{{ContainerPort: 9090}}},
			)),
			exits:        map[string]float64{"app": 4.5, "api": 5},
			wantShutdown: 5,
			want:         "at least 7 ",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tl := newTimeline()
			tl.Running("web-old-a")
			tl.Started("web-new-a", 10, 10.5, 11.5)
			tl.Event(12, deletion("web-old-a"))
			for c, after := range tt.exits {
				exit(tl, c, after+tt.lateBy)
			}
			r := build(tl.input(tt.spec))
			if m := r.Measurements.MaxShutdown; m == nil || math.Abs(*m-tt.wantShutdown) > 0.01 {
				t.Errorf("max shutdown = %v, want %.2f", fptr(m), tt.wantShutdown)
			}
			rec, ok := findRec(r, "spec.template.spec.terminationGracePeriodSeconds")
			if !ok || !strings.HasPrefix(rec.Suggested, tt.want) {
				t.Errorf("grace period = %q (%s), want %q", rec.Suggested, rec.Why, tt.want)
			}
		})
	}
}

func TestMinReadySecondsWithoutAMeasuredFailureAfterReady(t *testing.T) {
	// The new pod's failures, named by its header, all came before it was
	// Ready: there is no Ready → last failure to size minReadySeconds by.
	tl := newTimeline()
	tl.Running("web-old-a")
	tl.Event(10, podCreated("web-new-a"))
	tl.Fails(10.5, 11.0, 0.1, attack.Class503, "web-new-a")
	r := build(tl.input(deployment()))
	if r.Causes[0].Code != NewPodNotServing {
		t.Fatalf("primary cause = %s", r.Causes[0].Code)
	}
	rec, ok := findRec(r, "spec.minReadySeconds")
	if !ok {
		t.Fatalf("no minReadySeconds advice: %+v", r.Recommendations)
	}
	if strings.Contains(rec.Why, "0.00 s") || rec.Suggested == "1" || rec.Withheld == "" {
		t.Errorf("minReadySeconds = %q (%s), want no number and why", rec.Suggested, rec.Why)
	}
	probe, _ := findRec(r, "spec.template.spec.containers[app].readinessProbe")
	if strings.Contains(probe.Why, "0.00 s") {
		t.Errorf("readiness advice says %q", probe.Why)
	}
}

func rolloutExit(pod, container string) rollout.Event {
	return rollout.Event{Type: rollout.ContainerExited, Pod: pod, Container: container, ExitCode: ptrTo(int32(0))}
}

func deletion(pod string) rollout.Event {
	return rollout.Event{Type: rollout.DeletionRequested, Pod: pod, GracePeriod: ptrTo(30 * time.Second), Detail: "grace 30s"}
}

func podCreated(pod string) rollout.Event {
	return rollout.Event{Type: rollout.PodCreated, Pod: pod}
}

// Two old pods drain 1 s on SIGTERM (no preStop) and the load balancer
// keeps routing to each for 3 s after its endpoint turned not ready. The
// first one's failures stop at 13.0 s; the load goes on, none fails for
// 0.85 s, and then the second one, whose successes stopped at 13.8 s,
// fails until 15.8 s. The pause ends the first one's routing: its lag is
// 2.98 s, not the 5.8 s up to the second one's last failure (the lab load
// balancer's own record showed 3.0 s where rollcheck measured 4.0 s). It
// used to be 3.83 s: the first failure after the pause went to the pod
// seen exited first.
func TestRoutingLagEndsAtAPauseWhenAnotherPodsWindowOpens(t *testing.T) {
	tl := oldPodsBesideAServingOne("web-old-a", "web-old-b")
	tl.Deleted("web-old-a", 10, 10.02, 11.1, 0, 11.2)
	tl.Deleted("web-old-b", 12.8, 12.82, 13.9, 0, 14.0)
	tl.Fails(11.05, 13.0, 0.05, attack.Class502, "")
	tl.Fails(13.85, 15.8, 0.05, attack.Class502, "")
	tl.A.FirstByPod["web-old-a"], tl.A.LastByPod["web-old-a"] = at(0), at(11.0)
	tl.A.FirstByPod["web-old-b"], tl.A.LastByPod["web-old-b"] = at(0), at(13.8)
	r := build(tl.input(deployment()))
	lags := routingLags(r)
	if math.Abs(lags["web-old-a"]-2.98) > 0.01 || math.Abs(lags["web-old-b"]-2.98) > 0.01 {
		t.Errorf("routing lags %v, want 2.98 s for each pod", lags)
	}
	if m := r.Measurements.MaxRoutingLag; m == nil || *m > 3 {
		t.Errorf("max routing lag %v, want 2.98 s", m)
	}
	for _, c := range r.Causes {
		if c.Confidence != ConfidenceHigh || len(c.Alternatives) > 0 {
			t.Errorf("%s confidence %s, alternatives %+v: each failure fits one pod", c.Code, c.Confidence, c.Alternatives)
		}
	}

	// A stalled load generator is no evidence: with no request sent in
	// the pause, the first pod may still have been routed to. Its window
	// stays open across the pause, but the failures after it fit the
	// second pod as well, which had stopped serving: they measure no
	// routing lag, and the report says how long it may have been.
	tl.A.Buckets[13].Total, tl.A.Buckets[13].OK = 1, 0
	r = build(tl.input(deployment()))
	after := 0
	for _, a := range r.Attributed {
		if a.Pod == "web-old-a" && a.To.After(at(13.8)) {
			after += a.Failures
		}
	}
	if after == 0 {
		t.Errorf("attributed %+v: with the load stalled in the pause, want web-old-a's window to stay open across it", r.Attributed)
	}
	if m := r.Measurements.MaxRoutingLag; m == nil || math.Abs(*m-2.98) > 0.01 {
		t.Errorf("max routing lag %v with the load stalled in the pause, want 2.98 s: the failures after it may be web-old-b's", deref(m))
	}
	if c, _ := causeOf(r, LBDeregistrationLag); !strings.Contains(c.Evidence, "perhaps until 3.83 s: web-old-b, deleted after it, may have failed those instead") {
		t.Errorf("evidence %q: want the routing web-old-a may have had, and why it is not measured", c.Evidence)
	}
}

// routingLags are the routing lags measured, by terminating pod.
func routingLags(r *run) map[string]float64 {
	lags := map[string]float64{}
	for _, p := range r.Measurements.TerminatingPods {
		if p.RoutingLag != nil {
			lags[p.Pod] = *p.RoutingLag
		}
	}
	return lags
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// Stream kinds as evidence (--connections): what a failure's connection
// says about which explanation fits it.
func TestConnectionKindAsEvidence(t *testing.T) {
	// The app closes its kept connections on SIGTERM.
	base, kept := exitReportedLate, keptFails
	t.Run("an EOF on a kept connection that ended between the deletion and the reported exit is an in-flight cut, and measures no routing lag", func(t *testing.T) {
		tl := base()
		kept(tl, 13.2, 13.5, 0.1, attack.ClassEOF)
		r := build(tl.input(deployment()))
		c, ok := causeOf(r, InflightCut)
		if !ok || c.Failures != 4 || c.Confidence != ConfidenceHigh || len(r.Causes) != 1 {
			t.Fatalf("causes %+v, want INFLIGHT_CUT for all 4, confidence high", r.Causes)
		}
		if !strings.Contains(strings.Join(c.Basis, " "), "kept connection") {
			t.Errorf("basis %q, want the kept connection named", c.Basis)
		}
		if m := r.Measurements.MaxRoutingLag; m != nil {
			t.Errorf("routing lag %.2f measured from connections the pod closed", *m)
		}
	})
	t.Run("a refused connection is never an in-flight cut, not even open across the exit", func(t *testing.T) {
		tl := base()
		tl.Fails(13.9, 14.0, 0.05, attack.ClassRefused, "")
		for i := range tl.A.FailureList {
			tl.A.FailureList[i].Latency, tl.A.FailureList[i].Stream = 200*time.Millisecond, attack.StreamNew
		}
		r := build(tl.input(deployment()))
		if _, ok := causeOf(r, InflightCut); ok {
			t.Errorf("causes %+v: a refused connection named an in-flight cut", r.Causes)
		}
	})
	t.Run("with both streams, new connections refused after the exit measure the routing lag; kept connections reset after it do not", func(t *testing.T) {
		tl := refusedThenKeptReset()
		r := build(tl.input(deployment()))
		if c := r.Causes[0]; c.Code != TerminatingPodStillRouted && c.Code != LBDeregistrationLag || c.Confidence != ConfidenceHigh || c.Failures != r.Failures {
			t.Fatalf("causes %+v, want web-old-a still routed for every failure, confidence high", r.Causes)
		}
		// The last new connection refused at 14.95 s, 2.93 s after the
		// endpoint turned not ready; the resets until 15.45 s came on
		// connections opened before.
		if m := r.Measurements.MaxRoutingLag; m == nil || math.Abs(*m-2.93) > 0.01 {
			t.Errorf("routing lag %v, want 2.93 s from the last new connection refused", deref(m))
		}
	})
}

// Seen through Traefik's Gateway API front (issue 25): an app that exits
// at once on SIGTERM, no preStop, no readiness probe. The Deployment
// controller deletes an old pod right after a new one turns Ready, so the
// two windows open within tens of milliseconds; the old pod's exit is
// stamped in whole seconds (its earliest is its deletion) but its last
// success bounds it closer. Traefik's access log put these failures on the
// old pods.
// Two old pods that exit at once on SIGTERM, behind a load balancer that
// routes to each for 1.99 s after its endpoint turned not ready. The
// second is deleted 0.08 s after the first one's routing ended, and its
// failures follow the first one's with no pause. Its exit is reported
// late (a busy kubelet), but its successes, which named it until its
// deletion, never came again: it stopped serving there, and the failures
// from then on are its own. They used to go to the first pod, seen exited,
// until the second one's exit was seen: in CI the first one's routing lag
// was measured 2.52 s where the lab load balancer's record said 1.99 s.
func TestRoutingLagEndsWhereTheNextPodStoppedServing(t *testing.T) {
	tl := oldPodsBesideAServingOne("web-old-a", "web-old-b")
	// Four ready pods share the load: each receives a request every
	// 40 ms, and the 0.12 s between the two pods' failures is no pause.
	for _, p := range []string{"web-d", "web-e", "web-f"} {
		tl.Running(p)
		tl.A.FirstByPod[p], tl.A.LastByPod[p] = at(0), at(29.9)
	}
	tl.Deleted("web-old-a", 10.568, 10.6, 11.6, 2, 11.62)
	tl.Deleted("web-old-b", 12.668, 12.69, 13.5, 2, 13.52)
	stampWholeSeconds(tl)
	tl.A.FirstByPod["web-old-a"], tl.A.LastByPod["web-old-a"] = at(0), at(10.55)
	tl.A.FirstByPod["web-old-b"], tl.A.LastByPod["web-old-b"] = at(0), at(12.63)
	tl.Fails(10.62, 12.59, 0.04, attack.Class502, "")
	tl.Fails(12.71, 14.67, 0.04, attack.Class502, "")
	r := build(tl.input(deployment()))
	lags := routingLags(r)
	if math.Abs(lags["web-old-a"]-1.99) > 0.02 || math.Abs(lags["web-old-b"]-1.98) > 0.02 {
		t.Errorf("routing lags %v, want 1.99 s for web-old-a and 1.98 s for web-old-b", lags)
	}
	if u := r.Measurements.MaxRoutingLagUpTo; u != nil {
		t.Errorf("max routing lag up to %v: every failure fits one pod, want none", *u)
	}
	for _, c := range r.Causes {
		if c.Code != TerminatingPodStillRouted || c.Confidence != ConfidenceHigh || len(c.Alternatives) > 0 {
			t.Errorf("%s confidence %s, alternatives %+v: want TERMINATING_POD_STILL_ROUTED, high, each failure fitting one pod", c.Code, c.Confidence, c.Alternatives)
		}
	}

	// With no success naming the second pod, whether it still served
	// after its deletion is unknown: the first pod, seen exited, is given
	// the failures until the second one's exit, but they fit the second
	// one as well and measure no routing lag.
	delete(tl.A.FirstByPod, "web-old-b")
	delete(tl.A.LastByPod, "web-old-b")
	r = build(tl.input(deployment()))
	if m := r.Measurements.MaxRoutingLag; m == nil || math.Abs(*m-1.99) > 0.02 {
		t.Errorf("max routing lag %v with no success naming web-old-b, want 1.99 s", deref(m))
	}
	// How long it may have been is measured beside it, not hidden.
	if u := r.Measurements.MaxRoutingLagUpTo; u == nil || *u < 2.2 {
		t.Errorf("max routing lag up to %v, want web-old-a's shared failures' end (past 2.2 s)", deref(u))
	}
	if c, _ := causeOf(r, TerminatingPodStillRouted); !regexp.MustCompile(`until 1\.9[89] s after its endpoint turned not-ready \(and perhaps until 2\.[0-9]+ s: web-old-b, deleted after it, may have failed those instead\)`).MatchString(c.Evidence) {
		t.Errorf("evidence %q: want web-old-a's routing lag and how long it may have been", c.Evidence)
	}
}

func TestOldPodsLastSuccessOpensItsWindow(t *testing.T) {
	t.Run("the old pod served after the new pod turned Ready: the failures that follow are the old pod's first", func(t *testing.T) {
		tl := oldPodsBesideAServingOne("web-old-a")
		tl.Started("web-new-a", 5.0, 6.83, 6.834)
		stoppedAtOnce(tl, "web-old-a", 6.8, 6.851, 7.4)
		stampWholeSeconds(tl)
		tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = at(7.15), at(29.9)
		tl.Fails(6.901, 7.11, 0.02, attack.Class502, "")
		r := build(tl.input(deployment()))
		c := r.Causes[0]
		if c.Code != TerminatingPodStillRouted || c.Failures != r.Failures {
			t.Fatalf("causes %+v: want every failure TERMINATING_POD_STILL_ROUTED first", r.Causes)
		}
		if c.Confidence != ConfidenceLow || len(c.Alternatives) != 1 || c.Alternatives[0].Code != NewPodNotServing {
			t.Errorf("confidence %s, alternatives %+v: want low, with the new pod as the alternative", c.Confidence, c.Alternatives)
		}
	})
	t.Run("an old pod that neither served nor failed for a second while the load went on is no longer routed to", func(t *testing.T) {
		tl := oldPodsBesideAServingOne("web-old-z", "web-old-a")
		// web-old-z stopped at 3.13 s and failed no request: the load
		// balancer had dropped it long before the failures at 4.85 s.
		stoppedAtOnce(tl, "web-old-z", 3.037, 3.131, 3.858)
		tl.Started("web-new-a", 4.0, 4.74, 4.742)
		stoppedAtOnce(tl, "web-old-a", 4.708, 4.803, 6.349)
		stampWholeSeconds(tl)
		tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = at(5.25), at(29.9)
		tl.Fails(4.851, 5.0, 0.02, attack.Class502, "")
		r := build(tl.input(deployment()))
		if c := r.Causes[0]; c.Code != TerminatingPodStillRouted || c.Failures != r.Failures || len(c.Pods) != 1 || c.Pods[0] != "web-old-a" {
			t.Errorf("causes %+v: want every failure on web-old-a, TERMINATING_POD_STILL_ROUTED", r.Causes)
		}
	})
	t.Run("a run of failures given to a new pod goes to an old pod seen serving since its last failure", func(t *testing.T) {
		tl := oldPodsBesideAServingOne("web-old-a", "web-old-b")
		tl.Started("web-new-a", 4.0, 4.81, 4.82)
		stoppedAtOnce(tl, "web-old-a", 4.743, 4.801, 6.1)
		stoppedAtOnce(tl, "web-old-b", 4.931, 5.011, 6.4)
		stampWholeSeconds(tl)
		tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = at(5.2), at(29.9)
		tl.Fails(4.85, 4.99, 0.02, attack.Class502, "")
		tl.Fails(5.031, 5.2, 0.02, attack.Class502, "")
		r := build(tl.input(deployment()))
		got, old := map[string]int{}, 0
		for _, a := range r.Attributed {
			got[a.Pod+" "+string(a.Cause)] += a.Failures
			if a.Cause == TerminatingPodStillRouted && !a.From.Before(at(5.031)) {
				old += a.Failures
			}
		}
		// The old pods were deleted together: which of the two a failure
		// after 5.031 s was is not the point, that an old pod's it was.
		if old != 9 || got["web-old-b "+string(TerminatingPodStillRouted)] == 0 || got["web-new-a "+string(NewPodNotServing)] != 8 {
			t.Errorf("attributed %v: want the 9 failures from 5.031 s on the old pods, web-old-b among them (it served until 5.011 s), the 8 before on web-new-a", got)
		}
	})
}

// stampWholeSeconds gives the deletions and exits the API server's stamps
// as a real kubelet writes them: whole seconds, each exit in the second of
// its pod's deletion (it exited at once), deletions with their grace
// period added.
func stampWholeSeconds(tl *timeline) {
	del := map[string]time.Time{}
	for i := range tl.Ev {
		e := &tl.Ev[i]
		if e.Type == rollout.DeletionRequested {
			del[e.Pod] = e.Time
			s := e.Time.Truncate(time.Second).Add(*e.GracePeriod)
			e.ServerTime = &s
		}
	}
	for i := range tl.Ev {
		if e := &tl.Ev[i]; e.Type == rollout.ContainerExited {
			s := del[e.Pod].Truncate(time.Second)
			e.ServerTime = &s
		}
	}
}

// oldPodsBesideAServingOne is a run with the old pods named, running
// before the watch, and web-c, ready and serving throughout: with none
// ready, failures would be the Service's empty window's
// (NO_READY_ENDPOINTS) first.
func oldPodsBesideAServingOne(olds ...string) *timeline {
	tl := newTimeline()
	for _, p := range olds {
		tl.Running(p)
	}
	tl.Running("web-c")
	tl.A.FirstByPod["web-c"], tl.A.LastByPod["web-c"] = at(0), at(29.9)
	return tl
}

// stoppedAtOnce adds an old pod deleted at del that served until lastOK
// and exited at once (code 2, seen at seen), its endpoint not ready 25 ms
// after the deletion.
func stoppedAtOnce(tl *timeline, pod string, del, lastOK, seen float64) {
	tl.Deleted(pod, del, del+0.025, seen, 2, seen+0.01)
	tl.A.FirstByPod[pod], tl.A.LastByPod[pod] = at(0), at(lastOK)
}

// Slow requests (2 s) to a server that SIGTERM stops at once, behind a
// balancer that keeps routing to the pod after its exit and whose dials to
// the pod's gone address time out (10 s): the requests the exit cut are
// INFLIGHT_CUT, and those sent after it, which never reached a pod, are
// the terminating pod still routed. The pod's last success began 2 s
// before the exit, since every request begun after it was cut: the cut
// ones, not successes alone, say the balancer was still sending it
// requests.
func TestTimeoutsToAPodGoneAfterItsSlowRequestsWereCut(t *testing.T) {
	tl := newTimeline()
	tl.Running("web-old-a")
	tl.Started("web-new-a", 10, 10.5, 11.5)
	tl.Deleted("web-old-a", 12, 12.02, 12.1, 0, 12.2)
	tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = at(11.6), at(29.9)
	tl.A.FirstByPod["web-old-a"], tl.A.LastByPod["web-old-a"] = at(0), at(10.0)
	for s := 10.1; s < 12.06; s += 0.1 {
		tl.Fail(s, attack.ClassEOF, "", at(12.1).Sub(at(s)))
	}
	for s := 12.2; s < 14.0; s += 0.15 {
		tl.Fail(s, attack.ClassTimeout, "", 10*time.Second)
	}
	r := build(tl.input(deployment()))
	if c, ok := causeOf(r, InflightCut); !ok || c.Failures != 20 {
		t.Errorf("INFLIGHT_CUT %+v (found %t), want the 20 cut requests", c, ok)
	}
	c, ok := causeOf(r, TerminatingPodStillRouted)
	if !ok || c.Failures != 12 {
		t.Fatalf("TERMINATING_POD_STILL_ROUTED %+v (found %t), want the 12 timeouts; causes %+v", c, ok, r.Causes)
	}
	if _, ok := causeOf(r, Unattributed); ok {
		t.Errorf("unattributed failures: %+v", r.Causes)
	}
}
