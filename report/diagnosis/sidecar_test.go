package diagnosis

import (
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
)

// A pod of app and Envoy as a regular sidecar (issue 23): on deletion the
// proxy exits at once while the app, behind its 5 s preStop, runs until
// 17.5 s; the balancer routes for 2 s more, and its requests meet the
// proxy gone: SIDECAR_STOPPED_BEFORE_APP, naming both containers, with a
// native sidecar and a preStop on the proxy longer than the app's stop as
// the fix, and no preStop advice for the app, whose preStop was long
// enough. The same failures with the app exited first are not this cause,
// nor with one container.
func TestASidecarThatStoppedBeforeTheApp(t *testing.T) {
	pod := behindProxy("envoyproxy/envoy:v1.31.0")
	tl := func(proxyExit, appExit float64) *timeline {
		tl := newTimeline()
		tl.Running("web-old-a")
		tl.Started("web-new-a", 10, 10.5, 11.5)
		tl.Event(12, rollout.Event{Type: rollout.DeletionRequested, Pod: "web-old-a"})
		tl.Event(12.02, rollout.Event{Type: rollout.EndpointChanged, Service: "web", Pod: "web-old-a", IP: "ip-web-old-a", Ready: ptrTo(false), Serving: ptrTo(true), Terminating: ptrTo(true)})
		tl.Event(proxyExit, rollout.Event{Type: rollout.ContainerExited, Pod: "web-old-a", Container: "proxy", ExitCode: ptrTo(int32(0))})
		tl.Event(appExit, rollout.Event{Type: rollout.ContainerExited, Pod: "web-old-a", Container: "app", ExitCode: ptrTo(int32(0))})
		tl.Event(appExit+0.1, rollout.Event{Type: rollout.EndpointRemoved, Service: "web", Pod: "web-old-a", IP: "ip-web-old-a"})
		tl.Fails(12.15, 14.0, 0.05, attack.Class502, "")
		tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = at(11.6), at(29.9)
		tl.A.FirstByPod["web-old-a"], tl.A.LastByPod["web-old-a"] = at(0), at(12.08)
		return tl
	}
	r := build(tl(12.1, 17.5).input(deployment(pod)))
	c, ok := causeOf(r, SidecarStoppedFirst)
	if !ok || c.Failures != r.Failures || len(r.Causes) != 1 {
		t.Fatalf("causes %+v, want SIDECAR_STOPPED_BEFORE_APP for all %d", r.Causes, r.Failures)
	}
	t.Logf("%s: %s", c.Code, c.Evidence)
	for _, rec := range r.Recommendations {
		t.Logf("%s: %s -> %s", rec.Field, rec.Current, rec.Suggested)
	}
	for _, want := range []string{"whose proxy container proxy exited 0.10 s after deletion", "while container app ran until 5.50 s after it", "SIGTERM to every regular container"} {
		if !strings.Contains(c.Evidence, want) {
			t.Errorf("evidence %q lacks %q", c.Evidence, want)
		}
	}
	// The per-container table: the proxy first, 0.10 s after deletion;
	// the app 5.50 s after it.
	var stops []ContainerStop
	for _, tp := range r.Measurements.TerminatingPods {
		if tp.Pod == "web-old-a" {
			stops = tp.Containers
		}
	}
	if len(stops) != 2 || stops[0].Name != "proxy" || stops[1].Name != "app" || stops[0].ExitMax > 0.11 || stops[1].ExitMin < 5.49 {
		t.Errorf("container stops %+v, want proxy at 0.10 s, then app at 5.50 s", stops)
	}
	native := recOf(r, "spec.template.spec.containers[proxy]")
	if native == nil || !strings.Contains(native.Suggested, "initContainers with restartPolicy: Always") || !slices.Contains(native.Causes, SidecarStoppedFirst) {
		t.Errorf("native sidecar advice %+v", native)
	}
	// The app's stop: its 5 s preStop and 0.5 s of shutdown, and the
	// margin: 8 s.
	if hold := recOf(r, "spec.template.spec.containers[proxy].lifecycle.preStop"); hold == nil || !strings.HasPrefix(hold.Suggested, "sleep 8 ") {
		t.Errorf("the proxy's preStop advice %+v, want sleep 8 (app preStop 5 s + shutdown 0.5 s + 2 s margin)", hold)
	}
	if rec := recOf(r, "spec.template.spec.containers[app].lifecycle.preStop"); rec != nil && !rec.Satisfied {
		t.Errorf("preStop advice for the app, whose preStop outlasted the front's routing: %+v", rec)
	}

	// The app exited first: the pod itself stopped serving.
	r = build(tl(17.5, 12.1).input(deployment(pod)))
	if _, ok := causeOf(r, SidecarStoppedFirst); ok {
		t.Errorf("the app exited first, yet %+v", r.Causes)
	}
	// One container: no sidecar.
	r = build(tl(12.1, 17.5).input(deployment()))
	if _, ok := causeOf(r, SidecarStoppedFirst); ok {
		t.Errorf("one container, yet %+v", r.Causes)
	}
}

