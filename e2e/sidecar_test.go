package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/preflight"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

// TestProxySidecarStopsBeforeTheApp (issue 23) runs, on the real node's
// kubelet, pods of the demo app (300 ms a request) behind a proxy
// sidecar: Debian's nginx (rollcheck/nginx:1.22 with its proxy config) on
// the pod's port, sending to the app on 127.0.0.1:8081. The app is
// graceful behind a 4 s preStop. As a regular container
// (scenarios/sidecar-as-is.yaml) nginx gets SIGTERM with the app and stops
// at once: FAIL, SIDECAR_STOPPED_BEFORE_APP naming both containers, a
// native sidecar as the fix, lint's proxy-sidecar-not-native before the
// run. As a native sidecar (scenarios/sidecar-to-be.yaml: an init
// container with restartPolicy: Always, which the kubelet stops after the
// app): PASS, at least 2,000 requests, none failed, lint quiet. Through the
// ALB-like front (2 s lag) the as-is fails the requests the front still
// sends; through kube-proxy, whose rules drop the pod within a fraction of
// a second, it fails the requests nginx cut in flight. There the load
// opens a connection per request, as clients through an L4 path often do;
// with kept connections and requests of 1 ms the as-is failed none by hand
// (0 of 2,529): Go's client sends again a request on a kept connection
// that the server closed before answering.
func TestProxySidecarStopsBeforeTheApp(t *testing.T) {
	needRealNode(t)
	t.Run("through the ALB-like front", func(t *testing.T) {
		sidecarStopCase(t, "sidecar-as-is.yaml", "sidecar-to-be.yaml", "--target", lab.lbURL+"/")
	})
	t.Run("through kube-proxy", func(t *testing.T) {
		sidecarStopCase(t, "sidecar-as-is.yaml", "sidecar-to-be.yaml", "--target", lab.kubeProxyURL+"/", "--front", "kube-proxy", "--connections", "new")
	})
}

// TestProxySidecarOnTheProcessKubelet is the same case on the process
// lab, whose kubelet orders native sidecars as the real one does, with the
// demo app standing in for the proxy (scenarios/sidecar-demo-as-is.yaml
// and -to-be.yaml: --upstream to the app, stopped at once by SIGTERM).
func TestProxySidecarOnTheProcessKubelet(t *testing.T) {
	needLab(t)
	sidecarStopCase(t, "sidecar-demo-as-is.yaml", "sidecar-demo-to-be.yaml", "--target", lab.lbURL+"/")
}

// sidecarStopCase runs the as-is (the proxy a regular container) and the
// to-be (the proxy a native sidecar) through the ALB-like front.
func sidecarStopCase(t *testing.T, asIs, toBe string, through ...string) {
	t.Cleanup(func() { resetDemo(t) })
	run := func(t *testing.T, name, deployment string) result {
		t.Helper()
		diagFreshDemo(t, diagService("2s")+"---\n"+manifest(t, deployment))
		// 150/s with 3 s phases: at least 2,000 requests over a rollout
		// of some 10 s, in less time than the scenario's 100/s and 5 s.
		r := rollcheck(t, append([]string{"-f", "../scenarios/sidecar.scenario.yaml", "--rate", "150/s", "--baseline", "3s", "--settle", "3s"}, through...)...)
		diagLog(t, name, r)
		linted := slices.ContainsFunc(r.report.Preflight, func(f preflight.Finding) bool { return f.Rule == preflight.RuleProxySidecarNotNative })
		if linted != (deployment == asIs) {
			t.Errorf("%s: lint's %s fired %t: %+v", deployment, preflight.RuleProxySidecarNotNative, linted, r.report.Preflight)
		}
		return r
	}
	t.Run("as-is: the proxy a regular container", func(t *testing.T) {
		r := run(t, "sidecar as-is", asIs)
		wantVerdict(t, r, exitcode.Fail, report.Fail)
		c, ok := causeByCode(r, report.SidecarStoppedFirst)
		if !ok || c.Failures*2 < r.report.Load.Failures {
			for _, e := range r.report.Events {
				if e.Type == rollout.ContainerExited || e.Type == rollout.DeletionRequested {
					t.Logf("%s %s %s %s code %v server time %v", e.Time.Format("15:04:05.000"), e.Type, e.Pod, e.Container, e.ExitCode, e.ServerTime)
				}
			}
			t.Fatalf("SIDECAR_STOPPED_BEFORE_APP has %d of %d failures (present %t), want most; causes %v\n%s", c.Failures, r.report.Load.Failures, ok, diagCauseCodes(r), r.stdout)
		}
		if !strings.Contains(c.Evidence, "whose proxy container proxy exited") || !strings.Contains(c.Evidence, "container app ran until") && !strings.Contains(c.Evidence, "container app still ran") {
			t.Errorf("evidence %q does not name the proxy exiting while the app ran", c.Evidence)
		}
		native := false
		for _, rec := range r.report.Recommendations {
			native = native || rec.Field == "spec.template.spec.containers[proxy]" && strings.Contains(rec.Suggested, "restartPolicy: Always")
		}
		if !native {
			t.Errorf("recommendations %+v, want the proxy a native sidecar", r.report.Recommendations)
		}
		t.Logf("as-is: %d of %d failed, %d under %s", r.report.Load.Failures, r.report.Load.Requests, c.Failures, c.Code)
	})
	t.Run("to-be: the proxy a native sidecar", func(t *testing.T) {
		r := run(t, "sidecar to-be", toBe)
		wantVerdict(t, r, exitcode.Pass, report.Pass)
		// At 150/s: the 3 s baseline, a rollout of 4 s or more and the 3 s
		// settle are 1,500 requests at least (ci54: 1,985 in a fast
		// rollout, where 2,000 was asked); the PASS says the load covered
		// the rollout and the removed pods' going.
		if n, f := r.report.Load.Requests, r.report.Load.Failures; n < 1500 || f != 0 {
			t.Errorf("%d requests, %d failed; want at least 1500 and none failed", n, f)
		}
		t.Logf("to-be: %d of %d failed", r.report.Load.Failures, r.report.Load.Requests)
	})
}

