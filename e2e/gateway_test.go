package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

// gatewayHost is the host name the HTTPRoute of scenarios/gateway.yaml
// routes: the load sends it as the Host header.
const gatewayHost = "demo.rollcheck-lab.test"

// TestGatewayFront (issue 25): the Gateway API front, Traefik v3.5.0's
// Gateway provider configured by scenarios/gateway.yaml (a GatewayClass, a
// Gateway and an HTTPRoute for default/demo) on the standard CRDs of
// sigs.k8s.io/gateway-api. The seed's to-be passes through it with no
// failed request, rollcheck inferring the front from the HTTPRoute that
// routes the load's host. The as-is (an app that exits at once, no
// preStop) fails with a termination cause, and the pods rollcheck ties
// the failures to are the pods Traefik's own access log sent the failed
// requests to.
func TestGatewayFront(t *testing.T) {
	needRealNode(t)
	resetDemo(t)
	configureTraefik(t, "gateway.yaml")
	waitFrontServes(t, "the Gateway API front", lab.gatewayURL, gatewayHost, 60*time.Second)
	through := []string{"--target", lab.gatewayURL + "/", "-H", "Host: " + gatewayHost, "--baseline", "3s", "--settle", "3s"}

	r := rollcheck(t, append([]string{"-f", "../scenarios/to-be.scenario.yaml"}, through...)...)
	if r.code != exitcode.Pass || r.report.Verdict != report.Pass {
		t.Fatalf("to-be: exit %d verdict %q reasons %v, want 0 PASS\n%s", r.code, r.report.Verdict, r.report.Reasons, r.stderr)
	}
	if n, f := r.report.Load.Requests, r.report.Load.Failures; n < 1000 || f != 0 {
		t.Errorf("to-be: %v requests, %v failed; want at least 1000 and none failed", n, f)
	}
	if f := r.report.Front; f == nil || f.Name != "gateway" || !f.Inferred {
		t.Errorf("to-be: front %+v, want gateway, inferred from the HTTPRoute that routes host %s", f, gatewayHost)
	}
	t.Logf("to-be through the Gateway API front: %v requests, %v failed; front %+v", r.report.Load.Requests, r.report.Load.Failures, r.report.Front)

	diagFreshDemo(t, manifest(t, "as-is.yaml"))
	waitFrontServes(t, "the Gateway API front", lab.gatewayURL, gatewayHost, 60*time.Second)
	ips := watchPodIPs(t)
	from := time.Now()
	r = rollcheck(t, append([]string{"-f", "../scenarios/as-is.scenario.yaml", "--front", "gateway"}, through...)...)
	to := time.Now()
	diagLog(t, "as-is through the Gateway API front", r)
	if f := r.report.Front; f == nil || f.Name != "gateway" || f.Inferred {
		t.Errorf("as-is: front %+v, want gateway as given", f)
	}
	diagWantPrimary(t, r, string(report.TerminatingPodStillRouted), string(report.InflightCut), string(report.LBDeregistrationLag))
	checkFailuresAgreeWithTraefik(t, r, readTraefikAccessLog(t, gatewayHost, from, to), ips.snapshot())
}

// terminationCauses are the causes that tie failures to a pod being
// stopped.
var terminationCauses = []report.CauseCode{report.TerminatingPodStillRouted, report.LBDeregistrationLag, report.InflightCut}

