package main

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func colored(name string, lbls map[string]string) *appsv1.Deployment {
	d := deployment()
	d.Name = name
	d.Spec.Selector.MatchLabels = lbls
	d.Spec.Template.Labels = lbls
	return d
}

func svc(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.ServiceSpec{Selector: selector}}
}

// TestSwitchAndCanaryProblemsStopBeforeAnyChange: what the switch or the
// canary would act on is checked against the cluster before any load, and
// a mistake exits 2 (4 for a missing permission) with nothing patched.
func TestSwitchAndCanaryProblemsStopBeforeAnyChange(t *testing.T) {
	blue := colored("web-blue", map[string]string{"app": "web", "color": "blue"})
	green := colored("web-green", map[string]string{"app": "web", "color": "green"})
	green2 := colored("web-green-2", map[string]string{"app": "web", "color": "green"})
	web := svc("web", map[string]string{"app": "web", "color": "blue"})
	base := []string{"run", "-n", "default", "--target", "http://127.0.0.1:1/", "--baseline", "0s", "--settle", "0s"}
	switchTo := func(sel string) []string { return []string{"--switch-service", "web", "--selector", sel} }
	tests := []struct {
		name   string
		objs   []runtime.Object
		deny   string
		args   []string
		code   int
		stderr string
	}{
		{"a missing service", []runtime.Object{blue, green}, "", switchTo("color=green"), ExitUsage, `"web" not found`},
		{"a service that already selects the target", []runtime.Object{blue, green, web}, "", switchTo("color=blue"), ExitUsage, "already selects app=web,color=blue"},
		{"no deployment on the other side", []runtime.Object{blue, web}, "", switchTo("color=green"), ExitUsage, "no deployment has pods that app=web,color=green selects"},
		{"two deployments on the other side", []runtime.Object{blue, green, green2, web}, "", switchTo("color=green"), ExitUsage, "web-green, web-green-2"},
		{"a deployment argument that is not the target", []runtime.Object{blue, green, web}, "", append(switchTo("color=green"), "deployment/web-blue"), ExitUsage, "selects deployment/web-green, not deployment/web-blue"},
		{"a caller that may not patch the service", []runtime.Object{blue, green, web}, "patch", switchTo("color=green"), ExitRuntime, `cannot patch services "web"`},
		{"a missing canary deployment", []runtime.Object{blue, web}, "", []string{"web-blue", "--canary", "web-canary", "--canary-steps", "3/1"}, ExitUsage, `"web-canary"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.objs...)
			wantStoppedBeforeChange(t, client, tt.deny, append(base, tt.args...), tt.code, tt.stderr)
		})
	}
}
