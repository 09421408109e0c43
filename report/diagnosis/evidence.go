package diagnosis

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/report/internal/format"
)

// top returns the pod with the most failures (ties by name).
func top(m map[string]int) string {
	best, n := "", -1
	for k, v := range m {
		if v > n || v == n && k < best {
			best, n = k, v
		}
	}
	return best
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// classList renders failure counts by class, most first: "30 refused, 7 502".
func classList(m map[string]int) string {
	ks := sortedKeys(m)
	sort.SliceStable(ks, func(i, j int) bool { return m[ks[i]] > m[ks[j]] })
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

func andMore(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return " (and 1 more pod)"
	}
	return fmt.Sprintf(" (and %d more pods)", n)
}

// cause builds the accumulated cause with one checkable sentence about the
// pod that failed the most requests.
func (c *causeAcc) cause(pods map[string]*life, steps readySteps, t0 time.Time, preStop time.Duration, m Measurements, w *weigher) Cause {
	if c.failures == 0 {
		return c.alternativeOnly(pods, t0)
	}
	out := Cause{Code: c.code, Failures: c.failures, Pods: sortedKeys(c.pods), From: c.from, To: c.to, ByClass: c.byClass,
		Confidence: c.confidence(), Basis: c.bases(), AlsoExplains: c.also}
	for _, code := range sortedCodes(c.alts) {
		al := c.alts[code]
		out.Alternatives = append(out.Alternatives, Alternative{Code: code, Pods: sortedKeys(al.pods), Failures: al.n})
	}
	if len(out.Alternatives) > 0 {
		out.SeparateBy = separateBy(w)
	}
	name := top(c.pods)
	p := pods[name]
	e := telling{c: c, p: p, name: name, more: andMore(len(c.pods) - 1), classes: classList(c.byClass), t0: t0,
		window: fmt.Sprintf("%s to %s", format.Offset(t0, c.from), format.Offset(t0, c.to)), fm: w.front, drain: w.drain, servers: serversText(w.stopsAtOnce)}
	switch c.code {
	case TerminatingPodStillRouted, LBDeregistrationLag:
		out.Evidence = e.routed(preStop)
	case KubeProxyLag:
		out.Evidence = e.proxyLag(w.lags)
	case NodeTargetDeregistration:
		out.Evidence = e.nodeTarget(w.nodeTargets, w.gaps)
	case InflightCut:
		out.Evidence = e.inflight()
	case KeptConnectionClosed:
		out.Evidence = e.kept()
	case NoReadyEndpoints, DrainNoReadyEndpoints:
		out.Evidence = e.noReady(steps, m)
	case NewPodNotServing:
		out.Evidence = e.newPod()
	case DrainTooFewReadyPods:
		out.Evidence = e.overloaded(w.overload)
	case SidecarStoppedFirst:
		out.Evidence = e.sidecarText()
	case AppReadyBeforeSidecar:
		out.Evidence = e.readyBeforeSidecarText(w.containers)
	case HTTP2ClosedWithoutGoaway:
		out.Evidence = e.noGoaway(w.goaways)
	default:
		out.Evidence = e.unattributed()
	}
	return out
}

// shared counts the failures of the cause that fit another as well.
func (c *causeAcc) shared() int {
	n := 0
	for _, al := range c.alts {
		n += al.n
	}
	return n
}

// bases lists what the cause rests on.
func (c *causeAcc) bases() []string {
	out := slices.Clone(c.basis)
	if c.more > 0 {
		out = append(out, fmt.Sprintf("and %d more", c.more))
	}
	return out
}

// alternativeOnly is a cause named only because it fits failures counted
// under another cause as well.
func (c *causeAcc) alternativeOnly(pods map[string]*life, t0 time.Time) Cause {
	out := Cause{Code: c.code, Pods: sortedKeys(c.alsoPods), From: c.alsoFrom, To: c.alsoTo, ByClass: map[string]int{},
		Confidence: ConfidenceLow, AlsoExplains: c.also}
	name := top(c.alsoPods)
	p := pods[name]
	what := ""
	switch c.code {
	case TerminatingPodStillRouted, LBDeregistrationLag:
		what = fmt.Sprintf("%s was terminating (deleted at %s", name, format.Offset(t0, p.del))
		if !p.exited.IsZero() {
			what += fmt.Sprintf(", exited at %s", format.Offset(t0, p.exited))
		}
		what += ") and the load balancer may still have routed requests to it"
	case NewPodNotServing:
		what = fmt.Sprintf("%s was Ready since %s and may not have served yet", name, format.Offset(t0, p.ready))
	default:
		what = name
	}
	out.Evidence = fmt.Sprintf("%s: %d failures from %s to %s fit this cause as well as the one they are counted under%s; no number is computed from them",
		what, c.also, format.Offset(t0, c.alsoFrom), format.Offset(t0, c.alsoTo), andMore(len(c.alsoPods)-1))
	out.Basis = []string{"fits failures counted under another cause; the evidence does not separate the two"}
	return out
}

// separateBy says what would tell a routed old pod from a new pod that did
// not serve yet, given what the run had.
func separateBy(w *weigher) []string {
	out := []string{"a pod header on the load balancer's own answers (it names the failing target)"}
	if !w.headers {
		out = append(out, "the app's pod header on successful responses (a new pod's first success and an old pod's last one bound their windows)")
	}
	return append(out, "a readiness probe that passes only once the app serves (a new pod then takes no traffic before it serves, so what remains is the old pods')")
}

func sortedCodes[V any](m map[CauseCode]V) []CauseCode {
	out := make([]CauseCode, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func code(c *int32) string {
	if c == nil {
		return "?"
	}
	return strconv.Itoa(int(*c))
}

// telling is what the evidence of a cause says of it: the pod that failed
// the most requests (name, p), how many more pods failed some, the classes
// and the window of the failures.
type telling struct {
	c                   *causeAcc
	p                   *life
	name, more, classes string
	window              string
	t0                  time.Time
	fm                  frontModel
	drain               *Drain // the run's node drain, if it was one
	// servers says which containers SIGTERM stops at once ("": none).
	servers string
}

// unattributed is the evidence of failures no pod explains.
func (e telling) unattributed() string {
	c, p, name, classes, window := e.c, e.p, e.name, e.classes, e.window
	ev := fmt.Sprintf("%d requests failed (%s) from %s with no pod starting or terminating around them", c.failures, classes, window)
	if len(c.pods) > 0 {
		ev += fmt.Sprintf("; the response named %s, then in phase %s", name, p.phase(c.from))
	}
	return ev
}
