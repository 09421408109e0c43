package preflight

import (
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rollcheck/rollcheck/manifest"
)

// loadManifests reads a multi-document YAML file into an Input (the first
// Deployment, every Service and Ingress, the first Namespace).
func loadManifests(t *testing.T, path string) Input {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docs, err := manifest.Read(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var in Input
	for _, doc := range docs {
		tm, err := doc.TypeMeta()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch tm.Kind {
		case "Deployment":
			in.Deployment = &appsv1.Deployment{}
			err = doc.Decode(in.Deployment)
		case "Service":
			var s corev1.Service
			err = doc.Decode(&s)
			in.Services = append(in.Services, s)
		case "Ingress":
			var i networkingv1.Ingress
			err = doc.Decode(&i)
			in.Ingresses = append(in.Ingresses, i)
		case "Namespace":
			in.Namespace = &corev1.Namespace{}
			err = doc.Decode(in.Namespace)
		case "PodDisruptionBudget":
			var p policyv1.PodDisruptionBudget
			err = doc.Decode(&p)
			in.PDBs = append(in.PDBs, p)
		}
		if err != nil {
			t.Fatalf("%s: %s: %v", path, tm.Kind, err)
		}
	}
	if in.Deployment == nil {
		t.Fatalf("%s: no Deployment", path)
	}
	return in
}

func ptr[T any](v T) *T { return &v }

// good is the smallest configuration every rule accepts: 3 replicas behind a
// ClusterIP Service, a readiness probe, a preStop sleep, the default grace
// period, a Namespace.
func good() Input {
	return Input{
		Deployment: &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr[int32](3),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name:  "app",
						Image: "web:1",
						Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
							HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)},
						}},
						Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
							Exec: &corev1.ExecAction{Command: []string{"sleep", "5"}},
						}},
					}}},
				},
			},
		},
		Services: []corev1.Service{{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}},
		}},
		Namespace: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		PDBs: []policyv1.PodDisruptionBudget{{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(1)),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		}},
	}
}

func container(in *Input) *corev1.Container { return &in.Deployment.Spec.Template.Spec.Containers[0] }

// withALB puts an ALB Ingress in front of the Service, in target type mode.
func withALB(mode string) func(*Input) {
	return func(in *Input) {
		in.Services[0].Annotations = map[string]string{albTargetType: mode}
		in.Ingresses = append(in.Ingresses, networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec: networkingv1.IngressSpec{
				IngressClassName: ptr("alb"),
				DefaultBackend:   &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web"}},
			},
		})
	}
}

// withSidecar adds c beside the app as a regular container.
func withSidecar(c corev1.Container) func(*Input) {
	return func(in *Input) {
		spec := &in.Deployment.Spec.Template.Spec
		spec.Containers = append(spec.Containers, c)
	}
}

// istioNamespace labels the Namespace so that Istio injects its proxy.
func istioNamespace(key, value string) func(*Input) {
	return func(in *Input) { in.Namespace.Labels = map[string]string{key: value} }
}

// withIstioConfig sets the pod template's proxy.istio.io/config.
func withIstioConfig(cfg string) func(*Input) {
	return func(in *Input) {
		in.Deployment.Spec.Template.Annotations = map[string]string{istioProxyConfig: cfg}
	}
}

// withNLBInstance puts an NLB in instance mode in front of the Service.
func withNLBInstance(in *Input) {
	in.Services[0].Spec.Type = corev1.ServiceTypeLoadBalancer
	in.Services[0].Annotations = map[string]string{awsLBType: "external", awsNLBTargetType: "instance"}
}

// local makes the Service one of type typ with externalTrafficPolicy
// Local and the healthCheckNodePort given (0: none allocated).
func local(typ corev1.ServiceType, healthCheckNodePort int32) func(*Input) {
	return func(in *Input) {
		in.Services[0].Spec.Type = typ
		in.Services[0].Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		in.Services[0].Spec.HealthCheckNodePort = healthCheckNodePort
	}
}

func all(fs ...func(*Input)) func(*Input) {
	return func(in *Input) {
		for _, f := range fs {
			f(in)
		}
	}
}

