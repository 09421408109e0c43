package diagnosis

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/rollcheck/rollcheck/report/internal/format"
	"github.com/rollcheck/rollcheck/workload"
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
	// Withheld says why Suggested names the setting without a number:
	// the measurement a number would come from was not unambiguous.
	Withheld string `json:"withheld,omitempty"`
}

// Margins of the recommendations, and what they say when the Deployment is
// not known.
const (
	minPreStopMargin = 2 * time.Second
	// minSuccessLag is the least routing lag that successes alone (no
	// failure from routing) must show to ask for a preStop: a success
	// a few milliseconds after the endpoint turned not ready is a request
	// routed as the change happened, not a lag ("up to 0.00 s").
	minSuccessLag     = 100 * time.Millisecond
	graceMargin       = 2 * time.Second
	unknownSpec       = "unknown (Deployment spec not available)"
	deregistrationWhy = "keep preStop + shutdown < terminationGracePeriodSeconds < the load balancer's deregistration delay (ALB default 300 s), so the pod outlives its routing and the LB outlives the pod's drain"
)

// settings are the parts of the Deployment the recommendations read.
type settings struct {
	known bool
	// w is the Deployment as workload reads it (the API defaults when
	// unknown).
	w workload.Deployment
	// serving are the containers the preStop and readiness advice is
	// about: those that take traffic (workload.Serving), or one
	// placeholder named NAME when the Deployment or its containers are
	// unknown.
	serving        []workload.Container
	maxUnavailable string
	unavailable    int // resolved against replicas
	// A blue/green switch (Input.SwitchService): the Service and the
	// Deployment switched to, with its ready replicas before the switch.
	switchService, switchTo string
	readyBefore             int
}

func readSettings(d *appsv1.Deployment) settings { return settingsOf(workload.Read(d), d != nil) }

// settingsOf are the settings of a workload of any kind, as workload read
// it; known is false when it is only the API defaults.
func settingsOf(w workload.Deployment, known bool) settings {
	s := settings{known: known, w: w}
	st := s.w.Strategy
	s.maxUnavailable, s.unavailable = st.MaxUnavailable.String(), st.Unavailable
	if st.Type == appsv1.RecreateDeploymentStrategyType {
		s.maxUnavailable, s.unavailable = "Recreate (all pods stop first)", s.w.Replicas
	}
	s.serving = s.w.Serving()
	if len(s.serving) == 0 {
		s.serving = []workload.Container{{Name: "NAME", PreStop: workload.ReadPreStop(nil)}}
	}
	return s
}

// servingPreStop is the preStop sleep the diagnosis weighs: the shortest
// over the serving containers, since a pod stops serving when the first of
// them does (0 when one has no timed sleep).
func (s settings) servingPreStop() time.Duration {
	d := s.serving[0].PreStop.Sleep
	for _, c := range s.serving[1:] {
		d = min(d, c.PreStop.Sleep)
	}
	return d
}

// preStopsByContainer are each container's preStop sleep by name, for the
// shutdown each container took after its own (nil when the Deployment is
// unknown). A hook of unknown length counts as 0: its time is then in the
// shutdown.
func (s settings) preStopsByContainer() map[string]time.Duration {
	if !s.known {
		return nil
	}
	out := make(map[string]time.Duration, len(s.w.Containers))
	for _, c := range s.w.Containers {
		out[c.Name] = c.PreStop.Sleep
	}
	return out
}

// termination is the longest preStop + shutdown over the containers, with
// that container's preStop and shutdown. A serving container's preStop is
// raised to raiseTo (the preStop advised; 0: none). A container with no
// exit seen counts the longest shutdown seen. Without the Deployment's
// containers: the longest preStop + the longest shutdown.
func (s settings) termination(m Measurements, raiseTo, shutdown time.Duration) (total, preStop, sh time.Duration) {
	if !s.known || len(m.ShutdownByContainer) == 0 {
		ps := max(s.longestPreStop(), raiseTo)
		return ps + shutdown, ps, shutdown
	}
	serving := map[string]bool{}
	for _, c := range s.serving {
		serving[c.Name] = true
	}
	for _, c := range s.w.Containers {
		ps := c.PreStop.Sleep
		if serving[c.Name] {
			ps = max(ps, raiseTo)
		}
		csh := shutdown
		if v, ok := m.ShutdownByContainer[c.Name]; ok {
			csh = time.Duration(v * float64(time.Second))
		}
		if ps+csh > total {
			total, preStop, sh = ps+csh, ps, csh
		}
	}
	return total, preStop, sh
}