// The real kubelet reports a terminating pod's container exits together,
// once the last has stopped (e2e: the proxy's finishedAt 5 s before the
// app's, both in the update that came with the app's exit, the app's
// listed first). The pod's first stop is still the proxy's, by its stamp:
// the failures are the sidecar's, not drained or unattributed.
func TestASidecarsExitReportedWithTheApps(t *testing.T) {
	k := newRealKubelet(0)
	k.Running("web-old-a")
	k.created("web-new-a", 10.3, 10.6, 11.4, 11.5)
	k.Event(12.01, rollout.Event{Type: rollout.DeletionRequested, Pod: "web-old-a", GracePeriod: ptrTo(30 * time.Second), ServerTime: stampAt(42, 0)})
	k.Event(12.03, rollout.Event{Type: rollout.EndpointChanged, Service: "web", Pod: "web-old-a", IP: "ip-web-old-a", Ready: ptrTo(false), Serving: ptrTo(true), Terminating: ptrTo(true)})
	k.Event(17.6, rollout.Event{Type: rollout.ContainerExited, Pod: "web-old-a", Container: "app", ExitCode: ptrTo(int32(0)), ServerTime: stampAt(17.2, 0)})
	k.Event(17.6, rollout.Event{Type: rollout.ContainerExited, Pod: "web-old-a", Container: "proxy", ExitCode: ptrTo(int32(0)), ServerTime: stampAt(12.05, 0)})
	k.Event(17.65, rollout.Event{Type: rollout.EndpointRemoved, Service: "web", Pod: "web-old-a", IP: "ip-web-old-a"})
	k.Fails(12.15, 14.0, 0.05, attack.Class502, "")
	k.A.FirstByPod["web-new-a"], k.A.LastByPod["web-new-a"] = at(11.6), at(29.9)
	k.A.FirstByPod["web-old-a"], k.A.LastByPod["web-old-a"] = at(0), at(12.13)
	pod := behindProxy("rollcheck/nginx:1.22")
	r := build(k.input(deployment(pod)))
	c, ok := causeOf(r, SidecarStoppedFirst)
	if !ok || c.Failures != r.Failures {
		t.Fatalf("causes %+v, want SIDECAR_STOPPED_BEFORE_APP for all %d", r.Causes, r.Failures)
	}
	t.Logf("%s", c.Evidence)
	// Its successes show 0.1 s of routing: one preStop advice for the
	// proxy all the same, the sidecar's (the app's 5 s stop and more).
	fields := map[string]int{}
	for _, rec := range r.Recommendations {
		if fields[rec.Field]++; fields[rec.Field] > 1 {
			t.Errorf("two recommendations for %s: %+v", rec.Field, r.Recommendations)
		}
	}
	if tp := r.Measurements.TerminatingPods[0]; len(tp.Containers) != 2 || tp.Containers[0].Name != "proxy" {
		t.Errorf("container stops %+v, want the proxy first", tp.Containers)
	}
}

// behindProxy makes the Deployment's app (port 8081, a 5 s preStop) sit
// behind a regular container "proxy" running image, on port 8080.
func behindProxy(image string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) {
		spec := &d.Spec.Template.Spec
		spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8081}}
		spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "5"}}}}
		spec.Containers = append(spec.Containers, corev1.Container{Name: "proxy", Image: image, Ports: []corev1.ContainerPort{{ContainerPort: 8080}}})
	}
}

