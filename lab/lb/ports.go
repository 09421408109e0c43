package lb

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// servicePort returns the port of svc that a front serves: the one named
// name, or with name empty the first TCP port. Both fronts (the balancer
// and the ClusterIP forwarder) pick it this way.
func servicePort(svc *corev1.Service, name string) (corev1.ServicePort, error) {
	for _, p := range svc.Spec.Ports {
		if !isTCP(p.Protocol) {
			continue
		}
		if name == "" || p.Name == name {
			return p, nil
		}
	}
	if name != "" {
		return corev1.ServicePort{}, fmt.Errorf("Service %s/%s has no TCP port named %q", svc.Namespace, svc.Name, name)
	}
	return corev1.ServicePort{}, fmt.Errorf("Service %s/%s has no TCP port", svc.Namespace, svc.Name)
}

func isTCP(p corev1.Protocol) bool { return p == "" || p == corev1.ProtocolTCP }

// slicePort returns the port of slice s that carries the Service port named
// name, as kube-proxy matches them: the EndpointSlice controller names each
// slice port after its Service port and gives it the targetPort resolved
// for the slice's pods. ok is false when the slice has no such port.
func slicePort(s *discoveryv1.EndpointSlice, name string) (port int, ok bool) {
	for _, p := range s.Ports {
		pn := ""
		if p.Name != nil {
			pn = *p.Name
		}
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if pn == name && isTCP(proto) && p.Port != nil {
			return int(*p.Port), true
		}
	}
	return 0, false
}