func TestEachRuleFiresOnAManifestThatBreaksIt(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(*Input)
		opts   Options
		rule   string
		sev    Severity
	}{
		{"a served container without readiness probe is an error", func(in *Input) { container(in).ReadinessProbe = nil }, Options{}, RuleNoReadinessProbe, Error},
		{"a container with a port but no Service is only a warning", func(in *Input) { container(in).ReadinessProbe = nil; in.Services = nil }, Options{}, RuleNoReadinessProbe, Warning},
		{"an exec readiness probe checks no listener: a warning", func(in *Input) {
			container(in).ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/ready"}}}}
		}, Options{}, RuleNoReadinessProbe, Warning},
		{"a readiness probe on a port the container does not declare is a warning", func(in *Input) {
			container(in).ReadinessProbe.HTTPGet.Port = intstr.FromInt32(9090)
		}, Options{}, RuleNoReadinessProbe, Warning},
		{"a readiness probe on a container that declares no port, behind a Service, is a warning", func(in *Input) { container(in).Ports = nil }, Options{}, RuleNoReadinessProbe, Warning},
		{"liveness identical to readiness is a warning", func(in *Input) { container(in).LivenessProbe = container(in).ReadinessProbe.DeepCopy() }, Options{}, RuleReadinessSameAsLiveness, Warning},
		{"liveness identical to readiness behind a startupProbe is info", func(in *Input) {
			c := container(in)
			c.LivenessProbe = c.ReadinessProbe.DeepCopy()
			c.StartupProbe = c.ReadinessProbe.DeepCopy()
		}, Options{}, RuleReadinessSameAsLiveness, Info},
		{"no preStop behind kube-proxy only is a warning", func(in *Input) { container(in).Lifecycle = nil }, Options{}, RuleNoPreStop, Warning},
		{"no preStop behind an ALB is an error", all(withALB("ip"), func(in *Input) { container(in).Lifecycle = nil }), Options{}, RuleNoPreStop, Error},
		{"no preStop behind a LoadBalancer Service is an error", func(in *Input) {
			container(in).Lifecycle = nil
			in.Services[0].Spec.Type = corev1.ServiceTypeLoadBalancer
		}, Options{}, RuleNoPreStop, Error},
		{"a preStop sleep shorter than the lab's deregister lag is an error", func(in *Input) {
			in.Services[0].Annotations = map[string]string{labDeregisterLag: "8s"}
		}, Options{}, RulePreStopShorterThanLag, Error},
		{"preStop + shutdown equal to the grace period is an error", func(in *Input) {
			container(in).Lifecycle.PreStop.Exec.Command = []string{"sh", "-c", "sleep 25"}
		}, Options{}, RuleGracePeriodTooShort, Error},
		{"a long --shutdown-time breaks the grace period", func(*Input) {}, Options{ShutdownTime: 40 * time.Second}, RuleGracePeriodTooShort, Error},
		{"Spring's shutdown phase timeout counts as shutdown time", func(in *Input) {
			in.Deployment.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr[int64](60)
			container(in).Env = []corev1.EnvVar{{Name: "SPRING_LIFECYCLE_TIMEOUT_PER_SHUTDOWN_PHASE", Value: "60s"}}
		}, Options{}, RuleGracePeriodTooShort, Error},
		{"the sleep lifecycle action counts as preStop time", func(in *Input) {
			container(in).Lifecycle.PreStop = &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 30}}
		}, Options{}, RuleGracePeriodTooShort, Error},
		{"an ALB deregistration delay equal to the grace period is a warning", all(withALB("ip"), func(in *Input) {
			in.Services[0].Annotations[albTGAttributes] = "deregistration_delay.timeout_seconds=30"
		}), Options{}, RuleDeregistrationNotAboveGrace, Warning},
		{"an Ingress-level deregistration delay below the grace period is a warning", all(withALB("instance"), func(in *Input) {
			in.Ingresses[0].Annotations = map[string]string{albTGAttributes: "stickiness.enabled=false,deregistration_delay.timeout_seconds=10"}
		}), Options{}, RuleDeregistrationNotAboveGrace, Warning},
		{"an NLB deregistration delay below the grace period is a warning", func(in *Input) {
			in.Services[0].Spec.Type = corev1.ServiceTypeLoadBalancer
			in.Services[0].Annotations = map[string]string{awsLBType: "external", awsNLBTargetType: "instance", awsTGAttributes: "deregistration_delay.timeout_seconds=15"}
		}, Options{}, RuleDeregistrationNotAboveGrace, Warning},
		{"a Classic ELB draining timeout below the grace period is a warning", func(in *Input) {
			in.Services[0].Spec.Type = corev1.ServiceTypeLoadBalancer
			in.Services[0].Annotations = map[string]string{clbDrainingEnabled: "true", clbDrainingTimeout: "20"}
		}, Options{}, RuleDeregistrationNotAboveGrace, Warning},
		{"ALB ip mode without the namespace label is an error", withALB("ip"), Options{}, RuleNoPodReadinessGate, Error},
		{"NLB ip mode without the namespace label is an error", func(in *Input) {
			in.Services[0].Spec.Type = corev1.ServiceTypeLoadBalancer
			in.Services[0].Annotations = map[string]string{awsLBType: "external", awsNLBTargetType: "ip"}
		}, Options{}, RuleNoPodReadinessGate, Error},
		{"ALB ip mode with an unknown Namespace is a warning", all(withALB("ip"), func(in *Input) { in.Namespace = nil }), Options{}, RuleNoPodReadinessGate, Warning},
		{"the Recreate strategy is an error", func(in *Input) { in.Deployment.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType }, Options{}, RuleRecreateStrategy, Error},
		{"maxUnavailable 100% can leave no ready pod", func(in *Input) {
			in.Deployment.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr(intstr.FromString("100%"))}
		}, Options{}, RuleRollingUpdateNoReadyPods, Error},
		{"maxUnavailable equal to replicas can leave no ready pod", func(in *Input) {
			in.Deployment.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromInt32(0)), MaxUnavailable: ptr(intstr.FromInt32(3))}
		}, Options{}, RuleRollingUpdateNoReadyPods, Error},
		{"maxSurge 0 with maxUnavailable 0 is invalid", func(in *Input) {
			in.Deployment.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromInt32(0)), MaxUnavailable: ptr(intstr.FromString("0%"))}
		}, Options{}, RuleRollingUpdateInvalid, Error},
		{"a maxSurge that is not a number is invalid", func(in *Input) {
			in.Deployment.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromString("one"))}
		}, Options{}, RuleRollingUpdateInvalid, Error},
		{"one replica is a warning", func(in *Input) { in.Deployment.Spec.Replicas = ptr[int32](1) }, Options{}, RuleSingleReplica, Warning},
		{"three replicas behind a Service and no budget", func(in *Input) { in.PDBs = nil }, Options{}, RuleNoPDB, Warning},
		{"a budget of another app is none", func(in *Input) { in.PDBs[0].Spec.Selector.MatchLabels = map[string]string{"app": "other"} }, Options{}, RuleNoPDB, Warning},
		{"maxUnavailable 0 blocks every eviction", func(in *Input) { in.PDBs[0].Spec.MaxUnavailable = ptr(intstr.FromInt32(0)) }, Options{}, RulePDBBlocksEvicts, Error},
		{"minAvailable equal to the replicas blocks every eviction", func(in *Input) {
			in.PDBs[0].Spec.MaxUnavailable, in.PDBs[0].Spec.MinAvailable = nil, ptr(intstr.FromInt32(3))
		}, Options{}, RulePDBBlocksEvicts, Error},
		{"minAvailable 100% blocks every eviction", func(in *Input) {
			in.PDBs[0].Spec.MaxUnavailable, in.PDBs[0].Spec.MinAvailable = nil, ptr(intstr.FromString("100%"))
		}, Options{}, RulePDBBlocksEvicts, Error},
		{"a budget whose selector matches no pod template of the files", func(in *Input) {
			in.PDBs[0].Spec.Selector.MatchLabels = map[string]string{"app": "wbe"}
			in.PodTemplates = []PodTemplate{TemplateOf(*in)}
		}, Options{}, RulePDBSelectsNone, Warning},
		{"a budget for which the cluster counts no pod", func(in *Input) {
			in.PDBs[0].Name = "frontend"
			in.PDBs[0].Spec.Selector.MatchLabels = map[string]string{"app": "web-server"}
			in.PDBs[0].Generation, in.PDBs[0].Status.ObservedGeneration = 2, 2
		}, Options{}, RulePDBSelectsNone, Warning},
		{"no replicas field means one replica", func(in *Input) { in.Deployment.Spec.Replicas = nil }, Options{}, RuleSingleReplica, Warning},
		{"a startupProbe without minReadySeconds is info", func(in *Input) {
			container(in).StartupProbe = &corev1.Probe{ProbeHandler: container(in).ReadinessProbe.ProbeHandler, FailureThreshold: 30}
		}, Options{}, RuleMinReadySecondsZero, Info},
		{"a readiness delay longer than its period without minReadySeconds is info", func(in *Input) {
			container(in).ReadinessProbe.InitialDelaySeconds = 30
		}, Options{}, RuleMinReadySecondsZero, Info},
		{"sh -c without exec as PID 1 is a warning", func(in *Input) {
			container(in).Command = []string{"/bin/sh", "-c", "app --port 8080"}
		}, Options{}, RuleShellFormEntrypoint, Warning},
		{"a script in args after sh -c counts too", func(in *Input) {
			container(in).Command = []string{"bash", "-ec"}
			container(in).Args = []string{"cd /srv && ./app"}
		}, Options{}, RuleShellFormEntrypoint, Warning},
		{"a Classic ELB without draining is an error", func(in *Input) {
			in.Services[0].Spec.Type = corev1.ServiceTypeLoadBalancer
			in.Services[0].Annotations = map[string]string{"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}
		}, Options{}, RuleCLBNoConnectionDraining, Error},
		{"a plain LoadBalancer Service is only info", func(in *Input) {
			in.Services[0].Spec.Type = corev1.ServiceTypeLoadBalancer
		}, Options{}, RuleCLBNoConnectionDraining, Info},
		{"an ALB in instance mode before a Local NodePort Service is an error", all(withALB("instance"), local(corev1.ServiceTypeNodePort, 0)), Options{}, RuleLocalNoNodeHealthCheck, Error},
		{"an ALB in instance mode checking the traffic port of a Local LoadBalancer Service is an error", all(withALB("instance"), local(corev1.ServiceTypeLoadBalancer, 31234)), Options{}, RuleLocalNoNodeHealthCheck, Error},
		{"the lab's balancer in instance mode before a Local NodePort Service is an error", all(local(corev1.ServiceTypeNodePort, 0), func(in *Input) {
			in.Services[0].Annotations = map[string]string{albTargetType: "instance", labDeregisterLag: "2s"}
		}), Options{}, RuleLocalNoNodeHealthCheck, Error},
		{"an ALB Ingress with no target type is in instance mode", all(withALB("instance"), func(in *Input) { delete(in.Services[0].Annotations, albTargetType) }, local(corev1.ServiceTypeNodePort, 0)), Options{}, RuleLocalNoNodeHealthCheck, Error},
		{"an NLB in instance mode checking the traffic port of a Local Service is an error", all(withNLBInstance, local(corev1.ServiceTypeLoadBalancer, 31234), func(in *Input) {
			in.Services[0].Annotations[nlbHealthCheckPort] = "traffic-port"
		}), Options{}, RuleLocalNoNodeHealthCheck, Error},
		{"an NLB in instance mode with a TCP health check of a Local Service is an error", all(withNLBInstance, local(corev1.ServiceTypeLoadBalancer, 31234), func(in *Input) {
			in.Services[0].Annotations[nlbHealthCheckProtocol] = "TCP"
		}), Options{}, RuleLocalNoNodeHealthCheck, Error},
		{"an Envoy sidecar as a regular container is an error behind a Service", withSidecar(corev1.Container{Name: "proxy", Image: "envoyproxy/envoy:v1.31.0"}), Options{}, RuleProxySidecarNotNative, Error},
		{"a container named proxy, whatever its image, is a proxy by its author's word", withSidecar(corev1.Container{Name: "proxy", Image: "example.com/edge:1.0"}), Options{}, RuleProxySidecarNotNative, Error},
		{"a regular nginx in front of the app, known by its image, is a warning with no Service", all(withSidecar(corev1.Container{Name: "web", Image: "docker.io/nginxinc/nginx-unprivileged:1.27@sha256:0123"}), func(in *Input) { in.Services = nil }), Options{}, RuleProxySidecarNotNative, Warning},
		{"Istio's default 5 s drain under the app's preStop 5 s + shutdown 5 s is an error", istioNamespace("istio-injection", "enabled"), Options{}, RuleIstioDrainShorterThanApp, Error},
		{"a drain set no shorter than the grace period kills the proxy mid-drain", all(withIstioConfig("terminationDrainDuration: 40s\nholdApplicationUntilProxyStarts: true\n"), func(in *Input) {
			in.Deployment.Spec.Template.Labels[istioInjectLabel] = "true"
		}), Options{}, RuleGraceBelowSidecarDrain, Error},
		{"an Istio revision label injects, and the pod does not hold the app", istioNamespace(istioRevisionLabel, "canary"), Options{}, RuleIstioNoHoldApplication, Warning},
		{"the seed's nginx with a preStop sleep alone, behind a Service, is an error: SIGTERM still stops it at once", func(in *Input) { container(in).Image = "nginx:1.15" }, Options{}, RuleServerStopsAtOnce, Error},
		{"Apache httpd with no Service is a warning", func(in *Input) { container(in).Image, in.Services = "httpd:2.4", nil }, Options{}, RuleServerStopsAtOnce, Warning},
		{"nginx stopped gracefully only by stopSignal SIGQUIT is a warning: alpha, and not every runtime applies it", func(in *Input) {
			quit := corev1.SIGQUIT
			container(in).Image, container(in).Lifecycle.StopSignal = "nginx:1.15", &quit
		}, Options{}, RuleServerStopsAtOnce, Warning},
		{"a DaemonSet with the default maxSurge 0 is a warning", asDaemonSet(nil), Options{}, RuleDaemonSetNoSurge, Warning},
		{"an OrderedReady StatefulSet without a readiness probe is an error", all(func(in *Input) { container(in).ReadinessProbe = nil }, asStatefulSet), Options{}, RuleOrderedReadyNoReadiness, Error},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.rule] = true
		t.Run(tt.name, func(t *testing.T) {
			in := good()
			tt.break_(&in)
			fs := Check(in, tt.opts)
			var got []string
			for _, f := range fs {
				got = append(got, f.Rule+"/"+string(f.Severity))
				if f.Rule == tt.rule && f.Severity == tt.sev {
					if f.Path == "" || f.Current == "" || f.Suggested == "" || f.Why == "" || f.Object == "" {
						t.Errorf("incomplete finding: %+v", f)
					}
					return
				}
			}
			t.Errorf("want %s/%s, got %v", tt.rule, tt.sev, got)
		})
	}
	for _, r := range Rules() {
		if !covered[r.ID] {
			t.Errorf("rule %s has no test that breaks it", r.ID)
		}
	}
}