// A new pod whose app has a readiness probe on its port and whose nginx
// proxy, which takes the traffic, has none (issue 23): the pod turned
// Ready when the app did, and the requests it got before nginx listened
// were refused. APP_READY_BEFORE_SIDECAR, naming both containers, with a
// native sidecar with a startupProbe, or a readiness probe on the proxy's
// port, as the fix. With a probe on the proxy too, the pod listened when
// Ready; with none on the app either, which container was not listening
// is unknown, and it stays NEW_POD_NOT_SERVING.
func TestAnAppReadyBeforeItsSidecar(t *testing.T) {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8081)}}, PeriodSeconds: 1}
	pod := func(d *appsv1.Deployment) {
		behindProxy("rollcheck/nginx:1.22")(d)
		d.Spec.Template.Spec.Containers[0].ReadinessProbe = probe
	}
	tl := func() *timeline {
		tl := newTimeline()
		tl.Running("web-old-a")
		tl.Started("web-new-a", 10, 10.5, 11.0)
		tl.A.FirstByPod["web-new-a"] = at(13.1)
		tl.Fails(11.1, 13.0, 0.1, attack.ClassRefused, "")
		tl.Deleted("web-old-a", 20, 20.02, 21.5, 0, 21.6)
		return tl
	}
	r := build(tl().input(deployment(pod)))
	c, ok := causeOf(r, AppReadyBeforeSidecar)
	if !ok || c.Failures != r.Failures || len(r.Causes) != 1 {
		t.Fatalf("causes %+v, want APP_READY_BEFORE_SIDECAR for all %d", r.Causes, r.Failures)
	}
	t.Logf("%s: %s", c.Code, c.Evidence)
	for _, want := range []string{"web-new-a turned ready at +11.00s", "its app container app has a readiness probe on its port while its proxy container proxy, which takes the traffic, has none"} {
		if !strings.Contains(c.Evidence, want) {
			t.Errorf("evidence %q lacks %q", c.Evidence, want)
		}
	}
	native := recOf(r, "spec.template.spec.containers[proxy]")
	if native == nil || !strings.Contains(native.Suggested, "initContainers with restartPolicy: Always and startupProbe tcpSocket (or httpGet) port 8080") {
		t.Errorf("advice for the proxy %+v, want a native sidecar with a startupProbe on port 8080", native)
	}
	if rec := recOf(r, "spec.template.spec.containers[proxy].readinessProbe"); rec == nil || !strings.Contains(rec.Suggested, "port 8080") || !slices.Contains(rec.Causes, AppReadyBeforeSidecar) {
		t.Errorf("readiness advice for the proxy %+v, want a probe on port 8080", rec)
	}
	if rec := recOf(r, "spec.template.spec.containers[app].readinessProbe"); rec != nil {
		t.Errorf("readiness advice for the app %+v, whose probe was right", rec)
	}

	// A probe on the proxy too: the pod listened when Ready.
	probed := func(d *appsv1.Deployment) {
		pod(d)
		p := *probe
		p.HTTPGet = &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}
		d.Spec.Template.Spec.Containers[1].ReadinessProbe = &p
	}
	if r := build(tl().input(deployment(probed))); slices.ContainsFunc(r.Causes, func(c Cause) bool { return c.Code == AppReadyBeforeSidecar }) {
		t.Errorf("causes %+v: APP_READY_BEFORE_SIDECAR though the proxy has a readiness probe", r.Causes)
	}
	// No probe on the app either: not known which did not listen.
	bare := func(d *appsv1.Deployment) {
		behindProxy("rollcheck/nginx:1.22")(d)
		d.Spec.Template.Spec.Containers[0].ReadinessProbe = nil
	}
	if r := build(tl().input(deployment(bare))); !slices.ContainsFunc(r.Causes, func(c Cause) bool { return c.Code == NewPodNotServing }) || slices.ContainsFunc(r.Causes, func(c Cause) bool { return c.Code == AppReadyBeforeSidecar }) {
		t.Errorf("causes %+v, want NEW_POD_NOT_SERVING alone when neither container has a probe", r.Causes)
	}
}

