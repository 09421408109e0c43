package front

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func service(name string, mut func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20"}},
	}
	if mut != nil {
		mut(s)
	}
	return s
}

func ingress(name, class, host, svc string, ann map[string]string) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Annotations: ann}}
	if class != "" {
		ing.Spec.IngressClassName = &class
	}
	ing.Spec.Rules = []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
		Paths: []networkingv1.HTTPIngressPath{{Path: "/", Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}}}},
	}}}}
	return ing
}

func routeObject(name, svc string, hostnames ...string) *unstructured.Unstructured {
	spec := map[string]any{"rules": []any{map[string]any{
		"backendRefs": []any{map[string]any{"name": svc, "port": int64(80)}},
	}}}
	if len(hostnames) > 0 {
		hs := make([]any, len(hostnames))
		for i, h := range hostnames {
			hs[i] = h
		}
		spec["hostnames"] = hs
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1",
		"kind":       "HTTPRoute",
		"metadata":   map[string]any{"name": name, "namespace": "shop"},
		"spec":       spec,
	}}
}

func dynamicClient(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{HTTPRoutes: "HTTPRouteList"}, objs...)
}

func TestInfer(t *testing.T) {
	lab := service("web", func(s *corev1.Service) {
		s.Annotations = map[string]string{"lab.rollcheck.dev/lb-deregister-lag": "2s"}
	})
	nlb := service("web", func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Annotations = map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "external"}
	})
	plain := service("web", nil)
	tests := []struct {
		name    string
		objs    []runtime.Object
		routes  []runtime.Object
		req     Request
		want    Name
		wantWhy string
	}{
		{
			name:    "a Service with the lab's lag annotation is the lab's ALB-like balancer",
			objs:    []runtime.Object{lab},
			req:     Request{Targets: []string{"http://127.0.0.1:8080/"}},
			want:    ALB,
			wantWhy: "Service web has lab.rollcheck.dev/lb-deregister-lag: the lab's ALB-like balancer",
		},
		{
			name:    "a target at the ClusterIP is kube-proxy even when the Service has the lab's balancer",
			objs:    []runtime.Object{lab},
			req:     Request{Targets: []string{"http://10.96.0.20/"}, Attackers: true},
			want:    KubeProxy,
			wantWhy: "ClusterIP of Service web",
		},
		{
			name:    "the lab's balancer and a host-less Ingress to the same Service: alb, saying the Ingress could be the front",
			objs:    []runtime.Object{lab, ingress("demo", "traefik", "", "web", nil)},
			req:     Request{Targets: []string{"http://127.0.0.1:8080/"}},
			want:    ALB,
			wantWhy: "; Ingress demo also routes host * to it: give --front ingress if the load goes through it",
		},
		{
			name:    "the lab's balancer and an HTTPRoute naming the Host header's host: gateway, as the host picks the route",
			objs:    []runtime.Object{lab, ingress("demo", "traefik", "", "web", nil)},
			routes:  []runtime.Object{routeObject("web", "web", "demo.rollcheck-lab.test")},
			req:     Request{Targets: []string{"http://127.0.0.1:8081/"}, HostHeader: "demo.rollcheck-lab.test"},
			want:    Gateway,
			wantWhy: "HTTPRoute web routes host demo.rollcheck-lab.test to the Service: a Gateway API front",
		},
		{
			name:    "the lab's balancer and an HTTPRoute for another host: alb, saying the HTTPRoute could be the front",
			objs:    []runtime.Object{lab},
			routes:  []runtime.Object{routeObject("web", "web", "demo.rollcheck-lab.test")},
			req:     Request{Targets: []string{"http://127.0.0.1:8080/"}},
			want:    ALB,
			wantWhy: "; HTTPRoute web also routes to it: give --front gateway if the load goes through it",
		},
		{
			name:    "the lab's balancer and an Ingress naming the target's host: ingress",
			objs:    []runtime.Object{lab, ingress("demo", "traefik", "demo.rollcheck-lab.test", "web", nil)},
			req:     Request{Targets: []string{"http://127.0.0.1:8080/"}, HostHeader: "demo.rollcheck-lab.test"},
			want:    Ingress,
			wantWhy: "Ingress demo (class traefik) routes host demo.rollcheck-lab.test to the Service: the host the load asks for picks the route",
		},
		{
			name:    "an ALB Ingress naming the target's host stays an ALB, in instance mode when nothing sets the target type",
			objs:    []runtime.Object{lab, ingress("demo", "alb", "web.example.com", "web", nil)},
			req:     Request{Targets: []string{"https://web.example.com/"}},
			want:    ALBInstance,
			wantWhy: "Ingress demo of class alb routes to the Service: the AWS Load Balancer Controller; no target type set, so instance, the controller's default",
		},
		{
			name: "the lab's balancer on a Service of target type instance is the ALB in instance mode",
			objs: []runtime.Object{service("web", func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Annotations = map[string]string{"lab.rollcheck.dev/lb-deregister-lag": "2s", "alb.ingress.kubernetes.io/target-type": "instance"}
			})},
			req:     Request{Targets: []string{"http://127.0.0.1:8080/"}},
			want:    ALBInstance,
			wantWhy: "the lab's ALB-like balancer in instance mode (alb.ingress.kubernetes.io/target-type: instance)",
		},
		{
			name: "the Service's target type wins over the Ingress's, as the controller reads them",
			objs: []runtime.Object{
				service("web", func(s *corev1.Service) {
					s.Annotations = map[string]string{"alb.ingress.kubernetes.io/target-type": "ip"}
				}),
				ingress("web", "alb", "web.example.com", "web", map[string]string{"alb.ingress.kubernetes.io/target-type": "instance"}),
			},
			req:     Request{Targets: []string{"https://web.example.com/"}},
			want:    ALB,
			wantWhy: "target type ip (Service web): the pods are its targets",
		},
		{
			name:    "an ALB Ingress of target type instance",
			objs:    []runtime.Object{plain, ingress("web", "alb", "web.example.com", "web", map[string]string{"alb.ingress.kubernetes.io/target-type": "Instance"})},
			req:     Request{Targets: []string{"https://web.example.com/"}},
			want:    ALBInstance,
			wantWhy: "target type instance (Ingress web)",
		},
		{
			name:    "an HTTPRoute's wildcard hostname matches a host of more labels, not the bare suffix",
			objs:    []runtime.Object{nlb},
			routes:  []runtime.Object{routeObject("web", "web", "*.example.com")},
			req:     Request{Targets: []string{"https://a.b.example.com/"}},
			want:    Gateway,
			wantWhy: "HTTPRoute web routes host *.example.com",
		},
		{
			name:    "an HTTPRoute whose wildcard does not match leaves the NLB",
			objs:    []runtime.Object{nlb},
			routes:  []runtime.Object{routeObject("web", "web", "*.example.com")},
			req:     Request{Targets: []string{"https://example.com/"}},
			want:    NLB,
			wantWhy: "aws-load-balancer-type: external",
		},
		{
			name:    "a LoadBalancer Service of aws-load-balancer-type external is an NLB",
			objs:    []runtime.Object{nlb},
			req:     Request{Targets: []string{"http://lb.example.com/"}},
			want:    NLB,
			wantWhy: "aws-load-balancer-type: external",
		},
		{
			name:    "an Ingress of class alb for the Service is an ALB",
			objs:    []runtime.Object{plain, ingress("web", "alb", "web.example.com", "web", nil)},
			req:     Request{Targets: []string{"https://other.example.com/"}},
			want:    ALBInstance,
			wantWhy: "Ingress web of class alb",
		},
		{
			name:    "an Ingress with alb.ingress.kubernetes.io annotations is an ALB",
			objs:    []runtime.Object{plain, ingress("web", "", "", "web", map[string]string{"alb.ingress.kubernetes.io/target-type": "ip"})},
			req:     Request{Targets: []string{"https://web.example.com/"}},
			want:    ALB,
			wantWhy: "alb.ingress.kubernetes.io/* annotations: the AWS Load Balancer Controller; target type ip (Ingress web)",
		},
		{
			name:    "an Ingress routing the target's host to the Service is an ingress front, with its class",
			objs:    []runtime.Object{plain, ingress("web", "traefik", "web.example.com", "web", nil)},
			req:     Request{Targets: []string{"http://web.example.com/healthz"}},
			want:    Ingress,
			wantWhy: "Ingress web (class traefik) routes host web.example.com to the Service",
		},
		{
			name:    "an Ingress routing the Host header's host counts when the URL is an address",
			objs:    []runtime.Object{plain, ingress("web", "nginx", "web.example.com", "web", nil)},
			req:     Request{Targets: []string{"http://127.0.0.1:8000/"}, HostHeader: "web.example.com:8000"},
			want:    Ingress,
			wantWhy: "class nginx",
		},
		{
			name:    "an Ingress for another host is not the front",
			objs:    []runtime.Object{plain, ingress("web", "nginx", "web.example.com", "web", nil)},
			req:     Request{Targets: []string{"http://api.example.com/"}},
			want:    Unknown,
			wantWhy: "give --front",
		},
		{
			name:    "an HTTPRoute whose backendRefs name the Service is a gateway front",
			objs:    []runtime.Object{plain},
			routes:  []runtime.Object{routeObject("other", "api"), routeObject("web", "web")},
			req:     Request{Targets: []string{"http://web.example.com/"}},
			want:    Gateway,
			wantWhy: "HTTPRoute web sends to the Service",
		},
		{
			name:    "a target at the Service's ClusterIP is kube-proxy",
			objs:    []runtime.Object{plain},
			req:     Request{Targets: []string{"http://10.96.0.20/"}, Attackers: true},
			want:    KubeProxy,
			wantWhy: "an in-cluster client to the ClusterIP of Service web: kube-proxy",
		},
		{
			name:    "a target at the Service's DNS name from attacker pods is kube-proxy",
			objs:    []runtime.Object{plain},
			req:     Request{Targets: []string{"http://web.shop.svc.cluster.local:80/"}, Attackers: true},
			want:    KubeProxy,
			wantWhy: "Service name web.shop.svc.cluster.local",
		},
		{
			name:    "a bare Service name without attackers is not taken for kube-proxy",
			objs:    []runtime.Object{plain},
			req:     Request{Targets: []string{"http://web/"}},
			want:    Unknown,
			wantWhy: "could not tell from the Service, Ingresses and HTTPRoutes: give --front",
		},
		{
			name:    "a plain Service behind an outside URL is unknown",
			objs:    []runtime.Object{plain},
			req:     Request{Targets: []string{"https://web.example.com/"}},
			want:    Unknown,
			wantWhy: "could not tell from the Service, Ingresses and HTTPRoutes: give --front",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Namespace = "shop"
			tt.req.Services = []string{"web"}
			got, why, err := Infer(context.Background(), fake.NewClientset(tt.objs...), dynamicClient(tt.routes...), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || !strings.Contains(why, tt.wantWhy) {
				t.Errorf("Infer = %q, %q; want %q with %q", got, why, tt.want, tt.wantWhy)
			}
		})
	}
}