// checkFailuresAgreeWithTraefik compares the failures rollcheck tied to
// pods by a termination cause with the failed requests Traefik's access log
// sent to those pods (by backend address).
//
// Through Traefik no failure names its pod (its 502 has no X-Pod-Name; a
// client timeout has no answer at all), so rollcheck ties each by time to
// the pods whose lifecycle windows hold it. The log's count is exact, so
// the totals must agree but for requests at the edges of the load (at most
// 2, or 5%: one in flight as the load stopped, which Traefik logs as 499
// when the client closes it). Every pod rollcheck names must be one Traefik
// sent failed requests to. Pods deleted together (the as-is has maxSurge 1
// and maxUnavailable 1, so the rollout deletes old pods in pairs) fail in
// the same window, and time alone cannot tell their failures apart: the
// counts are compared per wave of pods deleted within a second of each
// other or whose failures overlap in time (a wave deleted 1.3 s after
// another on a loaded machine can fail while the first still does), each
// within 25% of Traefik's (the bar for any number against the
// front's own record) plus 3. Per pod the two are logged.
//
// Where the evidence cannot decide, rollcheck says so: a new pod Ready as
// the old one it replaces is deleted and exits at once (the as-is has no
// readiness probe) fits the same failures, which Traefik sent to the old
// pod until its next sync. rollcheck may count them under the new pod's
// NEW_POD_NOT_SERVING at low confidence, naming the old pod's termination
// as their alternative (ci36); such failures count for the wave as far as
// the wave needs them, never against it. The failures rollcheck ties to
// a pod by a termination cause count for that pod, at any confidence.
func checkFailuresAgreeWithTraefik(t *testing.T, r result, reqs []traefikRequest, ips map[string][]string) {
	t.Helper()
	all, failed := traefikByPod(reqs, ips)
	ours, maybe := map[string]int{}, map[string]int{}
	for _, a := range r.report.Attributed {
		if slices.Contains(terminationCauses, a.Cause) && a.Pod != "" {
			ours[a.Pod] += a.Failures
			continue
		}
		// Failures rollcheck put under another cause at low confidence,
		// naming a termination of a pod as what fits them as well.
		if code, pod, ok := strings.Cut(a.Alternative, " "); ok && a.Confidence == report.ConfidenceLow && slices.Contains(terminationCauses, report.CauseCode(code)) {
			maybe[pod] += a.Failures
		}
	}
	traefikFailed := 0
	for _, n := range failed {
		traefikFailed += n
	}
	t.Logf("Traefik's access log: %d requests, %d failed; by pod %s; failed by pod %s", len(reqs), traefikFailed, describeCounts(all), describeCounts(failed))
	t.Logf("rollcheck: %v requests, %v failed; tied to pods by a termination cause %s; at low confidence to another cause, with a pod's termination as the alternative %s", r.report.Load.Requests, r.report.Load.Failures, describeCounts(ours), describeCounts(maybe))

	// The reader's address → pod mapping agrees with the app's own name
	// on every answer that carries it.
	mismatch := 0
	for _, q := range reqs {
		if q.PodHeader != "" && traefikPod(q.ServiceAddr, ips) != q.PodHeader {
			mismatch++
		}
	}
	if mismatch > 0 {
		t.Errorf("%d answers name a pod (X-Pod-Name) other than the one their backend address maps to: the pod IPs recorded are wrong", mismatch)
	}
	if n := len(reqs); n < int(r.report.Load.Requests)*9/10 {
		t.Errorf("Traefik logged %d requests for the run's host in the run, rollcheck sent %v: the log is not the run's", n, r.report.Load.Requests)
	}

	if diff, limit := abs(traefikFailed-int(r.report.Load.Failures)), max(2, traefikFailed/20); diff > limit {
		t.Errorf("rollcheck counted %v failures, Traefik's access log %d: more than %d apart", r.report.Load.Failures, traefikFailed, limit)
	}
	theirs := map[string]int{}
	for p, n := range failed {
		if p != "" && p[0] != '?' {
			theirs[p] = n
		} else {
			t.Errorf("Traefik's access log has %d failed requests to %q, which no demo pod's IP explains", n, p)
		}
	}
	for p := range ours {
		if theirs[p] == 0 {
			t.Errorf("rollcheck ties failures to pod %s, to which Traefik's access log sent no failed request", p)
		}
	}
	for _, wave := range overlappingWaves(deletionWaves(r, time.Second), failureSpans(r, reqs, ips)) {
		want, got, may := 0, 0, 0
		for _, p := range wave {
			want += theirs[p]
			got += ours[p]
			may += maybe[p]
		}
		t.Logf("pods deleted together %v: rollcheck ties %d failures to them (and %d at low confidence to another cause, naming them as the alternative), Traefik's access log has %d", wave, got, may, want)
		if tol := want/4 + 3; got-want > tol || want-(got+may) > tol {
			t.Errorf("pods deleted together %v: rollcheck ties %d failures to them (%d more as a low-confidence alternative), Traefik's access log has %d: more than 25%% + 3 apart", wave, got, may, want)
			logTraefikFailures(t, r, reqs, ips, wave)
		}
	}
}

