package workload

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func ptr[T any](v T) *T { return &v }

func exec(cmd ...string) *corev1.LifecycleHandler {
	return &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}}
}

func TestReadPreStopReadsTheCommonForms(t *testing.T) {
	tests := []struct {
		name  string
		h     *corev1.LifecycleHandler
		want  time.Duration
		known bool
		text  string
	}{
		{"the sleep action", &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 7}}, 7 * time.Second, true, "sleep 7"},
		{"exec sleep N", exec("sleep", "15"), 15 * time.Second, true, "exec: sleep 15"},
		{"exec /bin/sleep N", exec("/bin/sleep", "15"), 15 * time.Second, true, "exec: /bin/sleep 15"},
		{"exec sleep with a unit", exec("sleep", "1m"), time.Minute, true, "exec: sleep 1m"},
		{"sh -c sleep N", exec("sh", "-c", "sleep 15"), 15 * time.Second, true, "exec: sh -c sleep 15"},
		{"/bin/sh -c sleep 1m", exec("/bin/sh", "-c", "sleep 1m"), time.Minute, true, "exec: /bin/sh -c sleep 1m"},
		{"sh -c /bin/sleep 5s", exec("sh", "-c", "/bin/sleep 5s"), 5 * time.Second, true, "exec: sh -c /bin/sleep 5s"},
		{"a sleep within a script", exec("sh", "-c", "echo bye; sleep 1m && kill 1"), time.Minute, true, "exec: sh -c echo bye; sleep 1m && kill 1"},
		{"a fractional sleep", exec("sh", "-c", "sleep 2.5 && nginx -s quit"), 2500 * time.Millisecond, true, "exec: sh -c sleep 2.5 && nginx -s quit"},
		{"a command that does not sleep", exec("/usr/sbin/nginx", "-s", "quit"), 0, false, "exec: /usr/sbin/nginx -s quit (length unknown)"},
		{"a word that only ends in sleep", exec("sh", "-c", "nosleep 5"), 0, false, "exec: sh -c nosleep 5 (length unknown)"},
		{"sleep without a number", exec("sleep", "NaN"), 0, false, "exec: sleep NaN (length unknown)"},
		{"an httpGet", &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/drain"}}, 0, false, "httpGet /drain (length unknown)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ReadPreStop(tt.h)
			if !p.Set || p.Known != tt.known || p.Sleep != tt.want || p.Text != tt.text {
				t.Errorf("got %+v, want %s known=%v %q", p, tt.want, tt.known, tt.text)
			}
		})
	}
	if p := ReadPreStop(nil); p.Set || p.Known || p.Text != "none" {
		t.Errorf("no hook reads as %+v", p)
	}
}

func TestReadFillsTheAPIDefaults(t *testing.T) {
	w := Read(&appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}}})
	if w.Replicas != 1 || !w.ReplicasDefaulted || w.Grace != 30*time.Second || !w.GraceDefaulted || w.ProgressDeadline != 10*time.Minute || w.MinReady != 0 {
		t.Errorf("defaults: %+v", w)
	}
	s := w.Strategy
	if !s.Rolling() || s.MaxSurge.String() != "25%" || s.MaxSurgeSet || s.Surge != 1 || s.Unavailable != 0 || s.Invalid != nil {
		t.Errorf("default strategy: %+v", s)
	}
	if len(w.Containers) != 1 || w.Containers[0].PreStop.Set || w.Containers[0].Path("readinessProbe") != "spec.template.spec.containers[app].readinessProbe" {
		t.Errorf("containers: %+v", w.Containers)
	}
}

func TestStrategyResolvesAsTheController(t *testing.T) {
	for _, tt := range []struct {
		name                   string
		replicas               int32
		surge, unavail         intstr.IntOrString
		wantSurge, wantUnavail int
		invalid                bool
	}{
		{"a percentage of surge rounds up and of unavailable down", 3, intstr.FromString("50%"), intstr.FromString("50%"), 2, 1, false},
		{"integers are taken as they are", 4, intstr.FromInt32(1), intstr.FromInt32(0), 1, 0, false},
		{"a value that is no number is invalid", 2, intstr.FromString("one"), intstr.FromInt32(1), 0, 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr(tt.replicas), Strategy: appsv1.DeploymentStrategy{
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &tt.surge, MaxUnavailable: &tt.unavail}}}}
			s := Read(d).Strategy
			if s.Surge != tt.wantSurge || s.Unavailable != tt.wantUnavail || (s.Invalid != nil) != tt.invalid || !s.MaxSurgeSet || !s.MaxUnavailableSet {
				t.Errorf("got %+v", s)
			}
		})
	}
}

func TestServingPrefersContainersWithPorts(t *testing.T) {
	d := &appsv1.Deployment{}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "sidecar"}, {Name: "app", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}
	if s := Read(d).Serving(); len(s) != 1 || s[0].Name != "app" {
		t.Errorf("serving %+v, want app", s)
	}
	d.Spec.Template.Spec.Containers[1].Ports = nil
	if s := Read(d).Serving(); len(s) != 2 {
		t.Errorf("without ports serving %+v, want both", s)
	}
}
