package e2e

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// localNodesService is scenarios/demo-nodes.yaml with externalTrafficPolicy
// Local and a health check of 5 s (timeout 2 s; 2 failures take a node out,
// 2 successes bring it back).
const localNodesService = `apiVersion: v1
kind: Service
metadata:
  name: demo-nodes
  namespace: default
  annotations:
    alb.ingress.kubernetes.io/target-type: instance
    lab.rollcheck.dev/lb-deregister-lag: "2s"
    alb.ingress.kubernetes.io/healthcheck-interval-seconds: "5"
    alb.ingress.kubernetes.io/healthcheck-timeout-seconds: "2"
    alb.ingress.kubernetes.io/unhealthy-threshold-count: "2"
    alb.ingress.kubernetes.io/healthy-threshold-count: "2"
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector:
    app: demo
  ports:
  - port: 80
    targetPort: 8080
`

// spreadDemo is deployment/demo of 3 replicas spread over the nodes, an app
// that drains well (readiness, a preStop, graceful on SIGTERM), and a
// budget that lets a drain evict one at a time: the Service never runs
// out of ready endpoints. Its preStop (6 s) covers the slow node's
// kube-proxy (minSyncPeriod slowSync, 4 s): with Cluster a request that
// enters through that node goes to any pod, and a 3 s preStop let one
// reach the drained pod after it exited (ci37). Its app answers with
// Connection: close for 2 s after SIGTERM before it stops (--drain-close),
// as the KEPT_CONNECTION_CLOSED advice has it: the balancer's kept
// connections, pinned to the pod through a node's conntrack, would
// otherwise be closed under a request at its exit (ci38: 3 failures).
const spreadDemo = `apiVersion: apps/v1
kind: Deployment
metadata: {name: demo, namespace: default}
spec:
  replicas: 3
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      terminationGracePeriodSeconds: 15
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: demo}}}
      containers:
      - name: app
        image: rollcheck/demo-app:v1
        args: ["--shutdown=graceful", "--drain=2s", "--drain-close"]
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1, failureThreshold: 1}
        lifecycle: {preStop: {exec: {command: ["sh", "-c", "sleep 6"]}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: demo, namespace: default}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: demo}}}
`

