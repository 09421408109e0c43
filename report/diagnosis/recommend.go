package diagnosis

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

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
	// emptyBackends are the backend Services of a weighted route that took
	// failures while they had weight and no ready endpoint.
	emptyBackends []emptyBackend
	// drain is a node drain's (Input.Drain): advice is about disruption
	// budgets and spread, not the rollout strategy.
	drain *Drain
	// overload is what DRAIN_TOO_FEW_READY_PODS measured (nil: no such
	// cause).
	overload *overload
	// stopSignals are the stop signals the kubelet reported for each
	// container's starts in the run (startedStopSignals).
	stopSignals map[string][]string
	// seen are the containers the run's events named, by name (sorted):
	// a mesh's webhook adds some that the template does not hold.
	seen []string
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
// measurements and the Deployment's current settings: for each family of
// causes in turn (preStop for routing, the grace period for cuts,
// maxUnavailable for no ready endpoint, readiness for new pods).
func recommend(s settings, causes []Cause, m Measurements, slowest time.Duration, nt *NodeTargets) []Recommendation {
	out := []Recommendation{}
	pre := preStopAdvice(s, causes, m)
	ntRecs, ntPre, ntTarget := nodeTargetAdvice(s, causes, nt)
	if len(ntPre) > 0 && (len(pre.recs) == 0 || pre.withheld != "" || ntTarget > pre.target) {
		// One preStop per container: the longer of the two.
		pre = preStop{recs: ntPre, target: max(pre.target, ntTarget)}
	}
	pre = serverStopAdvice(s, causes, m, slowest, pre)
	out = append(out, ntRecs...)
	out = append(out, pre.recs...)
	if g, ok := graceAdvice(s, causes, m, slowest, pre); ok {
		out = append(out, g)
	}
	out = append(out, keptAdvice(s, causes, m)...)
	out = append(out, noGoawayAdvice(s, causes)...)
	// The proxy's own preStop advice replaces the routing one for it: it
	// must outlast the app, which itself covers the routing.
	for _, r := range sidecarAdvice(s, causes, m, pre.target) {
		if i := slices.IndexFunc(out, func(o Recommendation) bool { return o.Field == r.Field }); i >= 0 {
			out[i] = r
		} else {
			out = append(out, r)
		}
	}
	out = append(out, noReadyAdvice(s, causes, m)...)
	out = append(out, newPodAdvice(s, causes, m)...)
	// The proxy's readiness advice, where the app was ready before it,
	// replaces the new pod's for that container.
	for _, r := range readyBeforeSidecarAdvice(s, causes, m) {
		if i := slices.IndexFunc(out, func(o Recommendation) bool { return o.Field == r.Field }); i >= 0 {
			out[i] = r
		} else {
			out = append(out, r)
		}
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
