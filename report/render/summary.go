package render

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// The summary is what a person reads in ten seconds: the verdict and the
// thresholds broken, each cause with its confidence, failures and
// evidence, the fixes with their numbers, the load and the rollout, the
// pods in a line or two, and where the rest is. The text report prints it
// by default and the HTML report opens on it; --details prints every table.

// maxSummaryLines is the most lines the default text takes, whatever the
// number of pods, causes or steps: when the first layout is longer, the
// summary is laid out again with less of each part (summaryLevels).
const maxSummaryLines = 40

// summaryLevel bounds each part of the summary; the first level whose
// layout fits maxSummaryLines is printed.
type summaryLevel struct {
	reasons, causes, evidence, why, fixes, pods, steps int
	// alternatives shows the causes that only fit failures counted under
	// another cause (whose "fits as well" line names them already).
	alternatives bool
}

var summaryLevels = []summaryLevel{
	{reasons: 4, causes: 4, evidence: 3, why: 2, fixes: 4, pods: 5, steps: 5, alternatives: true},
	{reasons: 3, causes: 3, evidence: 3, why: 1, fixes: 4, pods: 2, steps: 3, alternatives: true},
	{reasons: 3, causes: 3, evidence: 2, why: 0, fixes: 3, pods: 1, steps: 2},
	{reasons: 2, causes: 2, evidence: 2, why: 0, fixes: 3, pods: 0, steps: 1},
	{reasons: 2, causes: 2, evidence: 1, why: 0, fixes: 2, pods: 0, steps: 1},
}

// summary is the content of the short report, before it is laid out.
type summary struct {
	Verdict     report.Verdict
	Subject     string   // "deployment/web (restart) in namespace default"
	Reasons     []string // thresholds broken, then what the run did not see
	Attribution string   // how the failures were tied to pods
	Causes      []summaryCause
	Fixes       []report.Recommendation // the recommendations that still apply
	Right       []string                // settings already as recommended
	Preflight   string                  // "3 findings (1 error): rule, rule"
	Front       string                  // "Front     kube-proxy (--front)"; "" when the report has none
	Load        string
	Streams     string
	Rollout     string
	Steps       string
	FailedSteps []string
	Weights     string // a weighted canary's route and shares; "" for other runs
	Drain       string // a node drain's evictions and replacements; "" for other runs
	KubeProxy   string // each node's kube-proxy's slowest lag behind a removal; "" when not read
	Attackers   string
	Measured    string
	Pods        []string     // one line per pod kind: "4 old pods: ..."
	FailedPods  []summaryPod // the pods that failed requests, worst first
	QuietPods   int          // the pods that failed none
}

type summaryCause struct {
	Code       string
	Own        bool // it counts failures of its own (not only ones it fits as well)
	Confidence report.Confidence
	Failed     string // "52 failed (38 refused, 14 502), +12.15s to +14.00s"
	Evidence   string
	Also       string // the causes that fit as well
}

type summaryPod struct {
	Pod      string
	Failures int
	Detail   string
}