func TestInferSkipsForbiddenLists(t *testing.T) {
	c := fake.NewClientset(service("web", nil))
	c.PrependReactor("list", "ingresses", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"}, "", nil)
	})
	dyn := dynamicClient()
	dyn.PrependReactor("list", "httproutes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "gateway.networking.k8s.io", Resource: "httproutes"}, "", nil)
	})
	got, why, err := Infer(context.Background(), c, dyn, Request{Namespace: "shop", Services: []string{"web"}, Targets: []string{"https://web.example.com/"}})
	if err != nil {
		t.Fatalf("a forbidden list is not an error, got %v", err)
	}
	if got != Unknown || why != "could not tell from the Service, Ingresses and HTTPRoutes: give --front (not allowed to list ingresses, httproutes)" {
		t.Errorf("Infer = %q, %q; want unknown naming the lists skipped", got, why)
	}
}

func TestInferWithoutGatewayAPI(t *testing.T) {
	// A cluster without the Gateway API's CRDs answers a list of
	// HTTPRoutes with not found.
	dyn := dynamicClient()
	dyn.PrependReactor("list", "httproutes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "gateway.networking.k8s.io", Resource: "httproutes"}, "")
	})
	got, _, err := Infer(context.Background(), fake.NewClientset(service("web", nil)), dyn, Request{Namespace: "shop", Services: []string{"web"}, Targets: []string{"https://web.example.com/"}})
	if err != nil || got != Unknown {
		t.Errorf("Infer = %q, %v; want unknown and no error", got, err)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Name{"": Auto, "auto": Auto, "ALB": ALB, "alb-instance": ALBInstance, "kube-proxy": KubeProxy, "gateway": Gateway} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Parse("bogus"); err == nil || !strings.Contains(err.Error(), "kube-proxy") {
		t.Errorf("Parse(bogus) = %v; want an error naming the values", err)
	}
}