func TestRulesStayQuietOnRecommendedConfigurations(t *testing.T) {
	tests := []struct {
		name string
		in   func(t *testing.T) Input
		// allowed are info findings the configuration is known to have.
		allowed []string
	}{
		{"the minimal good configuration", func(*testing.T) Input { return good() }, nil},
		{"the to-be scenario manifest", func(t *testing.T) Input { return loadManifests(t, "../scenarios/to-be.yaml") }, nil},
		{"the seed 002 sample after its fixes", func(t *testing.T) Input {
			in := loadManifests(t, "testdata/seed002-to-be.yaml")
			// The seed's fixes are about a rollout; its files hold no
			// budget, which drains need (no-pod-disruption-budget).
			in.PDBsUnknown = true
			return in
		},
			// The sample uses /health for both probes behind a startupProbe,
			// and has a startupProbe without minReadySeconds: advice only.
			[]string{RuleReadinessSameAsLiveness, RuleMinReadySecondsZero}},
		{"seed 002's Spring Boot fix: grace 75s over preStop 10s + shutdown phase 60s", func(*testing.T) Input {
			in := good()
			in.Deployment.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr[int64](75)
			container(&in).Lifecycle.PreStop.Exec.Command = []string{"sh", "-c", "sleep 10"}
			container(&in).Env = []corev1.EnvVar{{Name: "SPRING_LIFECYCLE_TIMEOUT-PER-SHUTDOWN-PHASE", Value: "60s"}}
			return in
		}, nil},
		{"nginx whose preStop sleeps, then quits it gracefully", func(*testing.T) Input {
			in := good()
			container(&in).Image = "nginx:1.27"
			container(&in).Lifecycle.PreStop.Exec.Command = []string{"sh", "-c", "sleep 5; /usr/sbin/nginx -s quit; sleep 3"}
			return in
		}, nil},
		{"nginx with stopSignal SIGQUIT and a preStop that quits it gracefully", func(*testing.T) Input {
			in := good()
			container(&in).Image = "nginx:1.27"
			quit := corev1.SIGQUIT
			container(&in).Lifecycle.StopSignal = &quit
			container(&in).Lifecycle.PreStop.Exec.Command = []string{"sh", "-c", "sleep 5; /usr/sbin/nginx -s quit; sleep 3"}
			return in
		}, nil},
		{"an ALB in ip mode with the readiness gate label", func(*testing.T) Input {
			in := good()
			withALB("ip")(&in)
			in.Namespace.Labels = map[string]string{readinessGateInject: "enabled"}
			return in
		}, nil},
		{"an ALB in ip mode with the gate in the pod template", func(*testing.T) Input {
			in := good()
			withALB("ip")(&in)
			in.Deployment.Spec.Template.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "target-health.elbv2.k8s.aws/k8s-shop-web-123"}}
			return in
		}, nil},
		{"an NLB in instance mode before a Local Service checks its node health port by default", func(*testing.T) Input {
			in := good()
			all(withNLBInstance, local(corev1.ServiceTypeLoadBalancer, 31234))(&in)
			return in
		}, nil},
		{"an ALB in instance mode checking a Local Service's healthCheckNodePort", func(*testing.T) Input {
			in := good()
			all(withALB("instance"), local(corev1.ServiceTypeLoadBalancer, 31234))(&in)
			in.Services[0].Annotations[albHealthCheckPort] = "31234"
			return in
		},
			// A LoadBalancer Service with no AWS annotation makes a Classic
			// ELB of its own too: advice only.
			[]string{RuleCLBNoConnectionDraining}},
		{"an ALB in ip mode before a Local Service: the pods are the targets", func(*testing.T) Input {
			in := good()
			all(withALB("ip"), local(corev1.ServiceTypeNodePort, 0))(&in)
			in.Namespace.Labels = map[string]string{readinessGateInject: "enabled"}
			return in
		}, nil},
		{"a proxy as a native sidecar: an init container with restartPolicy Always", func(*testing.T) Input {
			in := good()
			in.Deployment.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.24.0", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways)}}
			return in
		}, nil},
		{"a regular proxy sidecar with a preStop of its own", func(*testing.T) Input {
			in := good()
			withSidecar(corev1.Container{Name: "linkerd-proxy", Image: "cr.l5d.io/linkerd/proxy:stable-2.14.10", Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 10}}}})(&in)
			return in
		}, nil},
		{"Istio with a drain that covers the app, below the grace period, holding the app until the proxy starts", func(*testing.T) Input {
			in := good()
			all(istioNamespace("istio-injection", "enabled"), withIstioConfig("terminationDrainDuration: 15s\nholdApplicationUntilProxyStarts: true\n"))(&in)
			return in
		}, nil},
		{"a pod that opts out of its namespace's injection", func(*testing.T) Input {
			in := good()
			istioNamespace("istio-injection", "enabled")(&in)
			in.Deployment.Spec.Template.Labels[istioInjectLabel] = "false"
			return in
		}, nil},
		{"a Classic ELB with draining longer than the grace period", func(*testing.T) Input {
			in := good()
			in.Services[0].Spec.Type = corev1.ServiceTypeLoadBalancer
			in.Services[0].Annotations = map[string]string{clbDrainingEnabled: "true", clbDrainingTimeout: "60"}
			return in
		}, nil},
		{"sh -c that execs the application", func(*testing.T) Input {
			in := good()
			container(&in).Command = []string{"sh", "-c", "exec app --port 8080"}
			return in
		}, nil},
		{"a Service that selects other pods is ignored", func(*testing.T) Input {
			in := good()
			container(&in).ReadinessProbe = nil
			container(&in).Lifecycle = nil
			in.Services[0].Spec.Selector = map[string]string{"app": "other"}
			container(&in).Ports = nil
			return in
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range Check(tt.in(t), Options{}) {
				ok := false
				for _, a := range tt.allowed {
					ok = ok || (f.Rule == a && f.Severity == Info)
				}
				if !ok {
					t.Errorf("unexpected finding %s (%s) on %s %s: current %q", f.Rule, f.Severity, f.Object, f.Path, f.Current)
				}
			}
		})
	}
}