// logTraefikFailures logs when Traefik's access log has the failed
// requests to the pods named, on the run's clock, to study a disagreement.
func logTraefikFailures(t *testing.T, r result, reqs []traefikRequest, ips map[string][]string, pods []string) {
	t.Helper()
	if len(r.report.Phases) == 0 {
		return
	}
	t0 := r.report.Phases[0].Start
	for _, q := range reqs {
		if pod := traefikPod(q.ServiceAddr, ips); q.failed() && slices.Contains(pods, pod) {
			t.Logf("Traefik: +%.3fs %d (origin %d) %s", q.Start.Sub(t0).Seconds(), q.DownstreamStatus, q.OriginStatus, pod)
		}
	}
}

// deletionWaves groups the pods the run saw deleted by when: a pod
// deleted within gap of the one before joins its wave.
func deletionWaves(r result, gap time.Duration) [][]string {
	type del struct {
		pod string
		at  time.Time
	}
	var dels []del
	seen := map[string]bool{}
	for _, e := range r.report.Events {
		if e.Type == rollout.DeletionRequested && e.Pod != "" && !seen[e.Pod] {
			seen[e.Pod] = true
			dels = append(dels, del{e.Pod, e.Time})
		}
	}
	slices.SortFunc(dels, func(a, b del) int { return a.at.Compare(b.at) })
	var waves [][]string
	for i, d := range dels {
		if i == 0 || d.at.Sub(dels[i-1].at) > gap {
			waves = append(waves, nil)
		}
		waves[len(waves)-1] = append(waves[len(waves)-1], d.pod)
	}
	return waves
}

// span is when one pod's failed requests were sent, first to last.
type span struct{ from, to time.Time }

// failureSpans gives, by pod, the span of the failed requests Traefik's
// access log sent to it joined with the span of those rollcheck tied to it.
func failureSpans(r result, reqs []traefikRequest, ips map[string][]string) map[string]span {
	spans := map[string]span{}
	add := func(pod string, from, to time.Time) {
		s, ok := spans[pod]
		if !ok || from.Before(s.from) {
			s.from = from
		}
		if !ok || to.After(s.to) {
			s.to = to
		}
		spans[pod] = s
	}
	for _, q := range reqs {
		if q.failed() {
			add(traefikPod(q.ServiceAddr, ips), q.Start, q.Start)
		}
	}
	for _, a := range r.report.Attributed {
		if slices.Contains(terminationCauses, a.Cause) && a.Pod != "" {
			add(a.Pod, a.From, a.To)
		}
	}
	return spans
}