// Istio's proxy, injected by its webhook, is in the pods but not in the
// Deployment's template (issue 23, Istio issue 7665): rollcheck knows it by
// the container the run's events name. It exits at once on SIGTERM while
// the app, behind its 5 s preStop, still serves: SIDECAR_STOPPED_BEFORE_APP
// naming istio-proxy, with Istio's own settings as the fix (its native
// sidecar annotation, and terminationDrainDuration for the app's stop),
// not a container the template does not hold. linkerd-proxy the same with
// Linkerd's annotations.
func TestAnInjectedMeshProxyThatStoppedBeforeTheApp(t *testing.T) {
	app := func(d *appsv1.Deployment) {
		spec := &d.Spec.Template.Spec
		spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8081}}
		spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "5"}}}}
		d.Spec.Template.Annotations = map[string]string{"proxy.istio.io/config": "{}"}
	}
	for _, mesh := range []struct{ proxy, native, drain, drainWant string }{
		{"istio-proxy", "sidecar.istio.io/nativeSidecar", "proxy.istio.io/config", "terminationDrainDuration: 8s"},
		{"linkerd-proxy", "config.beta.linkerd.io/proxy-enable-native-sidecar", "config.alpha.linkerd.io/proxy-wait-before-exit-seconds", `"8"`},
	} {
		t.Run(mesh.proxy, func(t *testing.T) {
			tl := newTimeline()
			tl.Running("web-old-a")
			tl.Started("web-new-a", 10, 10.5, 11.5)
			tl.Event(10.5, rollout.Event{Type: rollout.ContainerStarted, Pod: "web-new-a", Container: mesh.proxy})
			tl.Event(12, rollout.Event{Type: rollout.DeletionRequested, Pod: "web-old-a"})
			tl.Event(12.02, rollout.Event{Type: rollout.EndpointChanged, Service: "web", Pod: "web-old-a", IP: "ip-web-old-a", Ready: ptrTo(false), Serving: ptrTo(true), Terminating: ptrTo(true)})
			tl.Event(12.1, rollout.Event{Type: rollout.ContainerExited, Pod: "web-old-a", Container: mesh.proxy, ExitCode: ptrTo(int32(0))})
			tl.Event(17.5, rollout.Event{Type: rollout.ContainerExited, Pod: "web-old-a", Container: "app", ExitCode: ptrTo(int32(0))})
			tl.Event(17.6, rollout.Event{Type: rollout.EndpointRemoved, Service: "web", Pod: "web-old-a", IP: "ip-web-old-a"})
			tl.Fails(12.15, 14.0, 0.05, attack.Class502, "")
			tl.A.FirstByPod["web-new-a"], tl.A.LastByPod["web-new-a"] = at(11.6), at(29.9)
			tl.A.FirstByPod["web-old-a"], tl.A.LastByPod["web-old-a"] = at(0), at(12.08)
			r := build(tl.input(deployment(app)))
			c, ok := causeOf(r, SidecarStoppedFirst)
			if !ok || c.Failures != r.Failures {
				t.Fatalf("causes %+v, want SIDECAR_STOPPED_BEFORE_APP for all %d", r.Causes, r.Failures)
			}
			if want := "whose proxy container " + mesh.proxy + " exited 0.10 s after deletion"; !strings.Contains(c.Evidence, want) {
				t.Errorf("evidence %q lacks %q", c.Evidence, want)
			}
			native := recOf(r, "spec.template.metadata.annotations["+mesh.native+"]")
			if native == nil || !strings.HasPrefix(native.Suggested, `"true"`) {
				t.Errorf("native sidecar advice %+v, want %s: \"true\"", native, mesh.native)
			}
			drain := recOf(r, "spec.template.metadata.annotations["+mesh.drain+"]")
			if drain == nil || !strings.Contains(drain.Suggested, mesh.drainWant) {
				t.Errorf("drain advice %+v, want %s (the app's 5 s preStop, its 0.5 s shutdown and a margin)", drain, mesh.drainWant)
			}
			for _, rec := range r.Recommendations {
				if strings.Contains(rec.Field, "containers["+mesh.proxy+"]") {
					t.Errorf("advice %+v is about a container the template does not hold", rec)
				}
			}
		})
	}
}