// summarize reads a report into its summary.
func summarize(r *report.Report) summary {
	t0 := r.Start()
	s := summary{
		Verdict: r.Verdict,
		Subject: fmt.Sprintf("%s (%s) in namespace %s", r.Workload(), r.Rollout.Action, r.Rollout.Namespace),
		Reasons: append(slices.Clone(r.Reasons), prefixed("and the run did not see all: ", r.Unseen())...),
		Front:   frontLine(r),
		Load:    loadLine(r),
		Rollout: rolloutLine(r, t0),
	}
	if r.Interrupted {
		s.Subject += " [interrupted: partial report]"
	}
	if len(r.Causes) > 0 {
		s.Attribution = attributionText(r.Attribution)
	}
	for _, c := range r.Causes {
		sc := summaryCause{Code: string(c.Code), Own: c.Failures > 0, Confidence: c.Confidence, Evidence: c.Evidence,
			Failed: fmt.Sprintf("%s%s, %s to %s", failedText(c), classesText(c.ByClass), format.Offset(t0, c.From), format.Offset(t0, c.To))}
		var also []string
		for _, a := range c.Alternatives {
			also = append(also, fmt.Sprintf("%s (%d)", a.Code, a.Failures))
		}
		if len(also) > 0 {
			sc.Also = "fits as well: " + strings.Join(also, ", ")
		}
		s.Causes = append(s.Causes, sc)
	}
	for _, rec := range r.Recommendations {
		if rec.Satisfied {
			s.Right = append(s.Right, fmt.Sprintf("%s (%s)", shortField(rec.Field), rec.Current))
			continue
		}
		s.Fixes = append(s.Fixes, rec)
	}
	s.Preflight = preflightText(r)
	if c := r.Connections; c != nil && c.Mode == "both" {
		s.Streams = "Streams   " + streamsText(c)
	}
	if r.StepSummary != nil {
		s.Steps = summaryLine(r.StepSummary)
		for _, st := range r.Steps {
			if !st.Passed {
				why := fmt.Sprintf("%d of %d requests failed", st.Failures, st.Requests)
				if !st.Completed {
					why = "incomplete: " + st.Reason
				}
				s.FailedSteps = append(s.FailedSteps, fmt.Sprintf("%s (%s): %s", st.Name, format.Dash(st.Detail), why))
			}
		}
	}
	s.Weights = weightsLine(r)
	s.Drain = drainLine(r, t0)
	s.KubeProxy = kubeProxyLine(r)
	s.Attackers = attackersText(r)
	s.Measured = measuredText(r.Measurements)
	s.Pods, s.FailedPods, s.QuietPods = podsText(r)
	return s
}

func prefixed(prefix string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = prefix + s
	}
	return out
}

func attributionText(a string) string {
	switch a {
	case report.ByTimeWindow:
		return "attributed by time window: the failures carried no pod header"
	case report.ByBoth:
		return "attributed by pod header where present, else by time window"
	case report.ByPodHeader:
		return "attributed by pod header"
	}
	return ""
}