// unknownPreStop reports whether a container's preStop hook is of unknown
// length (an httpGet, a script without a sleep).
func (s settings) unknownPreStop() bool {
	for _, c := range s.w.Containers {
		if c.PreStop.Set && !c.PreStop.Known {
			return true
		}
	}
	return false
}

// longestPreStop is the longest preStop sleep over every container: the
// kubelet runs them side by side within the one grace period.
func (s settings) longestPreStop() time.Duration {
	var d time.Duration
	for _, c := range s.w.Containers {
		d = max(d, c.PreStop.Sleep)
	}
	return d
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
	return fmt.Sprintf("%s every %ds", what, workload.PeriodSeconds(p))
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

	// preStop: hold the pod serving until the load balancer stops routing.
	routed := hasCause(causes, TerminatingPodStillRouted, LBDeregistrationLag)
	var lag time.Duration
	if m.MaxRoutingLag != nil {
		lag = time.Duration(*m.MaxRoutingLag * float64(time.Second))
	}
	if !routed && lag < minSuccessLag {
		lag = 0
	}
	preStopTarget := s.longestPreStop()
	preStopWithheld := ""
	if routed {
		preStopWithheld = unsure(causes, TerminatingPodStillRouted, LBDeregistrationLag)
	}
	if routed || lag > 0 {
		need := lag + max(minPreStopMargin, lag/2)
		sugg := ceilSeconds(need)
		suggested := fmt.Sprintf("sleep %d (exec [\"sleep\", \"%d\"] or sleep.seconds: %d)", sugg, sugg, sugg)
		why := fmt.Sprintf("requests still reached terminating pods up to %s after their endpoint turned not-ready; a preStop sleep of at least that plus a margin (%s) keeps the pod serving until the load balancer stops routing to it (an app that drains on SIGTERM for as long helps too)", format.Sec(lag), format.Sec(max(minPreStopMargin, lag/2)))
		if preStopWithheld != "" {
			suggested = "a sleep longer than the load balancer keeps routing to a terminating pod (no number: " + preStopWithheld + ")"
			why = "requests may have reached terminating pods after they stopped serving; a preStop sleep keeps the pod serving until the load balancer stops routing to it (an app that drains on SIGTERM for as long helps too)"
			if lag > 0 {
				why += fmt.Sprintf("; the pods' own successes show routing at least %s after their endpoint turned not-ready", format.Sec(lag))
			}
		} else if time.Duration(sugg)*time.Second > preStopTarget {
			preStopTarget = time.Duration(sugg) * time.Second
		}
		// Every container that takes traffic must keep serving until
		// the load balancer stops routing, so each gets its own advice.
		for _, c := range s.serving {
			out = append(out, Recommendation{
				Field:     c.Path("lifecycle.preStop"),
				Current:   s.current(c.PreStop.Text),
				Suggested: suggested,
				Why:       why,
				Satisfied: s.known && !routed && c.PreStop.Sleep >= need,
				Causes:    codes(causes, TerminatingPodStillRouted, LBDeregistrationLag),
				Withheld:  preStopWithheld,
			})
		}
	}

	// terminationGracePeriodSeconds: each container's preStop + shutdown
	// must fit.
	cut := hasCause(causes, InflightCut)
	if len(out) > 0 || cut || s.longestPreStop() > 0 {
		var shutdown time.Duration
		if m.MaxShutdown != nil {
			shutdown = time.Duration(*m.MaxShutdown * float64(time.Second))
		}
		raiseTo := time.Duration(0)
		if preStopTarget > s.longestPreStop() {
			raiseTo = preStopTarget // the preStop advised above
		}
		total, ps, drain := s.termination(m, raiseTo, shutdown)
		sh := drain
		// The requests a grace period must let finish are the slowest
		// served, not one that waited for the client's timeout on a
		// target that never answered: then the cut requests' own age
		// is what is known.
		if m.slowestTimedOut {
			slowest = 0
			if m.LongestCut != nil {
				slowest = time.Duration(*m.LongestCut * float64(time.Second))
			}
		}
		if cut && slowest > drain {
			total += slowest - drain
			drain = slowest
		}
		need := total + graceMargin
		sugg := ceilSeconds(need)
		why := fmt.Sprintf("preStop %s + observed shutdown %s", format.Sec(ps), format.Sec(sh))
		if s.unknownPreStop() {
			why += " (a preStop hook of unknown length ran: its time is in the shutdown)"
		}
		switch {
		case cut && m.slowestTimedOut:
			why += fmt.Sprintf(" (in-flight requests were cut at exit, open up to %s; the slowest requests of the run timed out, so their length is unknown)", format.Sec(slowest))
		case cut:
			why += fmt.Sprintf(" (in-flight requests were cut at exit; the slowest request took %s)", format.Sec(slowest))
		}
		why += fmt.Sprintf(" + %s margin must end before SIGKILL; %s", format.Sec(graceMargin), deregistrationWhy)
		rec := Recommendation{
			Field:     "spec.template.spec.terminationGracePeriodSeconds",
			Current:   s.current(strconv.FormatInt(ceilSeconds(s.w.Grace), 10)),
			Suggested: fmt.Sprintf("at least %d (and below the load balancer's deregistration delay)", sugg),
			Why:       why,
			Satisfied: s.known && !cut && s.w.Grace >= need,
			Causes:    codes(causes, InflightCut),
		}
		withheld := preStopWithheld
		if cut {
			if u := unsure(causes, InflightCut); u != "" {
				withheld = u
			}
		}
		if withheld != "" {
			rest := ceilSeconds(drain + graceMargin)
			rec.Suggested = fmt.Sprintf("at least the preStop you choose + %d (and below the load balancer's deregistration delay)", rest)
			rec.Why = fmt.Sprintf("observed shutdown %s + %s margin after the preStop must end before SIGKILL; no total is given: %s; %s", format.Sec(drain), format.Sec(graceMargin), withheld, deregistrationWhy)
			rec.Satisfied = false
			rec.Withheld = withheld
		}
		out = append(out, rec)
	}

	// maxUnavailable: never drop to zero ready endpoints. After a
	// blue/green switch the Deployment's strategy played no part: the
	// Service was moved to pods that were not ready.
	zero := m.MinReadyEndpoints != nil && *m.MinReadyEndpoints == 0
	if (zero || hasCause(causes, NoReadyEndpoints)) && s.switchService != "" {
		out = append(out, Recommendation{
			Field:     "service/" + s.switchService + " selector",
			Current:   fmt.Sprintf("switched to deployment/%s with %d of %d replicas ready", s.switchTo, s.readyBefore, s.w.Replicas),
			Suggested: fmt.Sprintf("switch only once 'kubectl rollout status deployment/%s' succeeds (all %d replicas ready)", s.switchTo, s.w.Replicas),
			Why:       "ready endpoints fell to 0 after the switch: the Service was moved to pods that could not serve yet",
			Satisfied: s.known && s.readyBefore >= s.w.Replicas && !zero,
			Causes:    codes(causes, NoReadyEndpoints),
		})
	} else if zero || hasCause(causes, NoReadyEndpoints) {
		recreate := s.w.Strategy.Type == appsv1.RecreateDeploymentStrategyType
		field := s.w.StrategyField("rollingUpdate.maxUnavailable")
		if recreate {
			field = s.w.StrategyField("type")
		}
		sugg := "0 (with maxSurge 1 or more)"
		switch {
		case recreate:
			sugg = "RollingUpdate with maxUnavailable 0 and maxSurge 1"
		case s.w.Kind == workload.KindDaemonSet:
			// Each node's pod is its only one: only a surge keeps it served.
			field, sugg = s.w.StrategyField("rollingUpdate.maxSurge"), "1 with maxUnavailable 0 (the node's new pod serves before the old one stops)"
			s.maxUnavailable = "maxSurge " + s.w.Strategy.MaxSurge.String() + ", maxUnavailable " + s.maxUnavailable
		case s.w.Kind == workload.KindStatefulSet:
			// A StatefulSet has no surge: it replaces a pod before it starts
			// the new one, so only other replicas can serve meanwhile.
			field, sugg = "spec.replicas", "2 or more (a StatefulSet stops each pod before its replacement starts)"
			s.maxUnavailable, s.unavailable = strconv.Itoa(s.w.Replicas), max(0, 2-s.w.Replicas)
		}
		why := "ready endpoints fell to 0 during the rollout, so the Service had nothing to send requests to"
		if s.known && s.w.Replicas < 2 {
			why += fmt.Sprintf("; with %d replica also consider 2 or more", s.w.Replicas)
		}
		out = append(out, Recommendation{
			Field:     field,
			Current:   s.current(s.maxUnavailable),
			Suggested: sugg,
			Why:       why,
			Satisfied: s.known && !recreate && s.unavailable == 0 && !zero,
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
		withheld := unsure(causes, NewPodNotServing)
		if withheld == "" && worst <= 0 {
			withheld = "no failure was measured after a new pod turned Ready (they came before it, or the pod is unknown)"
		}
		failedFor := "new pods failed requests after they turned Ready"
		if worst > 0 {
			failedFor = fmt.Sprintf("new pods failed requests up to %s after they turned Ready", format.Sec(worst))
		}
		if withheld != "" && unsure(causes, NewPodNotServing) != "" {
			failedFor = "requests that failed after new pods turned Ready may be theirs"
		}
		// A pod is Ready when every container is, so the probe of each
		// container that takes traffic must wait until it serves.
		for _, c := range s.serving {
			out = append(out, Recommendation{
				Field:     c.Path("readinessProbe"),
				Current:   s.current("readinessProbe " + probeText(c.Readiness) + ", startupProbe " + probeText(c.Startup)),
				Suggested: "httpGet on a path that answers 200 only once the app serves, periodSeconds 1-2 (a startupProbe for slow starts)",
				Why:       failedFor + ": the pod was Ready before it could serve",
				Satisfied: false,
				Causes:    []CauseCode{NewPodNotServing},
			})
		}
		sugg := ceilSeconds(worst) + 1
		minReady := int64(s.w.MinReady / time.Second)
		rec := Recommendation{
			Field:     "spec.minReadySeconds",
			Current:   s.current(strconv.FormatInt(minReady, 10)),
			Suggested: strconv.FormatInt(sugg, 10),
			Why:       fmt.Sprintf("new pods failed for up to %s after Ready; minReadySeconds keeps the old pods until a new one has been Ready that long (it does not keep traffic off the new pod: the readiness probe does)", format.Sec(worst)),
			Satisfied: s.known && minReady >= sugg,
			Causes:    []CauseCode{NewPodNotServing},
		}
		if withheld != "" {
			rec.Suggested = "longer than a new pod takes to serve after Ready (no number: " + withheld + ")"
			rec.Satisfied = false
			rec.Why = failedFor + "; minReadySeconds keeps the old pods until a new one has been Ready that long (it does not keep traffic off the new pod: the readiness probe does)"
			rec.Satisfied = false
			rec.Withheld = withheld
		}
		out = append(out, rec)
	}
	return out
}

// unsure says why the causes with these codes cannot give a number: one of
// them is not of high confidence, or is named only as an alternative ("":
// all are firm).
func unsure(cs []Cause, want ...CauseCode) string {
	for _, c := range cs {
		if !slices.Contains(want, c.Code) {
			continue
		}
		switch {
		case c.Failures == 0 || c.Confidence == ConfidenceLow:
			return "the failures it would be measured from fit another cause as well, see the causes' alternatives"
		case c.Confidence == ConfidenceMedium:
			return "the failures were tied to the pods by a time window that rests on an assumption, not on the pods' own evidence"
		}
	}
	return ""
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
