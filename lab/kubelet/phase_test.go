package kubelet

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

// TestExitedPodsThatWillNotRestartReportTheirEnd: as a real kubelet, a pod
// whose containers all exited and will not be restarted is Succeeded (all
// exit 0) or Failed, while the pod object stays (a Job's pod, an attacker);
// a pod whose container will restart is not.
func TestExitedPodsThatWillNotRestartReportTheirEnd(t *testing.T) {
	tests := []struct {
		name   string
		policy v1.RestartPolicy
		code   string
		want   v1.PodPhase
	}{
		{"Never and exit 0 is Succeeded", v1.RestartPolicyNever, "0", v1.PodSucceeded},
		{"Never and exit 3 is Failed", v1.RestartPolicyNever, "3", v1.PodFailed},
		{"OnFailure and exit 0 is Succeeded", v1.RestartPolicyOnFailure, "0", v1.PodSucceeded},
	}
	h := newHarness(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "exit-" + string(tt.policy) + "-" + tt.code
			name = map[string]string{"exit-Never-0": "never-ok", "exit-Never-3": "never-fail", "exit-OnFailure-0": "onfailure-ok"}[name]
			h.create(testPod(name, nil, func(p *v1.Pod) {
				p.Spec.RestartPolicy = tt.policy
				c := &p.Spec.Containers[0]
				c.ReadinessProbe, c.Ports = nil, nil
				c.Env = []v1.EnvVar{{Name: "LAB_HELPER", Value: "exit"}, {Name: "EXIT_CODE", Value: tt.code}}
			}))
			p := h.waitPod(name, string(tt.want), func(p *v1.Pod) bool { return p.Status.Phase == tt.want })
			if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil {
				t.Errorf("phase %s but the container is %+v", p.Status.Phase, p.Status.ContainerStatuses[0].State)
			}
		})
	}
	t.Run("Always restarts and stays Running", func(t *testing.T) {
		h.create(testPod("always", nil, func(p *v1.Pod) {
			c := &p.Spec.Containers[0]
			c.ReadinessProbe, c.Ports = nil, nil
			c.Env = []v1.EnvVar{{Name: "LAB_HELPER", Value: "exit"}, {Name: "EXIT_CODE", Value: "0"}}
		}))
		p := h.waitPod("always", "a restart", func(p *v1.Pod) bool {
			return len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].RestartCount > 0
		})
		if p.Status.Phase != v1.PodRunning {
			t.Errorf("a restarting pod is %s", p.Status.Phase)
		}
	})
}
