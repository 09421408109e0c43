package check

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/preflight"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
	"github.com/rollcheck/rollcheck/workload"
)

// The three readers of a workload (lint, the diagnosis and the plan) take
// whether its pods listen when Ready and its progress deadline from the
// one workload model, so for one spec they give one answer, whatever the
// kind.
func TestLintDiagnosisAndPlanAgreeOnTheWorkload(t *testing.T) {
	declared := corev1.ContainerPort{Name: "http", ContainerPort: 8080}
	probe := func(h corev1.ProbeHandler) *corev1.Probe { return &corev1.Probe{ProbeHandler: h} }
	onPort := func(p intstr.IntOrString) *corev1.Probe {
		return probe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: p}})
	}
	pods := []struct {
		name      string
		ports     []corev1.ContainerPort
		readiness *corev1.Probe
		listens   bool
	}{
		{"a readiness probe on the declared port listens when Ready", []corev1.ContainerPort{declared}, onPort(intstr.FromInt32(8080)), true},
		{"a readiness probe on the declared port by name listens when Ready", []corev1.ContainerPort{declared}, onPort(intstr.FromString("http")), true},
		{"a tcpSocket readiness probe on the declared port listens when Ready", []corev1.ContainerPort{declared}, probe(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}), true},
		{"a readiness probe on a port the container does not declare does not", []corev1.ContainerPort{declared}, onPort(intstr.FromInt32(9090)), false},
		{"an exec readiness probe does not", []corev1.ContainerPort{declared}, probe(corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/ready"}}}), false},
		{"no readiness probe does not", []corev1.ContainerPort{declared}, nil, false},
		{"a readiness probe on a container that declares no port does not", nil, onPort(intstr.FromInt32(8080)), false},
	}
	lbls := map[string]string{"app": "web"}
	kinds := []struct {
		kind rollout.Kind
		obj  func() runtime.Object
		// deadline is the model's progress deadline, timeout the plan's
		// wait for the rollout.
		deadline, timeout time.Duration
	}{
		{rollout.KindDeployment, func() runtime.Object { return deploy("web", 2, lbls) }, 600 * time.Second, 630 * time.Second},
		{rollout.KindDeployment, func() runtime.Object {
			d := deploy("web", 2, lbls)
			d.Spec.ProgressDeadlineSeconds = new(int32)
			*d.Spec.ProgressDeadlineSeconds = 120
			return d
		}, 120 * time.Second, 150 * time.Second},
		{rollout.KindStatefulSet, func() runtime.Object { return sts("web", 2, lbls) }, 0, 630 * time.Second},
		{rollout.KindDaemonSet, func() runtime.Object { return daemon("web", 2, lbls) }, 0, 630 * time.Second},
	}
	for _, k := range kinds {
		for _, pod := range pods {
			t.Run(k.kind.Title()+": "+pod.name, func(t *testing.T) {
				obj := k.obj()
				c := &podTemplate(obj).Spec.Containers[0]
				c.Ports, c.ReadinessProbe = pod.ports, pod.readiness
				ctx := context.Background()
				cs := cluster(t, "", obj, service("web", lbls))
				cfg := config("http://127.0.0.1:1/")
				cfg.Kind, cfg.Action, cfg.RolloutTimeout = k.kind, rollout.Action{Kind: rollout.ActionRestart}, 0
				p, err := NewPlan(ctx, Clients{Kube: cs}, &cfg)
				if err != nil {
					t.Fatal(err)
				}
				settings := p.primarySettings()
				if settings.Kind != k.kind || settings.ProgressDeadline != k.deadline || p.timeout() != k.timeout {
					t.Errorf("the plan reads a %s with a progress deadline of %s and waits %s; want %s, %s and %s",
						settings.Kind, settings.ProgressDeadline, p.timeout(), k.kind, k.deadline, k.timeout)
				}

				in, _, err := preflight.FetchWorkload(ctx, cs, k.kind, "default", "web")
				if err != nil {
					t.Fatal(err)
				}
				var lint []preflight.Finding
				for _, f := range preflight.Check(in, preflight.Options{}) {
					if f.Rule == preflight.RuleNoReadinessProbe {
						lint = append(lint, f)
					}
				}
				if lintListens := len(lint) == 0; lintListens != pod.listens {
					t.Errorf("lint: listens when Ready %v (findings %+v), want %v", lintListens, lint, pod.listens)
				}

				if got := settings.ListensWhenReady(); got != pod.listens {
					t.Errorf("the model: listens when Ready %v, want %v", got, pod.listens)
				}
				r := report.Build(refusedAfterTheSwap(k.kind, settings))
				cause := r.Causes[0]
				diagnosisListens := cause.Code == report.TerminatingPodStillRouted && cause.Confidence == report.ConfidenceHigh && len(cause.Alternatives) == 0
				if diagnosisListens != pod.listens {
					t.Errorf("the diagnosis: listens when Ready %v (cause %s, confidence %s, alternatives %+v), want %v",
						diagnosisListens, cause.Code, cause.Confidence, cause.Alternatives, pod.listens)
				}
			})
		}
	}
}

