package preflight

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/rollcheck/rollcheck/workload"
)

// Rules that only fit one kind of workload.
const (
	RuleDaemonSetNoSurge         = "daemonset-no-surge"
	RuleOrderedReadyNoReadiness  = "statefulset-ordered-ready-no-readiness"
	daemonSetNoSurgeSummary      = "DaemonSet rolling update with maxSurge 0: each node's only pod stops before its replacement serves"
	orderedReadyNoReadinessShort = "StatefulSet with podManagementPolicy OrderedReady and a serving container without a readinessProbe"
)

// checkDaemonSetNoSurge: a DaemonSet runs one pod per node. With maxSurge 0
// its controller deletes a node's pod before it creates the new one, so for
// that node's whole update the Service has no endpoint on it: traffic kept
// on the node (externalTrafficPolicy or internalTrafficPolicy Local, a
// one-node cluster) has nowhere to go.
func checkDaemonSetNoSurge(t *target) []Finding {
	st := t.w.Strategy
	if t.w.Kind != workload.KindDaemonSet || !st.Rolling() || st.Invalid != nil || st.Surge > 0 || st.Unavailable == 0 || len(t.services) == 0 {
		return nil
	}
	sev, local := Warning, ""
	for _, s := range t.services {
		switch {
		case s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal:
			local = fmt.Sprintf("service/%s has externalTrafficPolicy Local", s.Name)
		case s.Spec.InternalTrafficPolicy != nil && *s.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal:
			local = fmt.Sprintf("service/%s has internalTrafficPolicy Local", s.Name)
		}
	}
	single := t.ds != nil && t.ds.Status.DesiredNumberScheduled == 1
	switch {
	case local != "":
		sev = Error
		local = "; " + local + ": traffic that reaches the node stays on the node, and fails there"
	case single:
		sev = Error
		local = "; it runs on 1 node: its pod is the Service's only endpoint, so the Service has none while it is replaced"
	}
	cur := st.MaxSurge.String()
	if !st.MaxSurgeSet {
		cur += " (default)"
	}
	suggested := "1, with maxUnavailable 0 (the new pod starts and turns Ready on the node before the old one stops)"
	if hostPort(t.pod) {
		suggested = "a surge is impossible with a hostPort (two pods cannot bind it on one node): take each node out of the load balancer before its pod is replaced, or drop the hostPort and use maxSurge 1, maxUnavailable 0"
	}
	return []Finding{t.finding(RuleDaemonSetNoSurge, sev, t.obj, t.w.StrategyField("rollingUpdate.maxSurge"), cur, suggested,
		fmt.Sprintf("With maxSurge 0 and maxUnavailable %s the DaemonSet controller deletes a node's pod before it creates the new one, so each node has no endpoint of the Service from the old pod's deletion until the new one is Ready%s.", st.MaxUnavailable.String(), local))}
}

func hostPort(pod *corev1.PodSpec) bool {
	for _, c := range pod.Containers {
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				return true
			}
		}
	}
	return false
}

// checkOrderedReadyNoReadiness: a StatefulSet's rolling update replaces one
// pod at a time, from the highest ordinal, and with OrderedReady moves on
// once the new pod is Ready. Without a readiness probe a pod is Ready as
// soon as its container starts: it takes traffic before it serves, and the
// next pod is stopped while this one cannot serve yet.
func checkOrderedReadyNoReadiness(t *target) []Finding {
	if t.w.Kind != workload.KindStatefulSet || t.w.PodManagementPolicy != appsv1.OrderedReadyPodManagement {
		return nil
	}
	var out []Finding
	for _, c := range t.w.Serving() {
		if c.Readiness != nil {
			continue
		}
		out = append(out, t.finding(RuleOrderedReadyNoReadiness, Error, t.obj, c.Path("readinessProbe"),
			"none (podManagementPolicy OrderedReady)",
			"an httpGet readinessProbe on a path that answers only once the app serves",
			"The StatefulSet controller replaces the next ordinal as soon as the new pod is Ready, and without a readiness probe a pod is Ready when its container starts: the Service sends it requests before it listens, and the next pod stops while this one cannot serve yet."))
	}
	return out
}