// TestDrainThroughNodeTargetsWithLocalTraffic (issue 22): the balancer in
// instance mode before a Service with externalTrafficPolicy Local, its
// health check on the traffic port. A drain of a node under a budget
// keeps the Service's ready endpoints, yet once the node's last pod is
// gone its kube-proxy drops what the balancer still sends it ("has no
// local endpoints"), and the balancer answers 504 after its 10 s connect
// timeout until its health checks take the node out: FAIL, the failures
// NODE_TARGET_DEREGISTRATION_LAG naming the node, sent before the
// balancer's own log marked the node unhealthy, with the traffic policy
// and kube-proxy's health port as the advice. With the advised Cluster,
// the same drain passes. The lab's balancer dials
// from lab-node's namespace, where that node's own NodePort takes it for
// local traffic and forwards it anywhere, so the drained node is another.
func TestDrainThroughNodeTargetsWithLocalTraffic(t *testing.T) {
	needNodes(t)
	t.Cleanup(func() { resetDemo(t) })
	nodes := spareNodes(t)
	t.Cleanup(func() { kubectlApply(t, manifest(t, "demo-nodes.yaml")) })
	kubectl(t, "delete", "pdb", "demo", "--ignore-not-found")
	// drain puts the Service under policy, spreads fresh pods over the
	// nodes and drains one that holds a pod (not lab-node, nor the slow
	// node, whose late kube-proxy would add its own lag).
	drain := func(policy string) (result, string) {
		t.Helper()
		kubectlApply(t, diagService("2s")+"---\n"+strings.Replace(localNodesService, "externalTrafficPolicy: Local", "externalTrafficPolicy: "+policy, 1))
		diagFreshDemo(t, spreadDemo)
		wantSpread(t)
		drained := ""
		for _, n := range nodes[1:] {
			if n != slowNode && podsOn(t, n) > 0 {
				drained = n
			}
		}
		if drained == "" {
			t.Fatalf("no pod on a node but %s and %s: a drain would evict none", nodes[0], slowNode)
		}
		waitNodesHealthy(t, nodes)
		r := rollcheck(t, "deployment/demo", "--drain", drained, "--uncordon", "--target", lab.lbInstanceURL+"/",
			"--rate", "50/s", "--timeout", "12s", "--baseline", "2s", "--settle", "14s", "--max-failures", "0",
			"--service", "demo-nodes", "--pod-header", "X-Pod-Name", "--node-header", "X-Lab-Node")
		diagLog(t, "drain through node targets, externalTrafficPolicy "+policy, r)
		return r, drained
	}

	r, drained := drain("Local")
	wantVerdict(t, r, exitcode.Fail, report.Fail)
	c, ok := causeByCode(r, report.NodeTargetDeregistration)
	if !ok || c.Failures*10 < r.report.Load.Failures*8 {
		t.Fatalf("NODE_TARGET_DEREGISTRATION_LAG has %d of %d failures, want at least 80%%; causes %v\n%s", c.Failures, r.report.Load.Failures, diagCauseCodes(r), r.stdout)
	}
	if !strings.Contains(c.Evidence, "through node "+drained) {
		t.Errorf("evidence names no %s: %s", drained, c.Evidence)
	}
	if !slices.Contains(c.PredictedBy, "local-traffic-without-node-health-check") {
		t.Errorf("the lint rule local-traffic-without-node-health-check did not foresee it: predicted by %v", c.PredictedBy)
	}
	// The balancer's own record: when it took the node out.
	if len(r.report.Phases) == 0 {
		t.Fatalf("the report has no phases")
	}
	began := r.report.Phases[0].Start
	out := unhealthyAt(t, drained, began)
	if out.IsZero() {
		t.Fatalf("the balancer's log never marked %s unhealthy after the run began", drained)
	}
	late := 0
	for _, f := range r.report.Failures {
		if f.Node == drained && f.Time.After(out.Add(time.Second)) {
			late++
		}
	}
	t.Logf("Local: %d of %d requests failed, %d under the cause, %s; the balancer took %s out at %s (%.2f s after the run began); %d sent through it later",
		r.report.Load.Failures, r.report.Load.Requests, c.Failures, c.Confidence, drained, out.Format("15:04:05.000"), out.Sub(began).Seconds(), late)
	if late > 0 {
		t.Errorf("%d failures sent through %s more than 1 s after the balancer took it out", late, drained)
	}
	if !hasRecommendation(r, "spec.externalTrafficPolicy") || !hasRecommendation(r, "healthcheck-port") {
		t.Errorf("no advice on the traffic policy and the health check\n%s", r.stdout)
	}

	// The advice applied: with Cluster the drained node forwards to the
	// pods of the others.
	r, drained = drain("Cluster")
	t.Logf("Cluster: %d of %d requests failed, %s drained", r.report.Load.Failures, r.report.Load.Requests, drained)
	if r.code != exitcode.Pass || r.report.Verdict != report.Pass || r.report.Load.Failures != 0 {
		t.Errorf("with externalTrafficPolicy Cluster: exit %d verdict %s, %d failed; want PASS with none; causes %v", r.code, r.report.Verdict, r.report.Load.Failures, diagCauseCodes(r))
	}
}

// podsOn counts deployment/demo's running pods on node.
func podsOn(t *testing.T, node string) int {
	t.Helper()
	out := kubectl(t, "get", "pods", "-l", "app=demo", "--field-selector", "status.phase=Running,spec.nodeName="+node, "-o", "name")
	return len(strings.Fields(out))
}

// healthLines reads the lab balancer's health-check log of the instance
// targets: for each line, its time, node and state.
func healthLines(t *testing.T) []healthLine {
	t.Helper()
	f, err := os.Open(filepath.Join(lab.dir, "logs", "lb.log"))
	if err != nil {
		t.Fatalf("the lab balancer's log: %v", err)
	}
	defer f.Close()
	var out []healthLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, " lb "+instanceService+": health check ") {
			continue
		}
		stamp, rest, _ := strings.Cut(line, " ")
		at, err := time.Parse(time.RFC3339Nano, stamp)
		_, tail, ok := strings.Cut(rest, " node=")
		if err != nil || !ok {
			continue
		}
		node, state, _ := strings.Cut(tail, ": ")
		out = append(out, healthLine{at: at, node: node, state: state})
	}
	return out
}

type healthLine struct {
	at          time.Time
	node, state string
}

// waitNodesHealthy waits until the balancer's last health-check verdict on
// each node is healthy (no verdict yet: a new target, healthy).
func waitNodesHealthy(t *testing.T, nodes []string) {
	t.Helper()
	waitUntil(t, time.Minute, "the balancer in instance mode to find every node healthy", func() (bool, error) {
		last := map[string]string{}
		for _, l := range healthLines(t) {
			last[l.node] = l.state
		}
		for _, n := range nodes {
			if s, ok := last[n]; ok && s != "healthy" {
				return false, nil
			}
		}
		return true, nil
	})
}

// unhealthyAt is when the balancer first marked node unhealthy after since
// (zero: it did not).
func unhealthyAt(t *testing.T, node string, since time.Time) time.Time {
	t.Helper()
	for _, l := range healthLines(t) {
		if l.node == node && l.state == "unhealthy" && l.at.After(since) {
			return l.at
		}
	}
	return time.Time{}
}
