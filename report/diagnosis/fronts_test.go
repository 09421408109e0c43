package diagnosis

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
)

// The rules keyed by the front (FACTS.md §9): through a front that pins
// connections (kube-proxy, an NLB) a kept connection a stopping pod closed
// asks for a graceful shutdown, not a preStop, and a late success shows no
// routing; through an L7 front the same failures keep their causes.
func TestFrontKeysKeptConnections(t *testing.T) {
	base, kept := exitReportedLate, keptFails
	through := func(tl *timeline, front string) *run {
		in := tl.input(deployment())
		in.Front = front
		return build(in)
	}
	fields := func(r *run) string {
		var out []string
		for _, rec := range r.Recommendations {
			out = append(out, rec.Field)
		}
		return strings.Join(out, "; ")
	}

	t.Run("kube-proxy: EOFs on kept connections the pod closed are KEPT_CONNECTION_CLOSED, with the graceful shutdown and no preStop", func(t *testing.T) {
		tl := base()
		kept(tl, 13.2, 13.5, 0.1, attack.ClassEOF)
		r := through(tl, "kube-proxy")
		c, ok := causeOf(r, KeptConnectionClosed)
		if !ok || c.Failures != 4 || len(r.Causes) != 1 {
			t.Fatalf("causes %+v, want KEPT_CONNECTION_CLOSED for all 4", r.Causes)
		}
		if !strings.Contains(c.Evidence, "kube-proxy") || !strings.Contains(c.Evidence, "preStop only delays") {
			t.Errorf("evidence %q, want the front and why a preStop does not help", c.Evidence)
		}
		f := fields(r)
		if !strings.Contains(f, "shutdown on SIGTERM") || strings.Contains(f, "preStop") {
			t.Errorf("recommendations %q, want the app's shutdown and no preStop", f)
		}
	})
	for _, front := range []string{"", "alb", "alb-instance", "ingress"} {
		t.Run("front "+front+": the same EOFs stay an in-flight cut", func(t *testing.T) {
			tl := base()
			kept(tl, 13.2, 13.5, 0.1, attack.ClassEOF)
			r := through(tl, front)
			if c, ok := causeOf(r, InflightCut); !ok || c.Failures != 4 {
				t.Fatalf("causes %+v, want INFLIGHT_CUT for all 4", r.Causes)
			}
		})
	}
	t.Run("nlb: resets on kept connections after the exit are the pod's; new connections refused after it measure the routing lag", func(t *testing.T) {
		tl := refusedThenKeptReset()
		r := through(tl, "nlb")
		k, ok := causeOf(r, KeptConnectionClosed)
		if !ok || k.Failures != 5 {
			t.Fatalf("causes %+v, want the 5 resets on kept connections as KEPT_CONNECTION_CLOSED", r.Causes)
		}
		routed, ok := causeOf(r, TerminatingPodStillRouted)
		if !ok {
			routed, ok = causeOf(r, LBDeregistrationLag)
		}
		if !ok || routed.Failures != r.Failures-5 {
			t.Fatalf("causes %+v, want the refused new connections as the pod still routed to", r.Causes)
		}
		if m := r.Measurements.MaxRoutingLag; m == nil || math.Abs(*m-2.93) > 0.01 {
			t.Errorf("routing lag %v, want 2.93 s from the last new connection refused", deref(m))
		}
		f := fields(r)
		if !strings.Contains(f, "preStop") || !strings.Contains(f, "shutdown on SIGTERM") {
			t.Errorf("recommendations %q, want both a preStop (new connections) and the shutdown (kept ones)", f)
		}
	})
	t.Run("late successes through kube-proxy or an ALB in instance mode show no routing lag and ask for no preStop; through an ALB in IP mode they do", func(t *testing.T) {
		for _, front := range []string{"kube-proxy", "alb-instance", "alb"} {
			// web-old-a serves until 13.5 s, 1.48 s after its endpoint
			// turned not-ready, and exits with no failure.
			tl := base()
			tl.A.LastByPod["web-old-a"], tl.A.LastByPod["web-old-b"] = at(13.5), at(29.9)
			r := through(tl, front)
			m, f := r.Measurements.MaxRoutingLag, fields(r)
			if front == "alb" {
				if m == nil || math.Abs(*m-1.48) > 0.01 || !strings.Contains(f, "preStop") {
					t.Errorf("alb: routing lag %v, recommendations %q; want 1.48 s and a preStop", deref(m), f)
				}
				continue
			}
			if m != nil || strings.Contains(f, "preStop") {
				t.Errorf("%s: routing lag %v, recommendations %q; want neither from successes that may be kept connections", front, deref(m), f)
			}
		}
	})
	t.Run("ingress: timeouts after the exit are a dead pod IP, placed at their start", func(t *testing.T) {
		tl := base()
		for s := 14.05; s < 14.5; s += 0.1 {
			tl.Fail(s, attack.ClassTimeout, "", 5*time.Second)
		}
		r := through(tl, "ingress")
		c := r.Causes[0]
		if c.Code != TerminatingPodStillRouted && c.Code != LBDeregistrationLag || c.Failures != r.Failures {
			t.Fatalf("causes %+v, want web-old-a still routed for every timeout", r.Causes)
		}
		if !strings.Contains(strings.Join(c.Basis, " "), "dials the pod's IP") {
			t.Errorf("basis %q, want the dead pod IP named", c.Basis)
		}
		// The last timeout was sent at 14.45 s, 2.43 s after the endpoint
		// turned not-ready; it gave up 5 s later.
		if m := r.Measurements.MaxRoutingLag; m == nil || math.Abs(*m-2.43) > 0.01 {
			t.Errorf("routing lag %v, want 2.43 s from the last timeout's start", deref(m))
		}
	})
}

