package workload

import corev1 "k8s.io/api/core/v1"

// ListensWhenReady reports whether a new pod of d is Ready only once it
// listens: d has a container, and every container that takes traffic
// (Serving) listens when Ready (Container.ListensWhenReady). Lint's
// no-readiness-probe rule and the diagnosis both take this answer, so a
// workload lint passes is one whose new pods the diagnosis trusts to
// listen when Ready, and one lint flags is one it does not.
func (d Deployment) ListensWhenReady() bool {
	return len(d.Containers) > 0 && len(d.NotListening()) == 0
}

// NotListening returns the containers that take traffic (Serving) and may
// be Ready before they listen: no readiness probe, or one that checks no
// port the container declares.
func (d Deployment) NotListening() []Container {
	var out []Container
	for _, c := range d.Serving() {
		if !c.ListensWhenReady {
			out = append(out, c)
		}
	}
	return out
}

// probesDeclaredPort reports whether p connects to one of ports: an
// httpGet or tcpSocket port by number or by name, a grpc port by number.
func probesDeclaredPort(p *corev1.Probe, ports []corev1.ContainerPort) bool {
	if p == nil {
		return false
	}
	var (
		port  int32
		named string
	)
	switch {
	case p.HTTPGet != nil:
		port, named = p.HTTPGet.Port.IntVal, p.HTTPGet.Port.StrVal
	case p.TCPSocket != nil:
		port, named = p.TCPSocket.Port.IntVal, p.TCPSocket.Port.StrVal
	case p.GRPC != nil:
		port = p.GRPC.Port
	default:
		return false
	}
	for _, cp := range ports {
		if named != "" && cp.Name == named || named == "" && cp.ContainerPort == port {
			return true
		}
	}
	return false
}
