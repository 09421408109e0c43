package e2e

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/preflight"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

// TestNginxStoppedBySIGTERM (issue 23) runs Debian's nginx as it is (the
// lab's rollcheck/nginx:1.22, the package's binary with its libraries) on
// the real node, under slow requests (/slow/page, 12 KiB at 6 KiB/s:
// about 2 s each), through the kube-proxy front and through the ALB-like
// front. The as-is (scenarios/nginx-as-is.yaml) has no preStop: the
// kubelet's SIGTERM is nginx's fast shutdown, which cuts the requests in
// flight. It FAILs with INFLIGHT_CUT, whose evidence names nginx's fast
// shutdown, and the preStop advice is a sleep, nginx -s quit, and time
// for the slow requests; lint's server-stops-at-once fired before the run.
// The to-be (scenarios/nginx-to-be.yaml: sleep 4, nginx -s quit, sleep 5),
// through the ALB-like front, PASSes with none failed, and lint is quiet.
// The same with lifecycle.stopSignal SIGQUIT in place of the quit
// (scenarios/nginx-stopsignal.yaml) FAILs on the lab's containerd, which
// does not apply it, and rollcheck says so.
func TestNginxStoppedBySIGTERM(t *testing.T) {
	needRealNode(t)
	t.Cleanup(func() { resetDemo(t) })
	run := func(t *testing.T, name, deployment string, through ...string) result {
		t.Helper()
		diagFreshDemo(t, diagService("2s")+"---\n"+manifest(t, deployment))
		r := rollcheck(t, append([]string{"-f", "../scenarios/nginx.scenario.yaml", "--baseline", "3s", "--settle", "3s"}, through...)...)
		diagLog(t, name, r)
		if linted := slices.ContainsFunc(r.report.Preflight, func(f preflight.Finding) bool { return f.Rule == preflight.RuleServerStopsAtOnce }); linted != (deployment != "nginx-to-be.yaml") {
			t.Errorf("%s: lint's %s fired %t: %+v", deployment, preflight.RuleServerStopsAtOnce, linted, r.report.Preflight)
		}
		return r
	}
	// The to-be runs through the ALB-like front alone: its 2 s lag is what
	// the preStop's sleep must cover (kube-proxy's sync is shorter), and
	// the real node's queue of tests is the suite's longest.
	for _, front := range []struct {
		name string
		args []string
		toBe bool
	}{
		{"kube-proxy", []string{"--target", lab.kubeProxyURL + "/slow/page", "--front", "kube-proxy"}, false},
		{"the ALB-like front", []string{"--target", lab.lbURL + "/slow/page"}, true},
	} {
		t.Run("as-is through "+front.name, func(t *testing.T) {
			r := run(t, "nginx as-is through "+front.name, "nginx-as-is.yaml", front.args...)
			wantVerdict(t, r, exitcode.Fail, report.Fail)
			// Requests cut at nginx's exit: INFLIGHT_CUT, and through an
			// L4 front, on a kept connection, KEPT_CONNECTION_CLOSED too.
			c, ok := causeByCode(r, report.InflightCut)
			if !ok || c.Failures == 0 {
				t.Fatalf("no INFLIGHT_CUT among %v\n%s", diagCauseCodes(r), r.stdout)
			}
			for _, code := range []report.CauseCode{report.InflightCut, report.KeptConnectionClosed} {
				if c, ok := causeByCode(r, code); ok && !strings.Contains(c.Evidence, "container app runs nginx, which SIGTERM stops at once") {
					t.Errorf("%s's evidence %q does not name nginx's fast shutdown", code, c.Evidence)
				}
			}
			// The requests cut were open: they failed after they began
			// to be answered, not at once.
			cut := 0
			for _, f := range r.report.Failures {
				if f.Latency.Seconds() >= 0.5 {
					cut++
				}
			}
			if cut == 0 {
				t.Errorf("no failure took 0.5 s or more: no slow request was cut in flight")
			}
			quit := preStopAdvice(r)
			// A sleep first, nginx -s quit, then time for the slow
			// requests (about 2 s, and a margin), not for the client's
			// timeout (10 s).
			m := quitRE.FindStringSubmatch(quitText(quit))
			if m == nil || !strings.Contains(quit.Suggested, "stopSignal: SIGQUIT") {
				t.Errorf("preStop advice %+v, want sleep N; /usr/sbin/nginx -s quit; sleep M (or stopSignal SIGQUIT)", quit)
			} else if wait, _ := strconv.Atoi(m[2]); wait < 3 || wait > 6 {
				t.Errorf("preStop advice %q waits %d s after nginx -s quit, want the slowest request's 2 s and a margin", quit.Suggested, wait)
			}
			t.Logf("as-is through %s: %d of %d failed, %d under INFLIGHT_CUT (%d of them open 0.5 s or more); causes %v", front.name, r.report.Load.Failures, r.report.Load.Requests, c.Failures, cut, diagCauseCodes(r))
		})
		if !front.toBe {
			continue
		}
		t.Run("to-be through "+front.name, func(t *testing.T) {
			r := run(t, "nginx to-be through "+front.name, "nginx-to-be.yaml", front.args...)
			wantVerdict(t, r, exitcode.Pass, report.Pass)
			// 20/s of 2 s requests over 3 s phases and a rollout of about
			// 3 s (as fast as 2.9 s in CI run ci40: 277 requests).
			if n, f := r.report.Load.Requests, r.report.Load.Failures; n < 200 || f != 0 {
				t.Errorf("%d requests, %d failed; want at least 200 and none failed", n, f)
			}
			t.Logf("to-be through %s: %d of %d failed", front.name, r.report.Load.Failures, r.report.Load.Requests)
		})
		// lifecycle.stopSignal SIGQUIT after a preStop sleep of the
		// front's 2 s lag, in place of the preStop's quit: the real node's
		// API server and kubelet enable ContainerStopSignals, but its
		// containerd (Debian 12's 1.6) does not implement it. The kubelet
		// reports no stop signal, SIGTERM cuts the slow requests still
		// open, and the evidence says the field was not applied.
		t.Run("stopSignal SIGQUIT on containerd 1.6 through "+front.name, func(t *testing.T) {
			r := run(t, "nginx stopSignal through "+front.name, "nginx-stopsignal.yaml", front.args...)
			if got := kubectl(t, "get", "deployment", "demo", "-o", "jsonpath={.spec.template.spec.containers[0].lifecycle.stopSignal}"); got != "SIGQUIT" {
				t.Fatalf("the Deployment's stopSignal is %q: the API server dropped it (is ContainerStopSignals on?)", got)
			}
			started := 0
			for _, e := range r.report.Events {
				if e.Type == rollout.ContainerStarted && e.Container == "app" {
					started++
					if e.StopSignal != "" {
						t.Errorf("the kubelet reported stop signal %q for %s: containerd 1.6 applies none", e.StopSignal, e.Pod)
					}
				}
			}
			if started == 0 {
				t.Errorf("no container-started event for the new pods' app container")
			}
			wantVerdict(t, r, exitcode.Fail, report.Fail)
			c, ok := causeByCode(r, report.InflightCut)
			if !ok || !strings.Contains(c.Evidence, "its lifecycle.stopSignal SIGQUIT was not applied: the kubelet reported no stop signal") {
				t.Fatalf("INFLIGHT_CUT %+v (found %t) does not say the stop signal was not applied; causes %v\n%s", c, ok, diagCauseCodes(r), r.stdout)
			}
			m := quitRE.FindStringSubmatch(quitText(preStopAdvice(r)))
			if m == nil || strings.Contains(preStopAdvice(r).Suggested, "or lifecycle.stopSignal") {
				t.Errorf("preStop advice %+v, want nginx -s quit, not the stopSignal that was not applied", preStopAdvice(r))
			}
			t.Logf("stopSignal through %s: %d of %d failed, %d under INFLIGHT_CUT; causes %v", front.name, r.report.Load.Failures, r.report.Load.Requests, c.Failures, diagCauseCodes(r))
		})
	}
}

