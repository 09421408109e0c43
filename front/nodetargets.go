package front

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The AWS Load Balancer Controller's health-check annotations, read from
// the Service (where the controller takes them over the Ingress's).
const (
	albHealthCheckPath      = albPrefix + "healthcheck-path"
	albHealthCheckPort      = albPrefix + "healthcheck-port"
	albHealthCheckProtocol  = albPrefix + "healthcheck-protocol"
	albHealthCheckInterval  = albPrefix + "healthcheck-interval-seconds"
	albHealthCheckTimeout   = albPrefix + "healthcheck-timeout-seconds"
	albUnhealthyThreshold   = albPrefix + "unhealthy-threshold-count"
	defaultHealthInterval   = 15 * time.Second
	defaultHealthTimeout    = 5 * time.Second
	defaultUnhealthyChecks  = 2
	defaultHealthCheckPath  = "/"
	defaultHealthCheckPort  = "traffic-port"
	defaultHealthCheckProto = "HTTP"
)

// NodeTargets is a Service behind a balancer whose targets are the nodes
// (an ALB in instance mode) when its externalTrafficPolicy is Local: each
// node forwards only to its own pods, and drops what comes once none
// serves, until the balancer's health check takes the node out.
type NodeTargets struct {
	Service string
	// HealthCheckNodePort is the Service's (0: none).
	HealthCheckNodePort  int32
	Path, Port, Protocol string
	Interval, Timeout    time.Duration
	Unhealthy            int
}

// AsksKubeProxy says whether the health check asks kube-proxy's
// healthCheckNodePort over HTTP, which answers 503 as soon as the node has
// no ready pod of the Service.
func (n NodeTargets) AsksKubeProxy() bool {
	return n.HealthCheckNodePort != 0 && n.Port == strconv.Itoa(int(n.HealthCheckNodePort)) && strings.EqualFold(n.Protocol, "HTTP")
}

// TakeOut is the longest a node that starts failing the health check
// stays a target: the unhealthy threshold's checks, an interval apart, the
// last waiting its timeout.
func (n NodeTargets) TakeOut() time.Duration {
	return time.Duration(n.Unhealthy)*n.Interval + n.Timeout
}

// Describe is the health check in a few words.
func (n NodeTargets) Describe() string {
	return fmt.Sprintf("%s %s %s, every %s, timeout %s, %d failures", n.Protocol, n.Port, n.Path, secs(n.Interval), secs(n.Timeout), n.Unhealthy)
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s" }

// ReadNodeTargets reads the first of services (in namespace) whose
// externalTrafficPolicy is Local, with its health check as the controller
// reads it from the Service's annotations (an ALB target group's defaults
// where none is set). Nil when none is Local; a Service that is gone or
// that RBAC hides is skipped.
func ReadNodeTargets(ctx context.Context, kube kubernetes.Interface, namespace string, services []string) (*NodeTargets, error) {
	for _, name := range services {
		s, err := kube.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || apierrors.IsForbidden(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("reading service %s/%s: %w", namespace, name, err)
		}
		if s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
			continue
		}
		nt := NodeTargetsOf(s)
		return &nt, nil
	}
	return nil, nil
}

// NodeTargetsOf reads s's health check.
func NodeTargetsOf(s *corev1.Service) NodeTargets {
	a := s.Annotations
	text := func(key, def string) string {
		if v := strings.TrimSpace(a[key]); v != "" {
			return v
		}
		return def
	}
	count := func(key string, def int) int {
		if n, err := strconv.Atoi(strings.TrimSpace(a[key])); err == nil && n >= 1 {
			return n
		}
		return def
	}
	seconds := func(key string, def time.Duration) time.Duration {
		if n := count(key, 0); n > 0 {
			return time.Duration(n) * time.Second
		}
		return def
	}
	return NodeTargets{
		Service:             s.Name,
		HealthCheckNodePort: s.Spec.HealthCheckNodePort,
		Path:                text(albHealthCheckPath, defaultHealthCheckPath),
		Port:                strings.ToLower(text(albHealthCheckPort, defaultHealthCheckPort)),
		Protocol:            strings.ToUpper(text(albHealthCheckProtocol, defaultHealthCheckProto)),
		Interval:            seconds(albHealthCheckInterval, defaultHealthInterval),
		Timeout:             seconds(albHealthCheckTimeout, defaultHealthTimeout),
		Unhealthy:           count(albUnhealthyThreshold, defaultUnhealthyChecks),
	}
}