func podTemplate(obj runtime.Object) *corev1.PodTemplateSpec {
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		return &o.Spec.Template
	case *appsv1.DaemonSet:
		return &o.Spec.Template
	}
	return &obj.(*appsv1.Deployment).Spec.Template
}

// refusedAfterTheSwap is a run whose refused connections fit two
// explanations, told apart only by whether the new pod listened when Ready:
// the new pod turns Ready at 11.5 s, the old one is deleted at 12 s and
// exits at once, and connections are refused from 12.15 s to 14 s with no
// pod named. If the new pod was Ready only once it listened, the refusals
// are the old pod's alone.
func refusedAfterTheSwap(kind workload.Kind, settings workload.Deployment) report.Input {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	yes, no := true, false
	grace, exit := 30*time.Second, int32(0)
	type ev = rollout.Event
	events := []ev{
		{Time: at(0), Type: rollout.PodReady, Pod: "web-old", Initial: true},
		{Time: at(0), Type: rollout.EndpointAdded, Service: "web", Pod: "web-old", IP: "10.0.0.1", Ready: &yes, Serving: &yes, Terminating: &no, Initial: true},
		{Time: at(10), Type: rollout.PodCreated, Pod: "web-new"},
		{Time: at(10.5), Type: rollout.ContainerStarted, Pod: "web-new", Container: "app"},
		{Time: at(11.5), Type: rollout.PodReady, Pod: "web-new"},
		{Time: at(11.52), Type: rollout.EndpointAdded, Service: "web", Pod: "web-new", IP: "10.0.0.2", Ready: &yes, Serving: &yes, Terminating: &no},
		{Time: at(12), Type: rollout.DeletionRequested, Pod: "web-old", GracePeriod: &grace},
		{Time: at(12.02), Type: rollout.EndpointChanged, Service: "web", Pod: "web-old", IP: "10.0.0.1", Ready: &no, Serving: &yes, Terminating: &yes},
		{Time: at(12.12), Type: rollout.ContainerExited, Pod: "web-old", Container: "app", ExitCode: &exit},
		{Time: at(12.2), Type: rollout.EndpointRemoved, Service: "web", Pod: "web-old", IP: "10.0.0.1"},
		{Time: at(12.21), Type: rollout.PodDeleted, Pod: "web-old"},
	}
	a := &attack.Result{Start: t0, End: at(30), Rate: 100, AchievedRate: 100, BucketWidth: time.Second,
		ByClass: map[attack.Class]int{}, FirstByPod: map[string]time.Time{}, LastByPod: map[string]time.Time{}}
	for s := range 30 {
		a.Buckets = append(a.Buckets, attack.Bucket{Start: at(float64(s)), Total: 100, OK: 100})
	}
	for ms := 12150; ms <= 14000; ms += 50 {
		b := &a.Buckets[ms/1000]
		b.OK--
		b.ByClass = map[attack.Class]int{attack.ClassRefused: b.Total - b.OK}
		a.FailureList = append(a.FailureList, attack.Failure{Time: at(float64(ms) / 1000), Latency: 2 * time.Millisecond, Class: attack.ClassRefused, Error: "connect: connection refused"})
	}
	a.Requests, a.Failures = 3000, len(a.FailureList)
	a.ByClass[attack.ClassOK], a.ByClass[attack.ClassRefused] = a.Requests-a.Failures, a.Failures
	o := rollout.Outcome{Triggered: true, Completed: true, StartedAt: at(10), CompletedAt: at(20)}
	return report.Input{Namespace: "default", Kind: kind, Deployment: "web", Settings: &settings, Action: "restart", Services: []string{"web"},
		Attack: a, Events: events, Outcome: o, Drained: o.CompletedAt, Thresholds: report.DefaultThresholds()}
}
