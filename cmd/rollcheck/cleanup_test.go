package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rollcheck/rollcheck/exitcode"
)

var cleanupNow = time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)

func runConfigMap(ns, run string, age time.Duration) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: runConfigMapPfx + run, UID: types.UID("uid-" + run),
		CreationTimestamp: metav1.NewTime(cleanupNow.Add(-age)),
		Labels:            map[string]string{labelManagedBy: managedByValue, labelRun: run},
	}}
}

func attackerPod(ns, run, name string, age time.Duration) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(cleanupNow.Add(-age)),
		Labels:          map[string]string{labelManagedBy: managedByValue, labelRun: run, labelRole: roleAttacker},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: runConfigMapPfx + run, UID: types.UID("uid-" + run)}},
	}}
}

// cleanupFixture: run a (2h old, two attackers), run b (1 min old, one
// attacker), run c's attacker whose ConfigMap is gone (2h old), in shop;
// run d in another namespace; and things rollcheck does not own.
func cleanupFixture() []runtime.Object {
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "rollcheck-run-mine",
		Labels: map[string]string{labelRun: "x"}}} // not managed by rollcheck
	web := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", Labels: map[string]string{"app": "web"}}}
	return []runtime.Object{
		runConfigMap("shop", "a", 2*time.Hour), attackerPod("shop", "a", "rollcheck-a-0", 2*time.Hour), attackerPod("shop", "a", "rollcheck-a-1", 2*time.Hour),
		runConfigMap("shop", "b", time.Minute), attackerPod("shop", "b", "rollcheck-b-0", time.Minute),
		attackerPod("shop", "c", "rollcheck-c-0", 2*time.Hour),
		runConfigMap("other", "d", 3*time.Hour), attackerPod("other", "d", "rollcheck-d-0", 3*time.Hour),
		foreign, web,
	}
}

func executeCleanup(t *testing.T, client kubernetes.Interface, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := newFactory(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	f.kube = func() (kubernetes.Interface, error) { return client, nil }
	f.now = func() time.Time { return cleanupNow }
	root := rootWith(f, newCleanupCommand(f, nil))
	root.SetArgs(append([]string{"cleanup"}, args...))
	err := root.ExecuteContext(context.Background())
	return exitCode(err, &errOut), out.String(), errOut.String()
}

// names lists what is left in the fake cluster, as ns/kind/name.
func leftNames(t *testing.T, client *fake.Clientset) string {
	t.Helper()
	var names []string
	cms, _ := client.CoreV1().ConfigMaps("").List(context.Background(), metav1.ListOptions{})
	for _, c := range cms.Items {
		names = append(names, c.Namespace+"/cm/"+c.Name)
	}
	pods, _ := client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	for _, p := range pods.Items {
		names = append(names, p.Namespace+"/pod/"+p.Name)
	}
	return strings.Join(names, " ")
}

func TestCleanupDeletesTheRunsAndTheirAttackers(t *testing.T) {
	client := fake.NewClientset(cleanupFixture()...)
	var propagation []string
	client.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		d := a.(k8stesting.DeleteActionImpl)
		if p := d.DeleteOptions.PropagationPolicy; p != nil {
			propagation = append(propagation, string(*p))
		}
		return false, nil, nil
	})
	code, out, stderr := executeCleanup(t, client, "-n", "shop")
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := `configmap "rollcheck-run-a" deleted from shop namespace
configmap "rollcheck-run-b" deleted from shop namespace
pod "rollcheck-a-0" deleted from shop namespace
pod "rollcheck-a-1" deleted from shop namespace
pod "rollcheck-b-0" deleted from shop namespace
pod "rollcheck-c-0" deleted from shop namespace
`
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if got := leftNames(t, client); got != "other/cm/rollcheck-run-d shop/cm/rollcheck-run-mine other/pod/rollcheck-d-0 shop/pod/web-1" {
		t.Errorf("left: %s", got)
	}
	for _, p := range propagation {
		if p != string(metav1.DeletePropagationBackground) {
			t.Errorf("propagation %s, want Background", p)
		}
	}
	if len(propagation) != 6 {
		t.Errorf("%d deletes with a propagation policy, want 6", len(propagation))
	}
}

func TestCleanupOlderThanSparesRunsStillGoing(t *testing.T) {
	client := fake.NewClientset(cleanupFixture()...)
	code, out, stderr := executeCleanup(t, client, "-n", "shop", "--older-than", "1h")
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(out, "-b") {
		t.Errorf("a run a minute old was deleted:\n%s", out)
	}
	for _, name := range []string{`configmap "rollcheck-run-a"`, `pod "rollcheck-a-0"`, `pod "rollcheck-a-1"`, `pod "rollcheck-c-0"`} {
		if !strings.Contains(out, name) {
			t.Errorf("output lacks %s:\n%s", name, out)
		}
	}
	if got := leftNames(t, client); !strings.Contains(got, "shop/cm/rollcheck-run-b") || !strings.Contains(got, "shop/pod/rollcheck-b-0") {
		t.Errorf("left: %s", got)
	}
}

func TestCleanupDryRunDeletesNothing(t *testing.T) {
	client := fake.NewClientset(cleanupFixture()...)
	before := leftNames(t, client)
	code, out, stderr := executeCleanup(t, client, "-A", "--dry-run")
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "delete" {
			t.Errorf("a dry run deleted %s", a.GetResource().Resource)
		}
	}
	if leftNames(t, client) != before {
		t.Error("a dry run changed the cluster")
	}
	if !strings.Contains(out, `configmap "rollcheck-run-d" deleted from other namespace (dry run)`) || strings.Count(out, "(dry run)") != 8 {
		t.Errorf("dry-run output:\n%s", out)
	}
}

func TestCleanupWithNothingLeftSaysSo(t *testing.T) {
	client := fake.NewClientset()
	code, out, _ := executeCleanup(t, client, "-n", "shop")
	if code != exitcode.Pass || out != "No rollcheck leftovers found in shop namespace.\n" {
		t.Errorf("exit %d, output %q", code, out)
	}
}

func TestCleanupNamesTheMissingPermission(t *testing.T) {
	tests := []struct {
		name, verb, resource, args, want string
	}{
		{"listing configmaps", "list", "configmaps", "-n shop", "needs list and delete on configmaps and pods in namespace shop; missing list configmaps"},
		{"deleting pods", "delete", "pods", "-n shop", "missing delete pods"},
		{"listing every namespace", "list", "pods", "-A", "in every namespace (-A; a ClusterRole); missing list pods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(cleanupFixture()...)
			client.PrependReactor(tt.verb, tt.resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: tt.resource}, "", nil)
			})
			code, _, stderr := executeCleanup(t, client, strings.Fields(tt.args)...)
			if code != exitcode.Runtime || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitcode.Runtime, tt.want)
			}
		})
	}
}

func TestCleanupBadFlags(t *testing.T) {
	client := fake.NewClientset(cleanupFixture()...)
	for _, args := range [][]string{{"--older-than", "-1h"}, {"-A", "-n", "shop"}, {"extra"}} {
		code, _, stderr := executeCleanup(t, client, args...)
		if code != exitcode.Usage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, stderr, exitcode.Usage)
		}
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("bad flags reached the cluster: %d actions", n)
	}
}