// preStopAdvice is the recommendation for the app container's preStop
// (nil: none).
func preStopAdvice(r result) *report.Recommendation {
	for i, rec := range r.report.Recommendations {
		if rec.Field == "spec.template.spec.containers[app].lifecycle.preStop" {
			return &r.report.Recommendations[i]
		}
	}
	return nil
}

// quitRE reads the preStop rollcheck advises for nginx: the sleep, the
// graceful quit, the wait for the requests in flight.
var quitRE = regexp.MustCompile(`"sleep ([0-9]+); /usr/sbin/nginx -s quit; sleep ([0-9]+)"`)

func quitText(r *report.Recommendation) string {
	if r == nil {
		return ""
	}
	return r.Suggested
}

// TestApacheStoppedBySIGTERM (issue 23) is the same case for Debian's
// Apache httpd (the lab's rollcheck/httpd:2.4: the apache2-bin package's
// binary and modules with their libraries), through the ALB-like front
// under the same slow requests. With no preStop (scenarios/apache-as-is.yaml)
// the kubelet's SIGTERM stops Apache at once: FAIL, INFLIGHT_CUT naming
// Apache's immediate stop, and a preStop that ends in apachectl -k
// graceful-stop (SIGWINCH); lint's server-stops-at-once fired before the
// run. With that preStop (scenarios/apache-to-be.yaml): PASS, none failed.
func TestApacheStoppedBySIGTERM(t *testing.T) {
	needRealNode(t)
	t.Cleanup(func() { resetDemo(t) })
	run := func(t *testing.T, name, deployment string) result {
		t.Helper()
		diagFreshDemo(t, diagService("2s")+"---\n"+manifest(t, deployment))
		r := rollcheck(t, "-f", "../scenarios/nginx.scenario.yaml", "--baseline", "3s", "--settle", "3s", "--target", lab.lbURL+"/slow/page")
		diagLog(t, name, r)
		if linted := slices.ContainsFunc(r.report.Preflight, func(f preflight.Finding) bool { return f.Rule == preflight.RuleServerStopsAtOnce }); linted != (deployment == "apache-as-is.yaml") {
			t.Errorf("%s: lint's %s fired %t: %+v", deployment, preflight.RuleServerStopsAtOnce, linted, r.report.Preflight)
		}
		return r
	}
	t.Run("as-is", func(t *testing.T) {
		r := run(t, "Apache as-is", "apache-as-is.yaml")
		wantVerdict(t, r, exitcode.Fail, report.Fail)
		c, ok := causeByCode(r, report.InflightCut)
		if !ok || c.Failures == 0 {
			t.Fatalf("no INFLIGHT_CUT among %v\n%s", diagCauseCodes(r), r.stdout)
		}
		if !strings.Contains(c.Evidence, "container app runs Apache httpd, which SIGTERM stops at once") {
			t.Errorf("INFLIGHT_CUT's evidence %q does not name Apache's immediate stop", c.Evidence)
		}
		quit := preStopAdvice(r)
		if m := apacheQuitRE.FindStringSubmatch(quitText(quit)); m == nil || !strings.Contains(quit.Suggested, "stopSignal: SIGWINCH") {
			t.Errorf("preStop advice %+v, want sleep N; apachectl -k graceful-stop; sleep M (or stopSignal SIGWINCH)", quit)
		}
		t.Logf("as-is: %d of %d failed, %d under INFLIGHT_CUT; causes %v", r.report.Load.Failures, r.report.Load.Requests, c.Failures, diagCauseCodes(r))
	})
	t.Run("to-be", func(t *testing.T) {
		r := run(t, "Apache to-be", "apache-to-be.yaml")
		wantVerdict(t, r, exitcode.Pass, report.Pass)
		if n, f := r.report.Load.Requests, r.report.Load.Failures; n < 200 || f != 0 {
			t.Errorf("%d requests, %d failed; want at least 200 and none failed", n, f)
		}
		t.Logf("to-be: %d of %d failed", r.report.Load.Failures, r.report.Load.Requests)
	})
}

// apacheQuitRE reads the preStop rollcheck advises for Apache.
var apacheQuitRE = regexp.MustCompile(`"sleep ([0-9]+); apachectl -k graceful-stop; sleep ([0-9]+)"`)
