package report

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Recommendation is one setting to change, with the value derived from the
// run and whether the Deployment already satisfies it.
type Recommendation struct {
	Field     string      `json:"field"` // path in the Deployment (or the load balancer)
	Current   string      `json:"current"`
	Suggested string      `json:"suggested"`
	Why       string      `json:"why"`
	Satisfied bool        `json:"satisfied"`
	Causes    []CauseCode `json:"causes,omitempty"` // the causes it answers
}

// Defaults of the Kubernetes API used when a field is unset (FACTS.md §1, §6).
const (
	defaultGrace      = 30 * time.Second
	minPreStopMargin  = 2 * time.Second
	graceMargin       = 2 * time.Second
	unknownSpec       = "unknown (Deployment spec not available)"
	deregistrationWhy = "keep preStop + shutdown < terminationGracePeriodSeconds < the load balancer's deregistration delay (ALB default 300 s), so the pod outlives its routing and the LB outlives the pod's drain"
)

// settings are the parts of the Deployment the recommendations read.
type settings struct {
	known          bool
	container      string
	preStop        time.Duration // sleep length; 0 when none or not a sleep
	preStopText    string
	grace          time.Duration
	strategy       appsv1.DeploymentStrategyType
	maxUnavailable string
	unavailable    int // resolved against replicas
	replicas       int
	readiness      string
	startup        string
	minReady       int32
	// A blue/green switch (Input.SwitchService): the Service and the
	// Deployment switched to, with its ready replicas before the switch.
	switchService, switchTo string
	readyBefore             int
}

var sleepRe = regexp.MustCompile(`(?:^|[\s;&|])sleep\s+(\d+(?:\.\d+)?)`)

func readSettings(d *appsv1.Deployment) settings {
	s := settings{container: "NAME", grace: defaultGrace, preStopText: "none", readiness: "none", startup: "none", strategy: appsv1.RollingUpdateDeploymentStrategyType, maxUnavailable: "25%", replicas: 1}
	if d == nil {
		return s
	}
	s.known = true
	spec := d.Spec.Template.Spec
	if d.Spec.Replicas != nil {
		s.replicas = int(*d.Spec.Replicas)
	}
	if spec.TerminationGracePeriodSeconds != nil {
		s.grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	}
	s.minReady = d.Spec.MinReadySeconds
	if d.Spec.Strategy.Type != "" {
		s.strategy = d.Spec.Strategy.Type
	}
	mu := intstr.FromString("25%")
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		mu = *ru.MaxUnavailable
	}
	s.maxUnavailable = mu.String()
	if v, err := intstr.GetScaledValueFromIntOrPercent(&mu, s.replicas, false); err == nil {
		s.unavailable = v
	}
	if s.strategy == appsv1.RecreateDeploymentStrategyType {
		s.maxUnavailable, s.unavailable = "Recreate (all pods stop first)", s.replicas
	}
	if len(spec.Containers) == 0 {
		return s
	}
	c := spec.Containers[0]
	s.container = c.Name
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		s.preStop, s.preStopText = preStopOf(c.Lifecycle.PreStop)
	}
	s.readiness = probeText(c.ReadinessProbe)
	s.startup = probeText(c.StartupProbe)
	return s
}

// preStopOf returns how long a preStop hook holds the container, when it is
// a sleep, and a description.
func preStopOf(h *corev1.LifecycleHandler) (time.Duration, string) {
	switch {
	case h.Sleep != nil:
		d := time.Duration(h.Sleep.Seconds) * time.Second
		return d, fmt.Sprintf("sleep %d", h.Sleep.Seconds)
	case h.Exec != nil:
		cmd := strings.Join(h.Exec.Command, " ")
		if m := sleepRe.FindStringSubmatch(cmd); m != nil {
			f, _ := strconv.ParseFloat(m[1], 64)
			return time.Duration(f * float64(time.Second)), "exec: " + cmd
		}
		return 0, "exec: " + cmd + " (length unknown)"
	case h.HTTPGet != nil:
		return 0, fmt.Sprintf("httpGet %s (length unknown)", h.HTTPGet.Path)
	}
	return 0, "none"
}

