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
	more := andMore(len(c.pods) - 1)
	classes := classList(c.byClass)
	window := fmt.Sprintf("%s to %s", format.Offset(t0, c.from), format.Offset(t0, c.to))
	switch c.code {
	case TerminatingPodStillRouted, LBDeregistrationLag:
		var b strings.Builder
		var parts []string
		if f := p.firstTermFail; !f.IsZero() && (p.exitHi.IsZero() || f.Before(p.exitLo)) {
			parts = append(parts, "stopped answering "+format.Sec(f.Sub(p.del))+" after deletion")
		}
		if !p.exited.IsZero() {
			parts = append(parts, fmt.Sprintf("exited (code %s) %s after deletion", code(p.exitCode), p.exitAfterDeletion()))
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "%s %s", name, strings.Join(parts, " and "))
			if c.code == LBDeregistrationLag && preStop > 0 {
				fmt.Fprintf(&b, " (preStop %s)", format.Sec(preStop))
			}
		} else {
			fmt.Fprintf(&b, "%s was being deleted", name)
		}
		ref, refName := p.unready, "its endpoint turned not-ready"
		if ref.IsZero() {
			ref, refName = p.del, "its deletion"
		}
		last := p.lastRouted
		if p.lastOK.After(last) {
			last = p.lastOK
		}
		switch {
		case !last.IsZero():
			fmt.Fprintf(&b, ", but requests still reached it until %s after %s", format.Sec(last.Sub(ref)), refName)
			if p.lastRoutedUnsure.After(last) {
				fmt.Fprintf(&b, " (and perhaps until %s: those failures fit another cause as well)", format.Sec(p.lastRoutedUnsure.Sub(ref)))
			}
		case !p.lastRoutedUnsure.IsZero():
			fmt.Fprintf(&b, "; failures that may be its came until %s after %s, but they fit another cause as well, so no routing lag is measured from them", format.Sec(p.lastRoutedUnsure.Sub(ref)), refName)
		}
		fmt.Fprintf(&b, "; %d requests failed (%s) from %s%s", c.failures, classes, window, more)
		out.Evidence = b.String()
	case InflightCut:
		out.Evidence = fmt.Sprintf("%s exited with code %s %s after deletion while %d requests were in flight (%s, %s)%s",
			name, code(p.exitCode), p.exitAfterDeletion(), c.failures, classes, window, more)
		if p.exitCode != nil && *p.exitCode == exitCodeKilled {
			out.Evidence += "; 137 is SIGKILL at the end of the grace period"
		}
	case NoReadyEndpoints:
		out.Evidence = fmt.Sprintf("%d requests got 503 from %s while the Service had 0 ready endpoints", c.failures, window)
		if n := steps.count(c.to); n > 0 {
			out.Evidence += fmt.Sprintf(" or had just regained them (%d ready at the last one, which the load balancer had not registered yet)", n)
		}
		if m.MinReadyEndpoints != nil {
			out.Evidence += fmt.Sprintf(" (minimum during the rollout: %d)", *m.MinReadyEndpoints)
		}
		if m.NoReadySeconds != nil && *m.NoReadySeconds > 0 {
			out.Evidence += fmt.Sprintf("; it had no ready endpoint for %.1fs in all", *m.NoReadySeconds)
		}
	case NewPodNotServing:
		var b strings.Builder
		switch {
		case !p.ready.IsZero() && !p.lastNewFail.IsZero():
			fmt.Fprintf(&b, "%s turned ready at %s and failed %d requests in the next %s", name, format.Offset(t0, p.ready), c.pods[name], format.Sec(p.lastNewFail.Sub(p.ready)))
			if !p.firstOK.IsZero() {
				fmt.Fprintf(&b, "; its first successful request came %s after ready", format.Sec(p.firstOK.Sub(p.ready)))
			}
		case !p.ready.IsZero():
			fmt.Fprintf(&b, "%s turned ready at %s; %d failures from %s to %s may be its", name, format.Offset(t0, p.ready), c.pods[name], format.Offset(t0, c.from), format.Offset(t0, c.to))
			if n := c.shared(); n > 0 {
				fmt.Fprintf(&b, " (%d of them fit another cause as well)", n)
			} else {
				b.WriteString(" (no success named a pod, so when it began to serve is unknown)")
			}
		default:
			fmt.Fprintf(&b, "%s failed %d requests before it was ever ready", name, c.pods[name])
		}
		fmt.Fprintf(&b, "; %d failed in all (%s)%s", c.failures, classes, more)
		out.Evidence = b.String()
	default:
		out.Evidence = fmt.Sprintf("%d requests failed (%s) from %s with no pod starting or terminating around them", c.failures, classes, window)
		if len(c.pods) > 0 {
			out.Evidence += fmt.Sprintf("; the response named %s, then in phase %s", name, p.phase(c.from))
		}
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
