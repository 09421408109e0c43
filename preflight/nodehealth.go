package preflight

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// RuleLocalNoNodeHealthCheck: an AWS load balancer in instance mode in
// front of a Service with externalTrafficPolicy Local, whose health check
// does not ask kube-proxy whether the node still has a ready pod.
const RuleLocalNoNodeHealthCheck = "local-traffic-without-node-health-check"

// Health-check annotations of the AWS Load Balancer Controller.
const (
	albHealthCheckPort     = "alb.ingress.kubernetes.io/healthcheck-port"
	albHealthCheckProtocol = "alb.ingress.kubernetes.io/healthcheck-protocol"
	nlbHealthCheckPort     = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-port"
	nlbHealthCheckProtocol = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol"
)

// nodeHealthCheck is where a front's target-group health check goes, and
// where that is set.
type nodeHealthCheck struct {
	port     string // "traffic-port", a number, or "" for the node health port
	protocol string // lower case: http, https, tcp
	obj      string // the object that sets the port (or would)
	path     string
	portSet  bool
	protoSet bool
}

// healthCheckOf reads f's health check the way the AWS Load Balancer
// Controller does. An ALB takes the Service's annotation over the
// Ingress's, and checks the traffic port over HTTP by default. An NLB with
// externalTrafficPolicy Local checks spec.healthCheckNodePort over HTTP by
// default (LBC docs/guide/service/annotations.md, "Health Check").
func healthCheckOf(f front) nodeHealthCheck {
	if f.kind == nlb {
		hc := nodeHealthCheck{protocol: "http", obj: f.obj, path: annPath(nlbHealthCheckPort)}
		if v, ok := f.svc.Annotations[nlbHealthCheckPort]; ok && strings.TrimSpace(v) != "" {
			hc.port, hc.portSet = strings.ToLower(strings.TrimSpace(v)), true
		}
		if v, ok := f.svc.Annotations[nlbHealthCheckProtocol]; ok && strings.TrimSpace(v) != "" {
			hc.protocol, hc.protoSet = strings.ToLower(strings.TrimSpace(v)), true
		}
		return hc
	}
	hc := nodeHealthCheck{port: "traffic-port", protocol: "http", obj: f.obj, path: annPath(albHealthCheckPort)}
	pick := func(key string) (string, string, bool) {
		if v, ok := f.svc.Annotations[key]; ok && strings.TrimSpace(v) != "" {
			return strings.ToLower(strings.TrimSpace(v)), "service/" + f.svc.Name, true
		}
		if f.ing != nil {
			if v, ok := f.ing.Annotations[key]; ok && strings.TrimSpace(v) != "" {
				return strings.ToLower(strings.TrimSpace(v)), f.obj, true
			}
		}
		return "", "", false
	}
	if v, obj, ok := pick(albHealthCheckPort); ok {
		hc.port, hc.obj, hc.portSet = v, obj, true
	}
	if v, _, ok := pick(albHealthCheckProtocol); ok {
		hc.protocol, hc.protoSet = v, true
	}
	return hc
}

// checkLocalWithoutNodeHealthCheck: in instance mode the balancer sends to
// every node's NodePort. With externalTrafficPolicy Local a node's
// kube-proxy forwards only to that node's own pods and drops the packets
// once none is left ("has no local endpoints"), so the balancer's
// connection times out (an ALB answers 504 after its 10 s connect
// timeout). kube-proxy answers on the Service's healthCheckNodePort with
// 503 as soon as the node has no ready local pod, while its terminating
// pods still serve (FACTS.md §3), which is the only health check that
// takes the node out before it drops traffic. The traffic port's check
// keeps passing while the pods terminate and starts failing only once they
// are gone, an unhealthy threshold of checks before the node leaves; a TCP
// check of the health port always connects.
func checkLocalWithoutNodeHealthCheck(t *target) []Finding {
	var out []Finding
	for _, f := range t.fronts {
		// The lab's ALB-like balancer in instance mode is one too.
		labInstance := f.kind == labLB && f.svc != nil && strings.EqualFold(strings.TrimSpace(f.svc.Annotations[albTargetType]), "instance")
		if (f.kind != alb && f.kind != nlb && !labInstance) || f.ip || f.svc == nil || f.svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
			continue
		}
		hc := healthCheckOf(f)
		nodePort := f.svc.Spec.HealthCheckNodePort
		lb := f.svc.Spec.Type == corev1.ServiceTypeLoadBalancer
		why := func(problem string) string {
			return fmt.Sprintf("In instance mode the %s (%s) sends to every node's NodePort, and with externalTrafficPolicy Local service/%s's kube-proxy on a node forwards only to that node's pods and drops the packets once the last one is gone (the %s's connection times out: 504). kube-proxy's healthCheckNodePort answers 503 as soon as the node has no ready pod, while its terminating pods still serve, so the balancer can take the node out first; %s.",
				f.kind, f.obj, f.svc.Name, f.kind, problem)
		}
		switch {
		case hc.protocol == "tcp":
			protoPath := annPath(nlbHealthCheckProtocol)
			if f.kind == alb {
				protoPath = annPath(albHealthCheckProtocol)
			}
			out = append(out, t.finding(RuleLocalNoNodeHealthCheck, Error, hc.obj, protoPath, "tcp",
				"http (the default with externalTrafficPolicy Local)",
				why("a TCP check only connects, and kube-proxy's health port accepts the connection whether or not the node has a pod")))
		case hc.port == "" || (nodePort != 0 && hc.port == strconv.Itoa(int(nodePort))):
			// The node health port: the NLB's default, or set to it.
		case !lb:
			out = append(out, t.finding(RuleLocalNoNodeHealthCheck, Error, "service/"+f.svc.Name, "spec.externalTrafficPolicy", "Local (type "+string(f.svc.Spec.Type)+": no healthCheckNodePort)",
				"Cluster, or target-type ip with the pod readiness gate",
				why(fmt.Sprintf("a Service of type %s has no healthCheckNodePort, so the health check (%s) starts failing only after the node's pods are gone, and the node gets traffic it drops until the unhealthy threshold is reached", f.svc.Spec.Type, hc.port))))
		default:
			want := "spec.healthCheckNodePort of service/" + f.svc.Name
			if nodePort != 0 {
				want = strconv.Itoa(int(nodePort)) + " (" + want + ")"
			}
			cur := hc.port
			if !hc.portSet {
				cur += " (default)"
			}
			out = append(out, t.finding(RuleLocalNoNodeHealthCheck, Error, hc.obj, hc.path, cur, want+", protocol HTTP",
				why("the check of "+hc.port+" starts failing only after the node's pods are gone, and the node gets traffic it drops until the unhealthy threshold is reached")))
		}
	}
	return out
}
