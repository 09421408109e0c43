package preflight

import (
	"fmt"

	"github.com/rollcheck/rollcheck/workload"
)

// RuleProxySidecarNotNative: a proxy that runs beside the app as a
// regular container, with no preStop.
const RuleProxySidecarNotNative = "proxy-sidecar-not-native"

// checkProxySidecar: Kubernetes sends SIGTERM to every regular container
// of a pod at once, so a proxy beside the app as a regular container stops
// (or stops accepting) while the app still drains and the front still
// routes to the pod; at start-up nothing orders it before the app either.
// A native sidecar (an init container with restartPolicy: Always, on by
// default from Kubernetes 1.29, KEP-753) starts before the app containers
// and stops after them. A preStop on the proxy that outlasts the app's
// drain is the other way to keep it serving.
func checkProxySidecar(t *target) []Finding {
	if t.pod == nil || len(t.pod.Containers) < 2 {
		return nil
	}
	var out []Finding
	for i := range t.pod.Containers {
		c := &t.pod.Containers[i]
		proxy := workload.ProxyOf(c)
		if proxy == "" || (c.Lifecycle != nil && c.Lifecycle.PreStop != nil) {
			continue
		}
		sev, traffic := Warning, ""
		if len(t.services) > 0 {
			sev, traffic = Error, " and the front still sends requests to the pod"
		}
		out = append(out, t.finding(RuleProxySidecarNotNative, sev, t.obj, workload.ContainerPath(c.Name, ""),
			fmt.Sprintf("%s as a regular container (image %s), no preStop", proxy, c.Image),
			"a native sidecar: the same container under spec.template.spec.initContainers with restartPolicy: Always (Kubernetes 1.29+), or a preStop sleep on it longer than the app's drain",
			fmt.Sprintf("The kubelet sends SIGTERM to every regular container of the pod at the same moment, so %s stops, or stops accepting, while the app is still draining%s; at start-up nothing orders it before the app either. A native sidecar starts before the app containers and stops only after they have exited (kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/).", proxy, traffic)))
	}
	return out
}
