package kubelet

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// A native sidecar starts, and passes its startup probe, before the app
// container starts; it shows in initContainerStatuses and its readiness
// counts toward the pod's. At deletion both preStops run at once, and the
// sidecar gets SIGTERM only after the app has exited.
func TestNativeSidecarStartsFirstAndStopsLast(t *testing.T) {
	h := newHarness(t, nil)
	podDir := filepath.Join(h.dir, "pods", "default_side")
	preStop := func(mark, sleep string) *v1.Lifecycle {
		return &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{
			Command: []string{"/bin/sh", "-c", "echo prestop-" + mark + " >> events.txt; sleep " + sleep},
		}}}
	}
	h.create(testPod("side", map[string]string{"ON_SIGTERM": "exit0", "MARK": "app"}, func(p *v1.Pod) {
		p.Spec.Containers[0].Lifecycle = preStop("app", "1")
		p.Spec.InitContainers = []v1.Container{{
			Name:          "proxy",
			Image:         testImage,
			RestartPolicy: ptr.To(v1.ContainerRestartPolicyAlways),
			Env:           []v1.EnvVar{{Name: "LAB_HELPER", Value: "http"}, {Name: "ON_SIGTERM", Value: "exit0"}, {Name: "MARK", Value: "proxy"}},
			Ports:         []v1.ContainerPort{{ContainerPort: 9090}},
			// Started once the test lets it: the app must wait.
			StartupProbe:   &v1.Probe{PeriodSeconds: 1, FailureThreshold: 60, ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"test", "-f", "go"}}}},
			ReadinessProbe: &v1.Probe{PeriodSeconds: 1, ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(9090)}}},
			Lifecycle:      preStop("proxy", "0"),
		}}
	}))
	p := h.waitPod("side", "the sidecar running", func(p *v1.Pod) bool {
		return len(p.Status.InitContainerStatuses) == 1 && p.Status.InitContainerStatuses[0].State.Running != nil
	})
	// Two startup-probe periods: the app has not started meanwhile.
	time.Sleep(2 * time.Second)
	if p, _ = h.get("side"); len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Running != nil || condition(p, v1.PodInitialized) != v1.ConditionFalse {
		t.Fatalf("the app runs, or the pod is initialized, before its sidecar started: %+v", p.Status)
	}
	if err := os.WriteFile(filepath.Join(podDir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p = h.waitPod("side", "Ready=True", isReady)
	proxy, app := p.Status.InitContainerStatuses[0], p.Status.ContainerStatuses[0]
	if proxy.Name != "proxy" || !*proxy.Started || !proxy.Ready || app.Name != "app" || condition(p, v1.PodInitialized) != v1.ConditionTrue {
		t.Errorf("statuses: init %+v, app %+v, initialized %s", proxy, app, condition(p, v1.PodInitialized))
	}
	if !app.State.Running.StartedAt.After(proxy.State.Running.StartedAt.Time) && !app.State.Running.StartedAt.Equal(&proxy.State.Running.StartedAt) {
		t.Errorf("the app started at %s, before its sidecar (%s)", app.State.Running.StartedAt, proxy.State.Running.StartedAt)
	}

	h.deleteGracefully("side", 10)
	h.waitFor("pod deleted by the kubelet", 15*time.Second, func() bool { return h.gone("side") })
	b, _ := os.ReadFile(filepath.Join(podDir, "events.txt"))
	lines := strings.Fields(strings.ReplaceAll(string(b), "sigterm ", "sigterm-"))
	at := func(s string) int { return slices.Index(lines, s) }
	if len(lines) != 4 || at("prestop-proxy") < 0 || at("prestop-app") < 0 || at("sigterm-app") < 2 || at("sigterm-proxy") != 3 {
		t.Errorf("events.txt %q: want both preStops, then SIGTERM to the app, then to the sidecar", lines)
	}
	last := h.lastStatus("side")
	if last.Status.Phase != v1.PodSucceeded || len(last.Status.InitContainerStatuses) != 1 || last.Status.InitContainerStatuses[0].State.Terminated == nil {
		t.Errorf("final status: phase %s, init statuses %+v", last.Status.Phase, last.Status.InitContainerStatuses)
	}
}
