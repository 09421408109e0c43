package workload

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestKindIsSpelledOnce(t *testing.T) {
	for _, tt := range []struct {
		in                   string
		want                 Kind
		title, resource, ref string
	}{
		{"deploy", KindDeployment, "Deployment", "deployments", "deployment/web"},
		{"StatefulSets.apps", KindStatefulSet, "StatefulSet", "statefulsets", "statefulset/web"},
		{"ds", KindDaemonSet, "DaemonSet", "daemonsets", "daemonset/web"},
	} {
		k, ok := ParseKind(tt.in)
		if !ok || k != tt.want || k.Title() != tt.title || k.Resource() != tt.resource || k.Ref("web") != tt.ref {
			t.Errorf("%q reads as %q (%v): %s %s %s", tt.in, k, ok, k.Title(), k.Resource(), k.Ref("web"))
		}
	}
	if k, ok := ParseKind("cronjob"); ok {
		t.Errorf("cronjob reads as %q", k)
	}
	if k := Kind(""); k.Title() != "Deployment" || k.Ref("web") != "deployment/web" {
		t.Errorf("an unset kind is %s %s, want a Deployment", k.Title(), k.Ref("web"))
	}
}

func TestListensWhenReadyAsksEveryServingContainer(t *testing.T) {
	http := corev1.ContainerPort{Name: "http", ContainerPort: 8080}
	onHTTP := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}}
	grpc := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 8080}}}
	for _, tt := range []struct {
		name       string
		containers []corev1.Container
		want       bool
	}{
		{"an app probed on its port beside a sidecar without ports", []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{http}, ReadinessProbe: onHTTP}, {Name: "proxy"}}, true},
		{"a grpc probe on the declared port", []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{http}, ReadinessProbe: grpc}}, true},
		{"two serving containers, one without a probe", []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{http}, ReadinessProbe: onHTTP}, {Name: "admin", Ports: []corev1.ContainerPort{{ContainerPort: 9090}}}}, false},
		{"a named probe port the container does not declare", []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}, ReadinessProbe: onHTTP}}, false},
		{"no container", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, w := range []Deployment{
				Read(&appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: tt.containers}}}}),
				ReadStatefulSet(&appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: tt.containers}}}}),
				ReadDaemonSet(&appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: tt.containers}}}}),
			} {
				if got := w.ListensWhenReady(); got != tt.want {
					t.Errorf("a %s: %v, want %v (not listening: %+v)", w.Kind.Title(), got, tt.want, w.NotListening())
				}
			}
		})
	}
}
