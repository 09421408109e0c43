package front

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// A Service with externalTrafficPolicy Local behind node targets: its
// health check as the AWS Load Balancer Controller reads the annotations,
// with a target group's defaults; a Cluster one is none of it.
func TestReadNodeTargets(t *testing.T) {
	svc := func(name string, policy corev1.ServiceExternalTrafficPolicy, ann map[string]string, hcnp int32) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Annotations: ann},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: policy, HealthCheckNodePort: hcnp}}
	}
	kube := fake.NewClientset(
		svc("cluster", corev1.ServiceExternalTrafficPolicyCluster, nil, 0),
		svc("defaults", corev1.ServiceExternalTrafficPolicyLocal, nil, 31000),
		svc("asks", corev1.ServiceExternalTrafficPolicyLocal, map[string]string{
			"alb.ingress.kubernetes.io/healthcheck-port":             "31001",
			"alb.ingress.kubernetes.io/healthcheck-path":             "/healthz",
			"alb.ingress.kubernetes.io/healthcheck-interval-seconds": "5",
			"alb.ingress.kubernetes.io/healthcheck-timeout-seconds":  "2",
			"alb.ingress.kubernetes.io/unhealthy-threshold-count":    "3",
		}, 31001),
	)
	ctx := context.Background()
	if nt, err := ReadNodeTargets(ctx, kube, "shop", []string{"cluster", "missing"}); err != nil || nt != nil {
		t.Errorf("Cluster and a missing Service: %+v, %v; want none", nt, err)
	}
	nt, err := ReadNodeTargets(ctx, kube, "shop", []string{"cluster", "defaults"})
	if err != nil || nt == nil {
		t.Fatalf("%+v, %v", nt, err)
	}
	if nt.Service != "defaults" || nt.AsksKubeProxy() || nt.TakeOut() != 35*time.Second || nt.Describe() != "HTTP traffic-port /, every 15 s, timeout 5 s, 2 failures" {
		t.Errorf("defaults: %+v (%s, take-out %s)", nt, nt.Describe(), nt.TakeOut())
	}
	nt, _ = ReadNodeTargets(ctx, kube, "shop", []string{"asks"})
	if nt == nil || !nt.AsksKubeProxy() || nt.TakeOut() != 17*time.Second || nt.Describe() != "HTTP 31001 /healthz, every 5 s, timeout 2 s, 3 failures" {
		t.Errorf("asks kube-proxy: %+v", nt)
	}
}
