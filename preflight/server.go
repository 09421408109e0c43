package preflight

import (
	"fmt"

	"github.com/rollcheck/rollcheck/workload"
)

// RuleServerStopsAtOnce: a container runs a server that SIGTERM stops at
// once (nginx, Apache httpd) and nothing stops it gracefully.
const RuleServerStopsAtOnce = "server-stops-at-once"

// checkServerStopsAtOnce: the kubelet stops a container with SIGTERM, the
// runtime's default stop signal, after its preStop. nginx takes SIGTERM as
// its fast shutdown and Apache httpd as "stop now": both close their
// connections at once and cut the requests in flight. SIGQUIT (nginx) and
// SIGWINCH (Apache) are their graceful stops; the AWS seed's fix is a
// preStop of `nginx -s quit`, and Kubernetes 1.33 added
// lifecycle.stopSignal (KEP-4960, feature gate ContainerStopSignals).
func checkServerStopsAtOnce(t *target) []Finding {
	var out []Finding
	for _, c := range t.w.Containers {
		if c.BySignal {
			out = append(out, stopSignalAlone(t, c))
			continue
		}
		if !c.StopsAtOnce {
			continue
		}
		sev, traffic := Warning, ""
		if len(t.services) > 0 {
			sev, traffic = Error, ", and every request still open on it fails"
		}
		s := c.Server
		out = append(out, t.finding(RuleServerStopsAtOnce, sev, t.obj, workload.ContainerPath(c.Name, "lifecycle"),
			fmt.Sprintf("%s (image %s) stopped by SIGTERM; preStop %s", s.Name, c.Spec.Image, c.PreStop.Text),
			fmt.Sprintf(`preStop exec ["sh", "-c", "sleep N; %s; sleep M"] (N: how long the front still routes to a terminating pod; M: the longest request), or lifecycle.stopSignal: %s with a preStop sleep (Kubernetes 1.33+, feature gate ContainerStopSignals)`, s.Quit, s.Graceful),
			fmt.Sprintf("The kubelet stops a container with SIGTERM after its preStop, and %s takes SIGTERM as a fast shutdown: it closes its connections at once%s. %s stops it gracefully, finishing the requests in flight (%s). The AWS EKS best practices (seed 000) give a preStop of /usr/sbin/nginx -s quit; lifecycle.stopSignal is in the Kubernetes docs' container lifecycle hooks (kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/).", s.Name, traffic, s.Graceful, s.Doc)))
	}
	return out
}

// stopSignalAlone: only lifecycle.stopSignal stops the server gracefully.
// The field is alpha through Kubernetes 1.35 (ContainerStopSignals, off by
// default): an API server without the gate drops it from the object, and a
// kubelet without it, or a runtime that does not implement it (Debian 12's
// containerd 1.6, measured on the lab's real node), stops the container
// with SIGTERM all the same. A warning: the files cannot tell which
// cluster they go to.
func stopSignalAlone(t *target, c workload.Container) Finding {
	s := c.Server
	return t.finding(RuleServerStopsAtOnce, Warning, t.obj, workload.ContainerPath(c.Name, "lifecycle"),
		fmt.Sprintf("%s (image %s) stopped gracefully only by lifecycle.stopSignal %s; preStop %s", s.Name, c.Spec.Image, s.Graceful, c.PreStop.Text),
		fmt.Sprintf(`keep the stopSignal and end the preStop with the graceful stop, which works on any cluster: exec ["sh", "-c", "sleep N; %s; sleep M"]`, s.Quit),
		fmt.Sprintf("lifecycle.stopSignal (KEP-4960) is alpha through Kubernetes 1.35 and off by default: an API server without the ContainerStopSignals gate drops the field, and a kubelet without it, or a runtime that does not implement it, sends SIGTERM, %s's fast shutdown, all the same (kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/; %s). Where the kubelet applies it, it reports the signal in status.containerStatuses[].stopSignal, and `rollcheck run` says when it did not.", s.Name, s.Doc))
}