// classesText is a cause's failures by class, most first: " (38 refused,
// 14 502)"; "" for one class, which the evidence names.
func classesText(by map[string]int) string {
	if len(by) < 2 {
		return ""
	}
	classes := make([]string, 0, len(by))
	for c := range by {
		classes = append(classes, c)
	}
	sort.Slice(classes, func(i, j int) bool {
		if by[classes[i]] != by[classes[j]] {
			return by[classes[i]] > by[classes[j]]
		}
		return classes[i] < classes[j]
	})
	parts := make([]string, len(classes))
	for i, c := range classes {
		parts[i] = fmt.Sprintf("%d %s", by[c], c)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// shortField is a recommendation's field without the pod template's path,
// which every such field shares.
func shortField(f string) string { return strings.TrimPrefix(f, "spec.template.spec.") }

// frontLine says which front the run assumed and how it knew: "" for a
// report without one (written before fronts were recorded).
func frontLine(r *report.Report) string {
	f := r.Front
	if f == nil {
		return ""
	}
	if !f.Inferred {
		return fmt.Sprintf("Front     %s (--front)", f.Name)
	}
	return fmt.Sprintf("Front     %s (inferred: %s)", f.Name, f.Why)
}

func loadLine(r *report.Report) string {
	l := r.Load
	over := ""
	if l.HTTP2 {
		over = " over HTTP/2"
	}
	return fmt.Sprintf("Load      %s%s at %.1f/s asked, %.1f/s achieved: %d requests, %d failed (%.2f%% success), p50 %s p99 %s",
		strings.Join(l.Targets, ", "), over, l.Rate, l.AchievedRate, l.Requests, l.Failures, 100*l.SuccessRatio, format.Secs(l.LatencyP50), format.Secs(l.LatencyP99))
}

// connsLine says how many kept-alive connections the load held and which
// pods answered on them: pinned to one pod each (an L4 front, HTTP/2), or
// spread over several (an L7 front routing each request). "" when no
// connection was seen.
func connsLine(c *attack.ConnCount) string {
	if c == nil {
		return ""
	}
	line := fmt.Sprintf("Conns     %d kept-alive connection%s", c.Opened, format.Pick(c.Opened == 1, "", "s"))
	if pods := c.Pods(); len(pods) > 0 {
		parts := make([]string, len(pods))
		for i, p := range pods {
			parts[i] = fmt.Sprintf("%s %d", p, c.ByPod[p])
		}
		line += "; first answered on by " + strings.Join(parts, ", ")
	}
	if c.Spread > 0 {
		line += fmt.Sprintf("; %d answered by more than one pod (the front routes each request anew)", c.Spread)
	} else if len(c.ByPod) > 0 {
		line += "; each answered by one pod only (pinned: an L4 front or HTTP/2)"
	}
	return line
}

func preflightText(r *report.Report) string {
	if len(r.Preflight) == 0 {
		return ""
	}
	by := map[string]int{}
	var rules []string
	for _, f := range r.Preflight {
		by[string(f.Severity)]++
		if !slices.Contains(rules, f.Rule) {
			rules = append(rules, f.Rule)
		}
	}
	var counts []string
	for _, sev := range []string{"error", "warning", "info"} {
		if by[sev] > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", by[sev], sev))
		}
	}
	return fmt.Sprintf("Preflight %d findings (%s): %s", len(r.Preflight), strings.Join(counts, ", "), strings.Join(rules, ", "))
}

func attackersText(r *report.Report) string {
	if len(r.Attackers) == 0 {
		return ""
	}
	ok := 0
	var bad []string
	for _, a := range r.Attackers {
		if a.Problem == "" {
			ok++
		} else {
			bad = append(bad, a.Pod+" "+a.Problem)
		}
	}
	line := fmt.Sprintf("Attackers %d pods, %d ok", len(r.Attackers), ok)
	if len(bad) > 0 {
		line += "; " + strings.Join(bad, "; ")
	}
	return line
}

func measuredText(m report.Measurements) string {
	var parts []string
	if m.MinReadyEndpoints != nil {
		parts = append(parts, fmt.Sprintf("min ready endpoints during the rollout %d", *m.MinReadyEndpoints))
	}
	if m.NoReadySeconds != nil && *m.NoReadySeconds > 0 {
		parts = append(parts, fmt.Sprintf("no ready endpoint for %.1fs", *m.NoReadySeconds))
	}
	switch {
	case m.MaxRoutingLag != nil && m.MaxRoutingLagUpTo != nil:
		parts = append(parts, fmt.Sprintf("largest routing lag %.2fs, perhaps up to %.2fs", *m.MaxRoutingLag, *m.MaxRoutingLagUpTo))
	case m.MaxRoutingLag != nil:
		parts = append(parts, fmt.Sprintf("largest routing lag %.2fs", *m.MaxRoutingLag))
	}
	if m.MaxShutdown != nil {
		parts = append(parts, fmt.Sprintf("longest shutdown %.2fs", *m.MaxShutdown))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Measured  " + strings.Join(parts, ", ")
}

// span prints the range of the known values of vs: "0.20–1.00 s", or one
// value; "" when none is known.
func span(vs []*float64) string {
	lo, hi, n := 0.0, 0.0, 0
	for _, v := range vs {
		if v == nil {
			continue
		}
		if n == 0 || *v < lo {
			lo = *v
		}
		if n == 0 || *v > hi {
			hi = *v
		}
		n++
	}
	switch {
	case n == 0:
		return ""
	case fmt.Sprintf("%.2f", lo) == fmt.Sprintf("%.2f", hi):
		return fmt.Sprintf("%.2f s", lo)
	}
	return fmt.Sprintf("%.2f–%.2f s", lo, hi)
}

func maxOf(vs []*float64) *float64 {
	var m *float64
	for _, v := range vs {
		if v != nil && (m == nil || *v > *m) {
			m = v
		}
	}
	return m
}

func plural(n int, one, many string) string { return fmt.Sprintf("%d %s", n, pluralWord(n, one, many)) }

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// podsText summarises the pods that went and came, then lists the pods
// that failed requests, worst first, and counts the others.
func podsText(r *report.Report) (kinds []string, failed []summaryPod, quiet int) {
	m := r.Measurements
	detail := map[string]string{}
	fails := map[string]int{}
	if n := len(m.TerminatingPods); n > 0 {
		var exits, lags []*float64
		var codes []string // the non-zero exit codes
		for _, tp := range m.TerminatingPods {
			// When the exit was seen late (a real kubelet), the bounds
			// from the container's finishedAt say when it was.
			lo, hi := tp.DeletionToExit, tp.DeletionToExit
			if tp.DeletionToExitMin != nil && tp.DeletionToExitMax != nil {
				lo, hi = tp.DeletionToExitMin, tp.DeletionToExitMax
			}
			exits = append(exits, lo, hi)
			lags = append(lags, tp.RoutingLag)
			if c := tp.ExitCode; c != nil && *c != 0 && !slices.Contains(codes, fmt.Sprint(*c)) {
				codes = append(codes, fmt.Sprint(*c))
			}
			var d []string
			if e := span([]*float64{lo, hi}); e != "" {
				d = append(d, "exited "+e+" after deletion")
			}
			if tp.ExitCode != nil && *tp.ExitCode != 0 {
				d = append(d, fmt.Sprintf("code %d", *tp.ExitCode))
			}
			switch {
			case tp.RoutingLag != nil && tp.RoutingLagUpTo != nil:
				d = append(d, fmt.Sprintf("routed %.2f s (perhaps %.2f s) after not-ready", *tp.RoutingLag, *tp.RoutingLagUpTo))
			case tp.RoutingLag != nil:
				d = append(d, fmt.Sprintf("routed %.2f s after not-ready", *tp.RoutingLag))
			}
			detail[tp.Pod] = "old pod: " + strings.Join(d, ", ")
			fails[tp.Pod] = tp.Failures
		}
		var parts []string
		if e := span(exits); e != "" {
			parts = append(parts, "exit "+e+" after deletion")
		}
		if len(codes) > 0 {
			parts = append(parts, "exit code "+strings.Join(codes, ", "))
		}
		switch l, u := maxOf(lags), m.MaxRoutingLagUpTo; {
		case l != nil && u != nil:
			parts = append(parts, fmt.Sprintf("routed up to %.2f s (perhaps %.2f s) after not-ready", *l, *u))
		case l != nil:
			parts = append(parts, fmt.Sprintf("routed up to %.2f s after not-ready", *l))
		}
		kinds = append(kinds, plural(n, "old pod", "old pods")+": "+format.Dash(strings.Join(parts, ", ")))
	}
	if n := len(m.NewPods); n > 0 {
		var ready []*float64
		for _, np := range m.NewPods {
			ready = append(ready, np.CreatedToReady)
			if np.CreatedToReady != nil {
				detail[np.Pod] = fmt.Sprintf("new pod: Ready %.2f s after creation", *np.CreatedToReady)
			} else {
				detail[np.Pod] = "new pod: never Ready in the run"
			}
			fails[np.Pod] = max(fails[np.Pod], np.Failures)
		}
		line := plural(n, "new pod", "new pods")
		if s := span(ready); s != "" {
			line += ": Ready " + s + " after creation"
		}
		kinds = append(kinds, line)
	}
	for pod, n := range r.FailuresByPod {
		fails[pod] = max(fails[pod], n)
	}
	nodes := r.PodNodes()
	distinct := map[string]bool{}
	for _, n := range nodes {
		distinct[n] = true
	}
	for pod, n := range fails {
		if n == 0 {
			quiet++
			continue
		}
		d := detail[pod]
		if node := nodes[pod]; node != "" && len(distinct) > 1 {
			// Where the pods ran on more than one Node, each says its own.
			d = strings.Replace(d, "pod:", "pod on "+node+":", 1)
			if d == "" {
				d = "on " + node
			}
		}
		failed = append(failed, summaryPod{Pod: pod, Failures: n, Detail: d})
	}
	sort.Slice(failed, func(i, j int) bool {
		if failed[i].Failures != failed[j].Failures {
			return failed[i].Failures > failed[j].Failures
		}
		return failed[i].Pod < failed[j].Pod
	})
	return kinds, failed, quiet
}
