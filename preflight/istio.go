package preflight

import (
	"fmt"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Rules about Istio's injected sidecar.
const (
	RuleIstioDrainShorterThanApp = "istio-drain-shorter-than-app"
	RuleGraceBelowSidecarDrain   = "grace-period-below-sidecar-drain"
	RuleIstioNoHoldApplication   = "istio-no-hold-until-proxy-starts"
)

// Labels and annotations Istio's injection reads (istio.io docs, "Installing
// the sidecar": automatic injection by namespace or pod label; per-pod
// ProxyConfig in the proxy.istio.io/config annotation).
const (
	istioInjectLabel    = "sidecar.istio.io/inject"
	istioNamespaceLabel = "istio-injection"
	istioRevisionLabel  = "istio.io/rev"
	istioProxyConfig    = "proxy.istio.io/config"
	// istioDefaultDrain is ProxyConfig.terminationDrainDuration's default.
	istioDefaultDrain = 5 * time.Second
)

// istioProxy is what the pod template says of its Istio sidecar.
type istioProxy struct {
	injected bool
	// why says what asks for the injection.
	why string
	// drain is terminationDrainDuration; drainSet when the pod sets it.
	drain    time.Duration
	drainSet bool
	// hold is holdApplicationUntilProxyStarts as the pod sets it.
	hold bool
	// bad is a proxy.istio.io/config the rules could not read ("" when
	// read or absent).
	bad string
}

// istioOf reads whether Istio injects its proxy into the pods: the pod's
// sidecar.istio.io/inject label (or the older annotation) decides when set,
// else the Namespace's istio-injection=enabled or istio.io/rev label. A
// Namespace that is not in the input leaves it to the pod's own label.
func istioOf(t *target) istioProxy {
	p := istioProxy{drain: istioDefaultDrain}
	v, ok := t.podLabels[istioInjectLabel]
	if !ok {
		v, ok = t.podAnnotations[istioInjectLabel]
	}
	switch {
	case ok:
		p.injected, p.why = strings.EqualFold(strings.TrimSpace(v), "true"), "the pod template's "+istioInjectLabel+"="+v
	case t.ns != nil && t.ns.Labels[istioNamespaceLabel] == "enabled":
		p.injected, p.why = true, "namespace/"+t.ns.Name+"'s "+istioNamespaceLabel+"=enabled"
	case t.ns != nil && t.ns.Labels[istioRevisionLabel] != "" && t.ns.Labels[istioNamespaceLabel] != "disabled":
		p.injected, p.why = true, "namespace/"+t.ns.Name+"'s "+istioRevisionLabel+"="+t.ns.Labels[istioRevisionLabel]
	}
	if !p.injected {
		return p
	}
	raw, ok := t.podAnnotations[istioProxyConfig]
	if !ok {
		return p
	}
	var cfg struct {
		TerminationDrainDuration        string `json:"terminationDrainDuration"`
		HoldApplicationUntilProxyStarts *bool  `json:"holdApplicationUntilProxyStarts"`
	}
	if err := yaml.Unmarshal([]byte(raw), &cfg); err != nil {
		p.bad = err.Error()
		return p
	}
	if s := strings.TrimSpace(cfg.TerminationDrainDuration); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			p.bad = fmt.Sprintf("terminationDrainDuration %q is not a duration", s)
			return p
		}
		p.drain, p.drainSet = d, true
	}
	p.hold = cfg.HoldApplicationUntilProxyStarts != nil && *cfg.HoldApplicationUntilProxyStarts
	return p
}

func (p istioProxy) drainText() string {
	if p.drainSet {
		return seconds(p.drain)
	}
	return seconds(p.drain) + " (Istio's default)"
}