// TestAppReadyBeforeItsSidecar (issue 23) runs, on the real node, the
// demo app behind an nginx proxy that takes 5 s to listen, through the
// ingress front (Traefik sends to a pod as soon as it is Ready; a load
// balancer that health-checks new targets, as the ALB-like front does,
// would hide it). As a regular container with no readiness probe
// (scenarios/sidecar-start-as-is.yaml) the proxy counts as ready while it
// runs, so the pod turns Ready on the app's probe: FAIL, most failures
// APP_READY_BEFORE_SIDECAR naming both containers, with a native sidecar
// and a startupProbe on its port as the fix. As a native sidecar with that
// probe (scenarios/sidecar-start-to-be.yaml): PASS, none failed.
func TestAppReadyBeforeItsSidecar(t *testing.T) {
	needRealNode(t)
	configureTraefik(t, "ingress.yaml")
	t.Cleanup(func() { resetDemo(t) })
	run := func(t *testing.T, name, deployment string) result {
		t.Helper()
		diagFreshDemo(t, diagService("2s")+"---\n"+manifest(t, deployment))
		waitFrontServes(t, "the ingress front", lab.ingressURL, ingressHost, 60*time.Second)
		r := rollcheck(t, "-f", "../scenarios/sidecar.scenario.yaml", "--target", lab.ingressURL+"/", "-H", "Host: "+ingressHost,
			"--baseline", "3s", "--settle", "3s")
		diagLog(t, name, r)
		return r
	}
	t.Run("as-is: the proxy a regular container with no readiness probe", func(t *testing.T) {
		r := run(t, "sidecar start as-is", "sidecar-start-as-is.yaml")
		wantVerdict(t, r, exitcode.Fail, report.Fail)
		c, ok := causeByCode(r, report.AppReadyBeforeSidecar)
		if !ok || c.Failures*2 < r.report.Load.Failures {
			t.Fatalf("APP_READY_BEFORE_SIDECAR has %d of %d failures (present %t), want most; causes %v\n%s", c.Failures, r.report.Load.Failures, ok, diagCauseCodes(r), r.stdout)
		}
		if !strings.Contains(c.Evidence, "its app container app has a readiness probe on its port while its proxy container proxy, which takes the traffic, has none") {
			t.Errorf("evidence %q does not name the app's probe and the proxy's lack of one", c.Evidence)
		}
		native := false
		for _, rec := range r.report.Recommendations {
			native = native || rec.Field == "spec.template.spec.containers[proxy]" && strings.Contains(rec.Suggested, "startupProbe tcpSocket (or httpGet) port 8080")
		}
		if !native {
			t.Errorf("recommendations %+v, want the proxy a native sidecar with a startupProbe on port 8080", r.report.Recommendations)
		}
		if !slices.Contains(c.PredictedBy, preflight.RuleNoReadinessProbe) {
			t.Errorf("predicted by %v, want lint's %s", c.PredictedBy, preflight.RuleNoReadinessProbe)
		}
		t.Logf("as-is: %d of %d failed, %d under %s; causes %v", r.report.Load.Failures, r.report.Load.Requests, c.Failures, c.Code, diagCauseCodes(r))
	})
	t.Run("to-be: the proxy a native sidecar with a startupProbe", func(t *testing.T) {
		r := run(t, "sidecar start to-be", "sidecar-start-to-be.yaml")
		wantVerdict(t, r, exitcode.Pass, report.Pass)
		if n, f := r.report.Load.Requests, r.report.Load.Failures; n < 1000 || f != 0 {
			t.Errorf("%d requests, %d failed; want at least 1000 and none failed", n, f)
		}
		t.Logf("to-be: %d of %d failed", r.report.Load.Failures, r.report.Load.Requests)
	})
}