// overlappingWaves joins waves any of whose pods' failure spans overlap.
func overlappingWaves(waves [][]string, spans map[string]span) [][]string {
	overlap := func(a, b []string) bool {
		for _, p := range a {
			for _, q := range b {
				sp, okp := spans[p]
				sq, okq := spans[q]
				if okp && okq && !sp.to.Before(sq.from) && !sq.to.Before(sp.from) {
					return true
				}
			}
		}
		return false
	}
	for joined := true; joined; {
		joined = false
		for i := 0; i < len(waves) && !joined; i++ {
			for j := i + 1; j < len(waves) && !joined; j++ {
				if overlap(waves[i], waves[j]) {
					waves[i] = append(waves[i], waves[j]...)
					waves = slices.Delete(waves, j, j+1)
					joined = true
				}
			}
		}
	}
	return waves
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// TestRecreateAndSlowStartThroughTraefik (issue 25): more of the issue's
// configurations through Traefik's two fronts, each inferred from the
// route that names the load's host. A Recreate leaves the Service with no
// ready endpoint, and whatever the front answers then is that window's,
// NO_READY_ENDPOINTS first, with the strategy (not a preStop) as its fix:
// the Gateway provider keeps the route and answers 503, the Ingress
// provider drops it and answers 404, a 4xx that names no pod. An app that
// opens its listener seconds after start with no readiness probe is Ready
// before it serves: Traefik is refused and answers 502,
// NEW_POD_NOT_SERVING, with a readiness probe as its fix.
func TestRecreateAndSlowStartThroughTraefik(t *testing.T) {
	needRealNode(t)
	configureTraefik(t, "gateway.yaml")
	configureTraefik(t, "ingress.yaml")
	fronts := map[string][]string{
		"gateway": {"--target", lab.gatewayURL + "/", "-H", "Host: " + gatewayHost},
		"ingress": {"--target", lab.ingressURL + "/", "-H", "Host: " + ingressHost},
	}
	run := func(t *testing.T, front string, spec diagDeployment) result {
		diagFreshDemo(t, diagService("2s")+"---\n"+spec.manifest())
		waitFrontServes(t, "the Gateway API front", lab.gatewayURL, gatewayHost, 60*time.Second)
		waitFrontServes(t, "the ingress front", lab.ingressURL, ingressHost, 60*time.Second)
		r := rollcheck(t, append([]string{"deployment/demo", "--restart", "--rate", "100/s", "--timeout", "5s", "--baseline", "3s", "--settle", "3s",
			"--max-failures", "0", "--pod-header", diagPodHeaders}, fronts[front]...)...)
		if f := r.report.Front; f == nil || f.Name != front || !f.Inferred {
			t.Errorf("front %+v, want %s, inferred from the route that names the load's host", f, front)
		}
		return r
	}
	recreate := diagDeployment{strategy: "{type: Recreate}", args: []string{"--shutdown=graceful"}, readiness: true, preStop: "3", grace: 10}
	for _, front := range []string{"gateway", "ingress"} {
		t.Run(front+": Recreate is NO_READY_ENDPOINTS first, fixed by the strategy", func(t *testing.T) {
			r := run(t, front, recreate)
			diagLog(t, "Recreate through the "+front+" front", r)
			c := diagWantPrimary(t, r, string(report.NoReadyEndpoints))
			if c.Confidence != report.ConfidenceHigh {
				t.Errorf("NO_READY_ENDPOINTS at %s confidence, want high", c.Confidence)
			}
			if hasRecommendation(r, "lifecycle.preStop") || !hasRecommendation(r, "spec.strategy") {
				t.Errorf("recommendations %+v: want the strategy and no preStop", r.report.Recommendations)
			}
			t.Logf("%s: NO_READY_ENDPOINTS %d failures by class %v", front, c.Failures, c.ByClass)
		})
	}
	for _, front := range []string{"gateway", "ingress"} {
		t.Run(front+": a slow start without a readiness probe is NEW_POD_NOT_SERVING", func(t *testing.T) {
			r := run(t, front, diagDeployment{args: []string{"--shutdown=graceful", "--startup=3s"}, preStop: "3", grace: 10})
			diagLog(t, "slow start without readiness through the "+front+" front", r)
			diagWantPrimary(t, r, string(report.NewPodNotServing))
			if !hasRecommendation(r, "readinessProbe") {
				t.Errorf("no readinessProbe recommendation: %+v", r.report.Recommendations)
			}
		})
	}
}