// checkIstioDrainShorterThanApp: on SIGTERM, which it gets with the app,
// Istio's proxy drains for terminationDrainDuration and then exits. An app
// that keeps serving longer (its preStop sleep, then its own shutdown)
// has no proxy in front of it for the rest: requests the front still sends
// it fail (Istio issue 7665).
func checkIstioDrainShorterThanApp(t *target) []Finding {
	p := istioOf(t)
	if !p.injected || p.bad != "" {
		return nil
	}
	var need, pre, shut time.Duration
	for _, c := range t.w.Containers {
		s, _ := t.shutdownOf(c.Spec)
		if c.PreStop.Sleep+s > need {
			need, pre, shut = c.PreStop.Sleep+s, c.PreStop.Sleep, s
		}
	}
	if need <= p.drain {
		return nil
	}
	sev := Warning
	if len(t.services) > 0 {
		sev = Error
	}
	want := ceilSeconds(need + 2*time.Second)
	return []Finding{t.finding(RuleIstioDrainShorterThanApp, sev, t.obj, "spec.template.metadata.annotations["+istioProxyConfig+"]",
		"terminationDrainDuration "+p.drainText(),
		fmt.Sprintf("terminationDrainDuration: %ds (the app's preStop %s + shutdown %s + 2 s), below terminationGracePeriodSeconds; or a native sidecar, which stops after the app", want, seconds(pre), seconds(shut)),
		fmt.Sprintf("Istio injects its proxy (%s). It gets SIGTERM with the app, drains for terminationDrainDuration and then is killed, while the app serves for its preStop and shutdown (%s): for the rest the pod's traffic is still redirected to a proxy that no longer listens, and the requests the front still sends it fail (Istio issue 7665, 503s in rollouts; istio.io ProxyConfig reference, terminationDrainDuration).", p.why, seconds(need)))}
}

// checkGraceBelowSidecarDrain: the kubelet kills every container when the
// grace period ends, so a proxy whose drain is as long is killed mid-drain.
func checkGraceBelowSidecarDrain(t *target) []Finding {
	p := istioOf(t)
	if !p.injected || p.bad != "" || p.drain < t.w.Grace {
		return nil
	}
	cur := seconds(t.w.Grace)
	if t.w.GraceDefaulted {
		cur += " (default)"
	}
	return []Finding{t.finding(RuleGraceBelowSidecarDrain, Error, t.obj, "spec.template.spec.terminationGracePeriodSeconds", cur,
		fmt.Sprintf("%d (Istio's terminationDrainDuration %s + 5 s)", ceilSeconds(p.drain+5*time.Second), seconds(p.drain)),
		fmt.Sprintf("Istio injects its proxy (%s) with terminationDrainDuration %s, no shorter than the grace period: the kubelet kills the proxy with SIGKILL before its drain ends, cutting the connections it was still draining (kubernetes.io pod termination; istio.io ProxyConfig reference).", p.why, p.drainText()))}
}

// checkIstioHold: without holdApplicationUntilProxyStarts the app
// containers start beside the proxy, and an app that is ready (or calls
// out) before Envoy has its configuration fails its first requests. It may
// be set mesh-wide (meshConfig.defaultConfig), which the files do not
// show: a warning.
func checkIstioHold(t *target) []Finding {
	p := istioOf(t)
	if !p.injected || p.hold {
		return nil
	}
	cur := "not set in the pod's " + istioProxyConfig
	if p.bad != "" {
		cur = "unreadable " + istioProxyConfig + ": " + p.bad
	}
	return []Finding{t.finding(RuleIstioNoHoldApplication, Warning, t.obj, "spec.template.metadata.annotations["+istioProxyConfig+"]", cur,
		"holdApplicationUntilProxyStarts: true (or mesh-wide in meshConfig.defaultConfig, or Istio's native sidecars)",
		fmt.Sprintf("Istio injects its proxy (%s). Without holdApplicationUntilProxyStarts the app containers start beside it, so an app that turns ready, or calls out, before Envoy is ready fails its first requests (istio.io ProxyConfig reference).", p.why))}
}
