package diagnosis

// A proxy sidecar that stopped before the app (SIDECAR_STOPPED_BEFORE_APP):
// the kubelet sends SIGTERM to every regular container of a pod at once,
// so a proxy in front of the app (Envoy, nginx, HAProxy...) that stops at
// once, or stops accepting, fails the requests the front still sends to
// the pod while the app itself, behind its preStop, would still serve
// them. A native sidecar (an init container with restartPolicy: Always)
// stops only after the app containers have exited.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/report/internal/format"
	"github.com/rollcheck/rollcheck/workload"
)

// SidecarStoppedFirst: a terminating pod's proxy sidecar, a regular
// container, had exited while its app container still ran.
const SidecarStoppedFirst CauseCode = "SIDECAR_STOPPED_BEFORE_APP"

// AppReadyBeforeSidecar: a new pod failed requests after it turned Ready
// (as NEW_POD_NOT_SERVING), and its proxy sidecar, which takes the
// traffic, has no readiness probe on its port while the app containers
// have one: the pod was Ready once the app listened, before the proxy
// did (a proxy that waits for its configuration, as Envoy for istiod).
const AppReadyBeforeSidecar CauseCode = "APP_READY_BEFORE_SIDECAR"

// containersOf says which of the pod template's containers are proxy
// sidecars: regular containers that run a known proxy beside another
// container (workload.ProxyOf); apps are the others.
type containersOf struct {
	sidecars, apps []string
	// injected are the sidecars among them that the pod template does
	// not hold: a mesh's webhook added them to the pods (Istio's
	// istio-proxy, linkerd-proxy), seen by name in the run's events.
	injected []string
	// unprobed are the proxy sidecars that take traffic (they declare a
	// port) with no readiness probe on it, while every app container
	// that takes traffic has one: the pod turns Ready once the apps
	// listen, whether the proxy does or not (APP_READY_BEFORE_SIDECAR).
	unprobed []string
}

// injectedProxies are the proxies a mesh's webhook adds to pods, by their
// container's name.
var injectedProxies = map[string]bool{"istio-proxy": true, "linkerd-proxy": true}

// sidecarsOf reads them from the settings (none when the workload is
// unknown or has one container).
func (s settings) sidecarsOf() containersOf {
	var out containersOf
	if !s.known {
		return out
	}
	for _, n := range s.seen {
		if !slices.ContainsFunc(s.w.Containers, func(c workload.Container) bool { return c.Name == n }) && injectedProxies[n] {
			out.injected = append(out.injected, n)
		}
	}
	if len(s.w.Containers)+len(out.injected) < 2 {
		return containersOf{}
	}
	for _, c := range s.w.Containers {
		if c.Proxy != "" {
			out.sidecars = append(out.sidecars, c.Name)
		} else {
			out.apps = append(out.apps, c.Name)
		}
	}
	out.sidecars = append(out.sidecars, out.injected...)
	if len(out.apps) == 0 {
		return containersOf{}
	}
	appsListen := true
	var unprobed []string
	for _, c := range s.w.Serving() {
		switch {
		case c.Proxy == "" && !c.ListensWhenReady:
			appsListen = false
		case c.Proxy != "" && !c.ListensWhenReady:
			unprobed = append(unprobed, c.Name)
		}
	}
	if appsListen {
		out.unprobed = unprobed
	}
	return out
}

// terminationCut are the causes of a terminating pod that no longer
// served requests sent to it: a sidecar that stopped first explains them
// better when the app still ran.
var terminationCut = []CauseCode{TerminatingPodStillRouted, LBDeregistrationLag, InflightCut, KeptConnectionClosed}

// stoppedFirst returns the proxy sidecar of p that had exited by the end
// of the failure while an app container still ran at its start (its exit
// surely later, or not seen in the run), and that app container.
func (cs containersOf) stoppedFirst(p *life, it item) (sidecar, app string, ok bool) {
	if p == nil || len(cs.sidecars) == 0 || len(p.exits) == 0 {
		return "", "", false
	}
	end := it.t.Add(it.lat)
	for _, s := range cs.sidecars {
		x, exited := p.exits[s]
		if !exited || end.Before(x.lo.Add(-inflightTol)) {
			continue
		}
		for _, a := range cs.apps {
			y, exited := p.exits[a]
			if !exited || y.lo.After(it.t) && y.lo.After(x.hi) {
				return s, a, true
			}
		}
	}
	return "", "", false
}

