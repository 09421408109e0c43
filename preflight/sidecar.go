package preflight

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/rollcheck/rollcheck/workload"
)

// RuleProxySidecarNotNative: a proxy that runs beside the app as a
// regular container, with no preStop.
const RuleProxySidecarNotNative = "proxy-sidecar-not-native"

// knownProxies are proxies that run as sidecars, by the name their
// container or image goes by, and what to call them.
var knownProxies = []struct{ key, name string }{
	{"istio-proxy", "Istio's Envoy (istio-proxy)"},
	{"envoy", "Envoy"},
	{"linkerd-proxy", "linkerd-proxy"},
	{"cloud-sql-proxy", "the Cloud SQL Auth Proxy"},
	{"cloudsql-proxy", "the Cloud SQL Auth Proxy"},
	{"nginx", "nginx"},
	{"haproxy", "HAProxy"},
	{"traefik", "Traefik"},
}

// proxyOf names the proxy c runs ("" when none is known): by the
// container's name, or by its image's last path element (tag and digest
// cut off), either equal to a proxy's key or starting with it and a dash
// ("nginx-unprivileged", "envoy-distroless").
func proxyOf(c *corev1.Container) string {
	img := c.Image
	if i := strings.LastIndex(img, "/"); i >= 0 {
		img = img[i+1:]
	}
	img, _, _ = strings.Cut(img, "@")
	img, _, _ = strings.Cut(img, ":")
	for _, n := range []string{strings.ToLower(c.Name), strings.ToLower(img)} {
		for _, p := range knownProxies {
			if n == p.key || strings.HasPrefix(n, p.key+"-") {
				return p.name
			}
		}
	}
	return ""
}

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
		proxy := proxyOf(c)
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
