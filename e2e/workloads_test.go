package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// StatefulSets and DaemonSets on the lab (issue 17): for each kind, a
// setting that leaves the Service without a ready endpoint while the pod is
// replaced gives FAIL with NO_READY_ENDPOINTS and a fix that names the
// kind's own field; the fix gives PASS. The lab's load balancer fronts
// Service default/demo (app=demo), so these workloads' pods carry app=demo
// and deployment/demo is deleted first (and restored after).

// workloadSpec is a StatefulSet or DaemonSet of the demo app, graceful on
// SIGTERM, with a readiness probe and a preStop longer than the load
// balancer's deregistration lag: only the kind's update setting varies. The
// preStop (5 s) leaves 3 s over the lag (2 s) for the endpoint change to
// reach the balancer: with 1 s, a CI run on a loaded machine failed one
// request of 728 in the fixed DaemonSet's run, before its old pod exited.
type workloadSpec struct {
	kind     string // StatefulSet or DaemonSet
	name     string
	replicas int    // StatefulSet
	update   string // the YAML of spec.updateStrategy
}

func (w workloadSpec) manifest() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: apps/v1\nkind: %s\nmetadata: {name: %s, namespace: default}\nspec:\n", w.kind, w.name)
	if w.kind == "StatefulSet" {
		fmt.Fprintf(&b, "  serviceName: demo\n  replicas: %d\n", w.replicas)
	}
	fmt.Fprintf(&b, `  updateStrategy: %s
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: app
        image: rollcheck/demo-app:v1
        args: ["--shutdown=graceful"]
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
          failureThreshold: 1
        lifecycle:
          preStop:
            exec:
              command: ["sh", "-c", "sleep 5"]
`, w.update)
	return b.String()
}

// ref is the workload as rollcheck and kubectl name it.
func (w workloadSpec) ref() string { return strings.ToLower(w.kind) + "/" + w.name }

// workloadSteady applies spec and waits until kubectl rollout status says
// it is rolled out and the load balancer serves only its current pods.
func workloadSteady(t *testing.T, spec workloadSpec) {
	t.Helper()
	kubectlApply(t, spec.manifest())
	kubectl(t, "rollout", "status", spec.ref(), "--timeout", "120s")
	waitSteadyOn(t, "X-Pod-Name") // no Deployment to wait for
}

// workloadRun restarts the workload under 100 requests/s through the lab's
// load balancer.
func workloadRun(t *testing.T, spec workloadSpec) result {
	t.Helper()
	return rollcheck(t, spec.ref(), "--restart", "--target", lab.lbURL+"/",
		"--rate", "100/s", "--timeout", "5s", "--baseline", "3s", "--settle", "3s",
		"--max-failures", "0", "--pod-header", diagPodHeaders)
}

func TestWorkloadStatefulSetAndDaemonSet(t *testing.T) {
	needLab(t)
	tests := []struct {
		name       string
		bad, fixed workloadSpec
		field      string // the recommendation the failing run must make
	}{
		{
			name:  "a StatefulSet of one replica has no pod while it is replaced; two pass",
			bad:   workloadSpec{kind: "StatefulSet", name: "demo-sts", replicas: 1, update: "{type: RollingUpdate}"},
			fixed: workloadSpec{kind: "StatefulSet", name: "demo-sts", replicas: 2, update: "{type: RollingUpdate}"},
			field: "spec.replicas",
		},
		{
			name:  "a DaemonSet with maxSurge 0 leaves its node without a pod; maxSurge 1 passes",
			bad:   workloadSpec{kind: "DaemonSet", name: "demo-ds", update: "{type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}"},
			fixed: workloadSpec{kind: "DaemonSet", name: "demo-ds", update: "{type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}"},
			field: "spec.updateStrategy.rollingUpdate.maxSurge",
		},
	}
	deleteDemo(t)
	t.Cleanup(func() { resetDemo(t) })
	kubectlApply(t, diagService("2s"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer kubectl(t, "delete", strings.ToLower(tt.bad.kind), tt.bad.name, "--ignore-not-found", "--cascade=foreground", "--wait", "--timeout", "90s")

			workloadSteady(t, tt.bad)
			r := workloadRun(t, tt.bad)
			diagLog(t, tt.bad.ref()+" as-is", r)
			diagWantPrimary(t, r, "NO_READY_ENDPOINTS")
			if kind := r.report.Rollout.Kind; kind != strings.ToLower(tt.bad.kind) {
				t.Errorf("rollout.kind %q, want %s", kind, strings.ToLower(tt.bad.kind))
			}
			if !hasRecommendation(r, tt.field) {
				t.Errorf("no recommendation on %s\n%s", tt.field, r.stdout)
			}
			if hasRecommendation(r, "spec.strategy.") {
				t.Errorf("a %s told to change spec.strategy\n%s", tt.bad.kind, r.stdout)
			}
			if !strings.Contains(r.stdout, tt.bad.ref()) {
				t.Errorf("the report does not name %s", tt.bad.ref())
			}

			workloadSteady(t, tt.fixed)
			r = workloadRun(t, tt.fixed)
			diagLog(t, tt.fixed.ref()+" fixed", r)
			if r.code != exitcode.Pass || r.report.Verdict != report.Pass {
				t.Errorf("fixed: exit %d verdict %s causes %v, want 0 PASS\n%s\n%s", r.code, r.report.Verdict, diagCauseCodes(r), r.stdout, r.stderr)
			}
		})
	}
}