// sidecarText is the evidence of SIDECAR_STOPPED_BEFORE_APP.
func (e telling) sidecarText() string {
	c, p, name, more, classes, window := e.c, e.p, e.name, e.more, e.classes, e.window
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests failed (%s) from %s sent to %s%s", c.failures, classes, window, name, more)
	if p != nil && p.sidecar != "" {
		x := p.exits[p.sidecar]
		fmt.Fprintf(&b, ", whose proxy container %s exited %s after deletion", p.sidecar, bounds(x.lo.Sub(p.del), x.hi.Sub(p.del)))
		if y, ok := p.exits[p.app]; ok {
			fmt.Fprintf(&b, ", while container %s ran until %s after it", p.app, bounds(y.lo.Sub(p.del), y.hi.Sub(p.del)))
		} else {
			fmt.Fprintf(&b, ", while container %s still ran", p.app)
		}
	}
	b.WriteString(": the kubelet sends SIGTERM to every regular container of a pod at once, and the proxy stopped while the front still sent the pod requests that the app, behind its preStop, would have served")
	return b.String()
}

// bounds says a span known within [lo, hi].
func bounds(lo, hi time.Duration) string {
	if hi-lo < 10*time.Millisecond {
		return format.Sec(hi)
	}
	return fmt.Sprintf("%.2f to %s", lo.Seconds(), format.Sec(hi))
}

// sidecarAdvice: make the proxy a native sidecar, or hold it with a
// preStop until the app has stopped.
func sidecarAdvice(s settings, causes []Cause, m Measurements, routing time.Duration) []Recommendation {
	if !hasCause(causes, SidecarStoppedFirst) {
		return nil
	}
	cs := codes(causes, SidecarStoppedFirst)
	// The app's own stop: its preStop and the shutdown measured after it,
	// the longest over the app containers.
	var app time.Duration
	appText := []string{}
	for _, c := range s.w.Containers {
		if c.Proxy != "" {
			continue
		}
		d := c.PreStop.Sleep + time.Duration(m.ShutdownByContainer[c.Name]*float64(time.Second))
		app = max(app, d)
		appText = append(appText, fmt.Sprintf("%s: preStop %s + shutdown %s", c.Name, format.Sec(c.PreStop.Sleep), format.Sec(time.Duration(m.ShutdownByContainer[c.Name]*float64(time.Second)))))
	}
	// At least what the front's routing asks of any container, too.
	hold := ceilSeconds(max(app+graceMargin, routing))
	var out []Recommendation
	sidecars := s.sidecarsOf().sidecars
	for _, c := range s.w.Containers {
		if !slices.Contains(sidecars, c.Name) {
			continue
		}
		out = append(out,
			Recommendation{
				Field:     c.Path(""),
				Current:   s.current("a regular container (" + c.Proxy + ")"),
				Suggested: "a native sidecar: the same container under spec.template.spec.initContainers with restartPolicy: Always (Kubernetes 1.29+)",
				Why:       fmt.Sprintf("the kubelet sends SIGTERM to every regular container at once, so %s stopped while the app still served; a native sidecar starts before the app containers and stops only after they have exited (kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/)", c.Proxy),
				Causes:    cs,
			},
			Recommendation{
				Field:     c.Path("lifecycle.preStop"),
				Current:   s.current(c.PreStop.Text),
				Suggested: fmt.Sprintf("sleep %d (exec [\"sleep\", \"%d\"] or sleep.seconds: %d), where it must stay a regular container", hold, hold, hold),
				Why:       fmt.Sprintf("a preStop on the proxy longer than the app's own stop (%s) plus a margin (%s) keeps it serving until the app has finished; terminationGracePeriodSeconds must cover it", strings.Join(appText, "; "), format.Sec(graceMargin)),
				Causes:    cs,
			})
	}
	for _, n := range s.sidecarsOf().injected {
		out = append(out, injectedAdvice(s, n, hold, strings.Join(appText, "; "), cs)...)
	}
	return out
}

