package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// TestRBACOutputGrantsExactlyTheRun (issue 17): the Role that `rollcheck
// rbac` prints for a run's flags, applied in the lab to a fresh
// ServiceAccount, lets that run pass its permission check and run to its
// verdict; with one verb fewer, the same run stops before anything changes
// and names the verb.
func TestRBACOutputGrantsExactlyTheRun(t *testing.T) {
	needLab(t)
	resetDemo(t)
	const sa = "rollcheck-rbac"
	kubeconfig := serviceAccountKubeconfig(t, sa, nil) // no rights of its own
	runArgs := []string{"deployment/demo", "--restart", "--rate", "50/s", "--baseline", "2s", "--settle", "2s", "--pod-header", "X-Pod-Name"}

	rbac := exec.Command(lab.rollcheck, append([]string{"rbac", "--kubeconfig", lab.kubeconfig, "-n", "default", "--serviceaccount", "default:" + sa}, runArgs...)...)
	yml, err := rbac.Output()
	if err != nil {
		t.Fatalf("rollcheck rbac: %v\n%s", err, yml)
	}
	t.Logf("rollcheck rbac printed:\n%s", yml)
	file := filepath.Join(t.TempDir(), "rbac.yaml")
	if err := os.WriteFile(file, yml, 0o600); err != nil {
		t.Fatal(err)
	}
	applied := kubectl(t, "apply", "-f", file, "-o", "name")
	t.Cleanup(func() { kubectl(t, "delete", "-f", file, "--ignore-not-found") })
	var role string
	for _, l := range strings.Fields(applied) {
		if name, ok := strings.CutPrefix(l, "role.rbac.authorization.k8s.io/"); ok {
			role = name
		}
	}
	if role == "" || !strings.Contains(applied, "rolebinding.rbac.authorization.k8s.io/") {
		t.Fatalf("the rbac output applied %q: want a Role and a RoleBinding", applied)
	}

	gen := demoGeneration(t)
	r := startRollcheck(t, kubeconfig, append(runArgs, "--target", lab.lbURL+"/")...).wait(t, 3*time.Minute)
	if r.code != exitcode.Pass || r.report.Verdict != report.Pass {
		t.Fatalf("as ServiceAccount %s with the printed Role: exit %d verdict %q, want 0 PASS\nstderr:\n%s", sa, r.code, r.report.Verdict, r.stderr)
	}
	if demoGeneration(t) == gen {
		t.Error("the run passed but deployment/demo was not restarted")
	}

	// One verb fewer: no patch on Deployments.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	roles := lab.client.RbacV1().Roles("default")
	ro, err := roles.Get(ctx, role, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	removed := false
	for i, rule := range ro.Rules {
		if slices.Contains(rule.Resources, "deployments") && slices.Contains(rule.Verbs, "patch") {
			ro.Rules[i].Verbs = slices.DeleteFunc(slices.Clone(rule.Verbs), func(v string) bool { return v == "patch" })
			removed = true
		}
	}
	if !removed {
		t.Fatalf("the printed Role grants no patch on deployments: %+v", ro.Rules)
	}
	ro.Rules = slices.DeleteFunc(ro.Rules, func(r rbacv1.PolicyRule) bool { return len(r.Verbs) == 0 })
	if _, err := roles.Update(ctx, ro, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSteady(t)
	gen = demoGeneration(t)
	r = startRollcheck(t, kubeconfig, append(runArgs, "--target", lab.lbURL+"/")...).wait(t, time.Minute)
	if r.code != exitcode.Runtime || !strings.Contains(r.stderr, "patch deployments.apps") {
		t.Fatalf("without patch: exit %d, want %d naming patch deployments.apps\nstderr:\n%s", r.code, exitcode.Runtime, r.stderr)
	}
	if got := demoGeneration(t); got != gen {
		t.Errorf("deployment generation %d → %d: the run changed the cluster without its permission", gen, got)
	}
	t.Logf("one verb fewer: %s", strings.TrimSpace(r.stderr))
}