func TestTheAsIsScenarioLacksReadinessAndPreStop(t *testing.T) {
	fs := Check(loadManifests(t, "../scenarios/as-is.yaml"), Options{})
	got := map[string]Severity{}
	for _, f := range fs {
		got[f.Rule] = f.Severity
	}
	for _, rule := range []string{RuleNoReadinessProbe, RuleNoPreStop} {
		if got[rule] != Error {
			t.Errorf("%s: got %q, want error (all: %v)", rule, got[rule], got)
		}
	}
	if !HasErrors(fs) {
		t.Error("HasErrors is false")
	}
}

func TestOptionsFilterFindings(t *testing.T) {
	in := good()
	container(&in).ReadinessProbe = nil
	in.Deployment.Spec.Replicas = ptr[int32](1)
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"everything by default, errors first", Options{}, []string{RuleNoReadinessProbe, RuleSingleReplica}},
		{"a disabled rule is skipped", Options{Disable: []string{RuleNoReadinessProbe}}, []string{RuleSingleReplica}},
		{"a severity threshold drops what is below it", Options{MinSeverity: Error}, []string{RuleNoReadinessProbe}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range Check(in, tt.opts) {
				got = append(got, f.Rule)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseSeverity(t *testing.T) {
	for in, want := range map[string]Severity{"info": Info, "WARNING": Warning, " error ": Error} {
		if got, err := ParseSeverity(in); err != nil || got != want {
			t.Errorf("ParseSeverity(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseSeverity("fatal"); err == nil {
		t.Error("ParseSeverity(fatal) accepted")
	}
}

func TestAReadinessProbeThatChecksNoDeclaredPortIsNamed(t *testing.T) {
	for _, tt := range []struct {
		name            string
		change          func(*Input)
		current, prefix string
	}{
		{"an exec probe", func(in *Input) {
			container(in).ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/ready"}}}}
		}, "exec cat /tmp/ready (no port the container declares)", "httpGet {path: /ready, port: 8080}"},
		{"a probe on an admin port", func(in *Input) { container(in).ReadinessProbe.HTTPGet.Port = intstr.FromInt32(9090) },
			"httpGet /ready port 9090 (no port the container declares)", "httpGet {path: /ready, port: 8080}"},
		{"a container without ports", func(in *Input) { container(in).Ports = nil },
			"httpGet /ready port 8080 (no port the container declares)", "declare the port traffic comes to"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := good()
			tt.change(&in)
			var got []Finding
			for _, f := range Check(in, Options{}) {
				if f.Rule == RuleNoReadinessProbe {
					got = append(got, f)
				}
			}
			if len(got) != 1 || got[0].Current != tt.current || !strings.HasPrefix(got[0].Suggested, tt.prefix) || got[0].Path != "spec.template.spec.containers[app].readinessProbe" {
				t.Errorf("findings %+v; want one, current %q, suggested %q...", got, tt.current, tt.prefix)
			}
		})
	}
	t.Run("a container without ports that no Service selects takes no traffic", func(t *testing.T) {
		in := good()
		container(&in).Ports, container(&in).ReadinessProbe, in.Services = nil, nil, nil
		for _, f := range Check(in, Options{}) {
			if f.Rule == RuleNoReadinessProbe {
				t.Errorf("finding %+v", f)
			}
		}
	})
}

// A budget that selects no pod is told only to the workload it looks
// meant for: a budget of another app, one the cluster counts pods for or
// has not counted yet, or one a template of the files matches, is not
// stray.
func TestPDBSelectsNoPodOnlyWhereMeant(t *testing.T) {
	stray := func(in Input) []Finding {
		var out []Finding
		for _, f := range Check(in, Options{}) {
			if f.Rule == RulePDBSelectsNone {
				out = append(out, f)
			}
		}
		return out
	}
	in := good()
	in.PDBs[0].Name = "db"
	in.PDBs[0].Spec.Selector.MatchLabels = map[string]string{"app": "db"}
	in.PodTemplates = []PodTemplate{TemplateOf(in)}
	if fs := stray(in); len(fs) != 0 {
		t.Errorf("another app's budget (app=db) told to web: %+v", fs)
	}
	in = good()
	in.PDBs[0].Spec.Selector.MatchLabels = map[string]string{"app": "wbe"}
	in.Deployment.Spec.Template.Labels = map[string]string{"app": "web", "tier": "front"}
	other := good().Deployment
	other.Name, other.Spec.Template.Labels = "wbe", map[string]string{"app": "wbe"}
	in.PodTemplates = []PodTemplate{TemplateOf(in), TemplateOf(Input{Deployment: other})}
	if fs := stray(in); len(fs) != 0 {
		t.Errorf("a budget a template of the files matches told as stray: %+v", fs)
	}
	in.PodTemplates = in.PodTemplates[:1]
	fs := stray(in)
	if len(fs) != 1 || fs[0].Object != "poddisruptionbudget/web" || fs[0].Suggested != "a selector on the pod template's labels: app=web" ||
		!strings.Contains(fs[0].Current, "app=wbe (selects no pod; deployment/web's pods are labelled app=web,tier=front)") {
		t.Errorf("findings %+v, want poddisruptionbudget/web's selector app=wbe told with web's labels", fs)
	}
	in.PodTemplates = nil // in a cluster: the budget's status decides
	for _, st := range []struct {
		gen, observed int64
		expected      int32
	}{{0, 0, 0}, {3, 2, 0}, {2, 2, 3}} {
		in.PDBs[0].Generation, in.PDBs[0].Status.ObservedGeneration, in.PDBs[0].Status.ExpectedPods = st.gen, st.observed, st.expected
		if fs := stray(in); len(fs) != 0 {
			t.Errorf("generation %d observed %d expected pods %d: %+v, want none", st.gen, st.observed, st.expected, fs)
		}
	}
	in.PDBs[0].Generation, in.PDBs[0].Status.ObservedGeneration, in.PDBs[0].Status.ExpectedPods = 2, 2, 0
	if fs := stray(in); len(fs) != 1 {
		t.Errorf("a budget the controller counted no pod for: %+v, want it told", fs)
	}
}

// A proxy is a sidecar only beside another container: nginx alone, even
// with no preStop, is the app (no-prestop speaks for it), and a container
// that only has a proxy's name as part of its own is not one.
func TestProxySidecarOnlyBesideTheApp(t *testing.T) {
	for name, in := range map[string]Input{
		"nginx alone": func() Input {
			in := good()
			container(&in).Image, container(&in).Lifecycle = "nginx:1.27", nil
			return in
		}(),
		"an app whose name starts with a proxy's": func() Input {
			in := good()
			withSidecar(corev1.Container{Name: "envoyish", Image: "example.com/shop/nginxlike:1"})(&in)
			return in
		}(),
	} {
		for _, f := range Check(in, Options{}) {
			if f.Rule == RuleProxySidecarNotNative {
				t.Errorf("%s: %s on %s", name, f.Rule, f.Path)
			}
		}
	}
}