// injectedAdvice: a proxy a mesh's webhook injects is not in the pod
// template, so the fix is the mesh's own setting, as the template's
// annotations ask for it: its native-sidecar mode, or, where the proxy
// stays a regular container, a drain or a wait before it exits longer
// than the app's stop.
func injectedAdvice(s settings, name string, hold int64, appText string, cs []CauseCode) []Recommendation {
	const why = "the kubelet sends SIGTERM to every regular container at once, and the injected %s stopped while the app (%s) still served; a native sidecar starts before the app containers and stops only after they have exited (kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/)"
	annotation := func(key string) string { return "spec.template.metadata.annotations[" + key + "]" }
	current := func(key string) string {
		if v, ok := s.w.PodAnnotations[key]; ok {
			return s.current(v)
		}
		return s.current("unset")
	}
	switch name {
	case "istio-proxy":
		return []Recommendation{
			{
				Field:     annotation("sidecar.istio.io/nativeSidecar"),
				Current:   current("sidecar.istio.io/nativeSidecar"),
				Suggested: `"true": Istio injects its proxy as a native sidecar (Istio 1.19+ on Kubernetes 1.29+; the default from Istio 1.27, or ENABLE_NATIVE_SIDECARS=true on istiod)`,
				Why:       fmt.Sprintf(why, "istio-proxy", appText),
				Causes:    cs,
			},
			{
				Field:     annotation("proxy.istio.io/config"),
				Current:   current("proxy.istio.io/config"),
				Suggested: fmt.Sprintf("terminationDrainDuration: %ds, where the proxy stays a regular container", hold),
				Why:       fmt.Sprintf("Istio's proxy drains for terminationDrainDuration (5 s by default) after SIGTERM and then exits: longer than the app's own stop (%s) plus a margin, it serves until the app has finished; terminationGracePeriodSeconds must cover it", appText),
				Causes:    cs,
			},
		}
	case "linkerd-proxy":
		return []Recommendation{
			{
				Field:     annotation("config.beta.linkerd.io/proxy-enable-native-sidecar"),
				Current:   current("config.beta.linkerd.io/proxy-enable-native-sidecar"),
				Suggested: `"true": Linkerd injects its proxy as a native sidecar (Kubernetes 1.29+)`,
				Why:       fmt.Sprintf(why, "linkerd-proxy", appText),
				Causes:    cs,
			},
			{
				Field:     annotation("config.alpha.linkerd.io/proxy-wait-before-exit-seconds"),
				Current:   current("config.alpha.linkerd.io/proxy-wait-before-exit-seconds"),
				Suggested: fmt.Sprintf(`"%d", where the proxy stays a regular container (not with the native sidecar)`, hold),
				Why:       fmt.Sprintf("Linkerd adds a preStop of that many seconds to its proxy: longer than the app's own stop (%s) plus a margin, it serves until the app has finished; terminationGracePeriodSeconds must cover it", appText),
				Causes:    cs,
			},
		}
	}
	return []Recommendation{{
		Field:     "the injected container " + name,
		Current:   s.current("a regular container, added by a webhook"),
		Suggested: fmt.Sprintf("a native sidecar, through its injector's option, or a wait before it exits of at least %d s", hold),
		Why:       fmt.Sprintf(why, name, appText),
		Causes:    cs,
	}}
}

// readyBeforeSidecarText is the evidence of APP_READY_BEFORE_SIDECAR: the
// new pod's as NEW_POD_NOT_SERVING, and which containers made it Ready.
func (e telling) readyBeforeSidecarText(cs containersOf) string {
	return e.newPod() + fmt.Sprintf("; the pod is Ready when every container is, and its app container %s has a readiness probe on its port while its proxy container %s, which takes the traffic, has none: the pod was Ready before the proxy listened",
		strings.Join(cs.apps, ", "), strings.Join(cs.unprobed, ", "))
}

// readyBeforeSidecarAdvice: the pod must not be Ready before its proxy
// listens: a native sidecar with a startup probe, which the kubelet
// starts, and waits for, before the app containers; or, where it stays a
// regular container, a readiness probe on the proxy's port.
func readyBeforeSidecarAdvice(s settings, causes []Cause, m Measurements) []Recommendation {
	if !hasCause(causes, AppReadyBeforeSidecar) {
		return nil
	}
	cs := codes(causes, AppReadyBeforeSidecar)
	var worst time.Duration
	for _, np := range m.NewPods {
		if np.ReadyToLastFailure != nil {
			worst = max(worst, time.Duration(*np.ReadyToLastFailure*float64(time.Second)))
		}
	}
	failed := "new pods failed requests after they turned Ready"
	if worst > 0 {
		failed = fmt.Sprintf("new pods failed requests up to %s after they turned Ready", format.Sec(worst))
	}
	unprobed := s.sidecarsOf().unprobed
	var out []Recommendation
	for _, c := range s.w.Containers {
		if !slices.Contains(unprobed, c.Name) {
			continue
		}
		port := "its port"
		if c.Spec != nil && len(c.Spec.Ports) > 0 {
			port = fmt.Sprintf("port %d", c.Spec.Ports[0].ContainerPort)
		}
		out = append(out,
			Recommendation{
				Field:     c.Path(""),
				Current:   s.current("a regular container (" + c.Proxy + "), readinessProbe " + probeText(c.Readiness)),
				Suggested: fmt.Sprintf("a native sidecar with a startupProbe on %s: the same container under spec.template.spec.initContainers with restartPolicy: Always and startupProbe tcpSocket (or httpGet) %s, periodSeconds 1 (Kubernetes 1.29+)", port, port),
				Why:       fmt.Sprintf("%s: the app was ready before %s listened; the kubelet starts a native sidecar before the app containers and starts them only once its startupProbe has passed (kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/)", failed, c.Proxy),
				Causes:    cs,
			},
			Recommendation{
				Field:     c.Path("readinessProbe"),
				Current:   s.current(probeText(c.Readiness)),
				Suggested: fmt.Sprintf("tcpSocket (or httpGet through the proxy) on %s, periodSeconds 1-2, where it stays a regular container", port),
				Why:       fmt.Sprintf("%s: a pod is Ready only when every container is, and a container with no readiness probe counts as ready once it runs, listening or not", failed),
				Causes:    cs,
			})
	}
	return out
}