func probeText(p *corev1.Probe) string {
	if p == nil {
		return "none"
	}
	what := "probe"
	switch {
	case p.HTTPGet != nil:
		what = fmt.Sprintf("httpGet %s", p.HTTPGet.Path)
	case p.TCPSocket != nil:
		what = "tcpSocket"
	case p.Exec != nil:
		what = "exec " + strings.Join(p.Exec.Command, " ")
	case p.GRPC != nil:
		what = "grpc"
	}
	period := p.PeriodSeconds
	if period == 0 {
		period = 10
	}
	return fmt.Sprintf("%s every %ds", what, period)
}

func ceilSeconds(d time.Duration) int64 { return int64(math.Ceil(d.Seconds())) }

func hasCause(cs []Cause, codes ...CauseCode) bool {
	for _, c := range cs {
		for _, code := range codes {
			if c.Code == code {
				return true
			}
		}
	}
	return false
}

func (s settings) current(v string) string {
	if !s.known {
		return unknownSpec
	}
	return v
}

// recommend derives the settings to change from the causes, the
// measurements and the Deployment's current settings.
func recommend(s settings, causes []Cause, m Measurements, slowest time.Duration) []Recommendation {
	out := []Recommendation{}
	c := "spec.template.spec.containers[" + s.container + "]"

	// preStop: hold the pod serving until the load balancer stops routing.
	routed := hasCause(causes, TerminatingPodStillRouted, LBDeregistrationLag)
	var lag time.Duration
	if m.MaxRoutingLag != nil {
		lag = time.Duration(*m.MaxRoutingLag * float64(time.Second))
	}
	preStopTarget := s.preStop
	if routed || lag > 0 {
		need := lag + max(minPreStopMargin, lag/2)
		sugg := ceilSeconds(need)
		if time.Duration(sugg)*time.Second > preStopTarget {
			preStopTarget = time.Duration(sugg) * time.Second
		}
		r := Recommendation{
			Field:     c + ".lifecycle.preStop",
			Current:   s.current(s.preStopText),
			Suggested: fmt.Sprintf("sleep %d (exec [\"sleep\", \"%d\"] or sleep.seconds: %d)", sugg, sugg, sugg),
			Why:       fmt.Sprintf("requests still reached terminating pods up to %s after their endpoint turned not-ready; a preStop sleep of at least that plus a margin (%s) keeps the pod serving until the load balancer stops routing to it (an app that drains on SIGTERM for as long helps too)", sec(lag), sec(max(minPreStopMargin, lag/2))),
			Satisfied: s.known && !routed && s.preStop >= need,
			Causes:    codes(causes, TerminatingPodStillRouted, LBDeregistrationLag),
		}
		out = append(out, r)
	}

	// terminationGracePeriodSeconds: preStop + shutdown must fit.
	cut := hasCause(causes, InflightCut)
	if len(out) > 0 || cut || s.preStop > 0 {
		var shutdown time.Duration
		if m.MaxShutdown != nil {
			shutdown = time.Duration(*m.MaxShutdown * float64(time.Second))
		}
		drain := shutdown
		if cut && slowest > drain {
			drain = slowest
		}
		need := preStopTarget + drain + graceMargin
		sugg := ceilSeconds(need)
		why := fmt.Sprintf("preStop %s + observed shutdown %s", sec(preStopTarget), sec(shutdown))
		if cut {
			why += fmt.Sprintf(" (in-flight requests were cut at exit; the slowest request took %s)", sec(slowest))
		}
		why += fmt.Sprintf(" + %s margin must end before SIGKILL; %s", sec(graceMargin), deregistrationWhy)
		out = append(out, Recommendation{
			Field:     "spec.template.spec.terminationGracePeriodSeconds",
			Current:   s.current(strconv.FormatInt(ceilSeconds(s.grace), 10)),
			Suggested: fmt.Sprintf("at least %d (and below the load balancer's deregistration delay)", sugg),
			Why:       why,
			Satisfied: s.known && !cut && s.grace >= need,
			Causes:    codes(causes, InflightCut),
		})
	}

	// maxUnavailable: never drop to zero ready endpoints. After a
	// blue/green switch the Deployment's strategy played no part: the
	// Service was moved to pods that were not ready.
	zero := m.MinReadyEndpoints != nil && *m.MinReadyEndpoints == 0
	if (zero || hasCause(causes, NoReadyEndpoints)) && s.switchService != "" {
		out = append(out, Recommendation{
			Field:     "service/" + s.switchService + " selector",
			Current:   fmt.Sprintf("switched to deployment/%s with %d of %d replicas ready", s.switchTo, s.readyBefore, s.replicas),
			Suggested: fmt.Sprintf("switch only once 'kubectl rollout status deployment/%s' succeeds (all %d replicas ready)", s.switchTo, s.replicas),
			Why:       "ready endpoints fell to 0 after the switch: the Service was moved to pods that could not serve yet",
			Satisfied: s.known && s.readyBefore >= s.replicas && !zero,
			Causes:    codes(causes, NoReadyEndpoints),
		})
	} else if zero || hasCause(causes, NoReadyEndpoints) {
		field := "spec.strategy.rollingUpdate.maxUnavailable"
		if s.strategy == appsv1.RecreateDeploymentStrategyType {
			field = "spec.strategy.type"
		}
		sugg := "0 (with maxSurge 1 or more)"
		if s.strategy == appsv1.RecreateDeploymentStrategyType {
			sugg = "RollingUpdate with maxUnavailable 0 and maxSurge 1"
		}
		why := "ready endpoints fell to 0 during the rollout, so the Service had nothing to send requests to"
		if s.known && s.replicas < 2 {
			why += fmt.Sprintf("; with %d replica also consider 2 or more", s.replicas)
		}
		out = append(out, Recommendation{
			Field:     field,
			Current:   s.current(s.maxUnavailable),
			Suggested: sugg,
			Why:       why,
			Satisfied: s.known && s.strategy != appsv1.RecreateDeploymentStrategyType && s.unavailable == 0 && !zero,
			Causes:    codes(causes, NoReadyEndpoints),
		})
	}

	// readiness: a new pod must not be Ready before it serves.
	if hasCause(causes, NewPodNotServing) {
		var worst time.Duration
		for _, np := range m.NewPods {
			if np.ReadyToLastFailure != nil {
				worst = max(worst, time.Duration(*np.ReadyToLastFailure*float64(time.Second)))
			}
		}
		cur := "readinessProbe " + s.readiness + ", startupProbe " + s.startup
		out = append(out, Recommendation{
			Field:     c + ".readinessProbe",
			Current:   s.current(cur),
			Suggested: "httpGet on a path that answers 200 only once the app serves, periodSeconds 1-2 (a startupProbe for slow starts)",
			Why:       fmt.Sprintf("new pods failed requests up to %s after they turned Ready: the pod was Ready before it could serve", sec(worst)),
			Satisfied: false,
			Causes:    []CauseCode{NewPodNotServing},
		})
		sugg := ceilSeconds(worst) + 1
		out = append(out, Recommendation{
			Field:     "spec.minReadySeconds",
			Current:   s.current(strconv.Itoa(int(s.minReady))),
			Suggested: strconv.FormatInt(sugg, 10),
			Why:       fmt.Sprintf("new pods failed for up to %s after Ready; minReadySeconds keeps the old pods until a new one has been Ready that long (it does not keep traffic off the new pod: the readiness probe does)", sec(worst)),
			Satisfied: s.known && int64(s.minReady) >= sugg,
			Causes:    []CauseCode{NewPodNotServing},
		})
	}
	return out
}

func codes(cs []Cause, want ...CauseCode) []CauseCode {
	var out []CauseCode
	for _, c := range cs {
		for _, w := range want {
			if c.Code == w {
				out = append(out, w)
			}
		}
	}
	return out
}