// Over HTTP/2 (issue 23) the same EOFs on a kept connection through
// kube-proxy, and the same EOFs cut at the exit through an ALB, are a
// connection closed without GOAWAY: the advice is GOAWAY on SIGTERM and a
// connection age, not a preStop. After a GOAWAY (class goaway) the cut
// stays INFLIGHT_CUT: the pod said it, then did not wait. Over HTTP/1.1
// nothing changes.
func TestHTTP2ConnectionClosedWithoutGoaway(t *testing.T) {
	for _, front := range []string{"kube-proxy", ""} {
		tl := exitReportedLate()
		keptFails(tl, 13.2, 13.5, 0.1, attack.ClassEOF)
		tl.A.HTTP2 = true
		in := tl.input(deployment())
		in.Front = front
		r := build(in)
		c, ok := causeOf(r, HTTP2ClosedWithoutGoaway)
		if !ok || c.Failures != 4 || len(r.Causes) != 1 {
			t.Fatalf("front %q: causes %+v, want HTTP2_CONNECTION_CLOSED_WITHOUT_GOAWAY for all 4", front, r.Causes)
		}
		if !strings.Contains(c.Evidence, "4 HTTP/2 streams failed (4 eof)") || !strings.Contains(c.Evidence, "none of the load's streams ended with one") {
			t.Errorf("evidence %q", c.Evidence)
		}
		var shutdown, age bool
		for _, rec := range r.Recommendations {
			shutdown = shutdown || strings.Contains(rec.Suggested, "send GOAWAY") && slices.Contains(rec.Causes, HTTP2ClosedWithoutGoaway)
			age = age || strings.Contains(rec.Suggested, "MaxConnectionAge")
			if strings.Contains(rec.Field, "preStop") {
				t.Errorf("front %q: a preStop recommended for a connection closed without GOAWAY: %+v", front, rec)
			}
		}
		if !shutdown || !age {
			t.Errorf("front %q: recommendations %+v, want GOAWAY on SIGTERM and a connection age", front, r.Recommendations)
		}
	}

	tl := exitReportedLate()
	keptFails(tl, 13.2, 13.5, 0.1, attack.ClassGoaway)
	tl.A.HTTP2 = true
	r := build(tl.input(deployment()))
	if c, ok := causeOf(r, InflightCut); !ok || c.Failures != 4 {
		t.Errorf("after a GOAWAY: causes %+v, want INFLIGHT_CUT for all 4", r.Causes)
	}

	tl = exitReportedLate()
	keptFails(tl, 13.2, 13.5, 0.1, attack.ClassEOF)
	in := tl.input(deployment())
	in.Front = "kube-proxy"
	if _, ok := causeOf(build(in), HTTP2ClosedWithoutGoaway); ok {
		t.Errorf("over HTTP/1.1: an HTTP/2 cause")
	}
}
