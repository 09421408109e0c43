package render

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/internal/format"
	"github.com/rollcheck/rollcheck/rollout"
)

// TextOptions tune the human report.
type TextOptions struct {
	MaxFailures int // failure records listed with Details; default 10
	MaxEvents   int // timeline lines listed with Details; default 60
	// Width is the columns the text may take; 0 means no limit. Lines
	// wrap and tables fit it (wrapping cells, then leaving out columns).
	Width int
	// Details prints every table, the failures, the attribution and the
	// timeline; without it the text is the summary (summary.go).
	Details bool
	// Color paints the verdict, severities and causes of high confidence
	// with ANSI escapes, for a terminal.
	Color bool
	// DetailsHint is how the reader gets the details, named on the
	// summary's last line: "--details" when empty.
	DetailsHint string
	// Files are the report files written beside the text (the HTML first),
	// named on the summary's last line.
	Files []string
}

// WriteText renders the human summary: the verdict, the causes, the fixes,
// the load, the rollout and the pods in a few lines.
func WriteText(r *report.Report, w io.Writer) error {
	return TextOptions{}.Write(r, w)
}

// Write renders the human report with these options.
func (o TextOptions) Write(r *report.Report, w io.Writer) error {
	if o.MaxFailures == 0 {
		o.MaxFailures = 10
	}
	if o.MaxEvents == 0 {
		o.MaxEvents = 60
	}
	p := format.NewPrinter(w)
	p.Width = o.Width
	if !o.Details {
		for _, l := range o.summaryLines(summarize(r)) {
			p.Line(l)
		}
		return p.Err()
	}
	title := fmt.Sprintf("rollcheck: %s  %s (%s) in namespace %s", o.verdict(r.Verdict), r.Workload(), r.Rollout.Action, r.Rollout.Namespace)
	if r.Interrupted {
		title += "  [interrupted: partial report]"
	}
	p.Line(title)
	for _, reason := range r.Reasons {
		p.Line("  - " + reason)
	}
	for _, note := range r.Unseen() {
		p.Line("  - and the run did not see all: " + note)
	}
	p.Line("")
	t0 := r.Start()
	o.writeDiagnosis(r, p, t0)
	o.writePreflight(r, p)
	l := r.Load
	if f := frontLine(r); f != "" {
		p.Line(f)
	}
	p.Line(loadLine(r))
	if l := connsLine(r.Load.Conns); l != "" {
		p.Line(l)
	}
	p.Line(rolloutLine(r, t0))
	p.Line(fmt.Sprintf("Disrupted %.1fs (buckets of %s with a failure)", r.DisruptedSeconds, format.Secs(r.BucketWidth)))
	if r.StepSummary != nil {
		p.Line(summaryLine(r.StepSummary))
	}
	p.Line("")
	if len(r.Steps) > 0 {
		p.Table([]string{"step", "action", "from", "to", "rollout", "requests", "failed", "disrupted", "result"}, func(add func(...any)) {
			for _, s := range r.Steps {
				rollout := format.Took(s.RolloutSeconds)
				if !s.Completed {
					rollout = "incomplete: " + s.Reason
				}
				add(s.Name, format.Dash(s.Detail), format.Offset(t0, s.Start), format.Offset(t0, s.End), rollout, s.Requests, s.Failures, fmt.Sprintf("%.1fs", s.DisruptedSeconds), format.Pick(s.Passed, "PASS", "FAIL"))
			}
		})
	}
	writeShares(r, p)

	writeAttackers(r, p)
	p.Table([]string{"phase", "from", "to", "requests", "failed"}, func(add func(...any)) {
		for _, ph := range r.Phases {
			add(ph.Name, format.Offset(t0, ph.Start), format.Offset(t0, ph.End), ph.Requests, ph.Failures)
		}
	})
	if classes := r.SortedClasses(); len(classes) > 0 {
		p.Table([]string{"failure class", "requests", "share of failures"}, func(add func(...any)) {
			for _, c := range classes {
				n := r.Load.ByClass[c]
				add(c, n, fmt.Sprintf("%.1f%%", 100*float64(n)/float64(max(1, l.Failures))))
			}
		})
	}
	writeConnections(r, p)
	if len(r.FailuresByPod) > 0 {
		pods := make([]string, 0, len(r.FailuresByPod))
		for pod := range r.FailuresByPod {
			pods = append(pods, pod)
		}
		sort.Strings(pods)
		p.Table([]string{"pod (from response header)", "failed requests"}, func(add func(...any)) {
			for _, pod := range pods {
				add(pod, r.FailuresByPod[pod])
			}
		})
	}
	writeMeasurements(r, p)
	if len(r.Attributed) > 0 {
		// The pods' Nodes, where the run's pods ran on more than one.
		nodes := map[string]bool{}
		for _, n := range r.PodNodes() {
			nodes[n] = true
		}
		head := []string{"pod", "phase", "attributed by", "cause", "confidence", "fits as well", "failed", "from", "to"}
		if len(nodes) > 1 {
			head = slices.Insert(head, 1, "node")
		}
		p.Table(head, func(add func(...any)) {
			for _, g := range r.Attributed {
				row := []any{format.Dash(g.Pod), format.Dash(g.Phase), format.Dash(g.By), string(g.Cause), format.Dash(string(g.Confidence)), format.Dash(g.Alternative), g.Failures, format.Offset(t0, g.From), format.Offset(t0, g.To)}
				if len(nodes) > 1 {
					row = slices.Insert(row, 1, any(format.Dash(g.Node)))
				}
				add(row...)
			}
		})
	}
	if len(r.Failures) > 0 {
		n := min(o.MaxFailures, len(r.Failures))
		p.Line(fmt.Sprintf("First %d of %d failures:", n, l.Failures))
		// With two load streams (--connections both), which one sent
		// each failure: "a new connection was refused" and "a kept
		// connection was reset" read apart.
		streams := r.Connections != nil && len(r.Connections.Streams) > 1
		head := []string{"at", "class", "code", "pod", "reused conn", "error"}
		if streams {
			head = slices.Insert(head, 4, "stream")
		}
		p.Table(head, func(add func(...any)) {
			for _, f := range r.Failures[:n] {
				row := []any{format.Offset(t0, f.Time), string(f.Class), f.Code, format.Dash(f.Pod), f.Reused, format.Dash(format.Truncate(f.Error, 70))}
				if streams {
					row = slices.Insert(row, 4, any(format.Dash(string(f.Stream))))
				}
				add(row...)
			}
		})
	}
	if evs := podEvents(r); len(evs) > 0 {
		n := min(o.MaxEvents, len(evs))
		p.Line(fmt.Sprintf("Timeline (%d of %d events, time since the load began):", n, len(evs)))
		p.Table([]string{"at", "event", "object", "detail"}, func(add func(...any)) {
			for _, e := range evs[:n] {
				add(format.Offset(t0, e.Time), string(e.Type), eventObject(e), eventDetail(e))
			}
		})
	}
	return p.Err()
}

// rolloutLine says whether and when the rollout completed.
func rolloutLine(r *report.Report, t0 time.Time) string {
	ro := r.Rollout
	switch {
	case !ro.Triggered:
		return "Rollout   not triggered: " + ro.Reason
	case ro.Completed:
		line := fmt.Sprintf("Rollout   completed in %s (triggered at %s, complete at %s", format.Took(ro.Duration), format.Offset(t0, *ro.StartedAt), format.Offset(t0, *ro.CompletedAt))
		if ro.RemovedGoneAt != nil && ro.LoadEndedAt != nil {
			// When the old pods were gone, against the load's end: the
			// failures they cause can only be seen before it.
			line += fmt.Sprintf(", removed pods gone at %s, load ended at %s", format.Offset(t0, *ro.RemovedGoneAt), format.Offset(t0, *ro.LoadEndedAt))
		}
		return line + ")"
	}
	return fmt.Sprintf("Rollout   did not complete (triggered at %s): %s", format.Offset(t0, *ro.StartedAt), ro.Reason)
}

// podEvents are the timeline events worth showing a person: the noisy
// Deployment status updates and the snapshots of what existed before the
// watch are left to the JSON, except a deletion already under way.
func podEvents(r *report.Report) []rollout.Event {
	var out []rollout.Event
	for _, e := range r.Events {
		if e.Type == rollout.DeploymentUpdated || e.Initial && e.Type != rollout.DeletionRequested {
			continue
		}
		out = append(out, e)
	}
	return out
}

func eventObject(e rollout.Event) string {
	switch {
	case e.Pod != "":
		return "pod/" + e.Pod
	case e.ReplicaSet != "":
		return "rs/" + e.ReplicaSet
	case e.Deployment != "":
		return "deployment/" + e.Deployment
	case e.Service != "":
		return "svc/" + e.Service
	}
	return ""
}

func eventDetail(e rollout.Event) string {
	var parts []string
	if e.Ready != nil || e.Serving != nil || e.Terminating != nil {
		parts = append(parts, fmt.Sprintf("ready=%s serving=%s terminating=%s", b(e.Ready), b(e.Serving), b(e.Terminating)))
	}
	if e.Container != "" {
		parts = append(parts, "container "+e.Container)
	}
	if e.ExitCode != nil {
		parts = append(parts, fmt.Sprintf("exit %d", *e.ExitCode))
	}
	if e.Replicas != nil {
		parts = append(parts, fmt.Sprintf("replicas %d", *e.Replicas))
	}
	if e.Reason != "" {
		parts = append(parts, e.Reason)
	}
	if e.Detail != "" {
		parts = append(parts, e.Detail)
	}
	return format.Truncate(strings.Join(parts, ", "), 80)
}

func b(p *bool) string {
	if p == nil {
		return "?"
	}
	if *p {
		return "true"
	}
	return "false"
}

// writeDiagnosis prints the causes and the recommendations, the part of the
// report a person acts on, right after the verdict.
func (o TextOptions) writeDiagnosis(r *report.Report, p *format.Printer, t0 time.Time) {
	if len(r.Causes) > 0 {
		head := "Causes"
		switch r.Attribution {
		case report.ByTimeWindow:
			head += " (attributed by time window: the failures carried no pod header)"
		case report.ByBoth:
			head += " (attributed by pod header where present, else by time window)"
		case report.ByPodHeader:
			head += " (attributed by pod header)"
		}
		p.Line(head + ":")
		for _, c := range r.Causes {
			pods := ""
			if len(c.Pods) > 0 {
				pods = ", pods " + strings.Join(c.Pods, " ")
			}
			p.Line(fmt.Sprintf("  %s  %s, %s to %s%s%s", o.cause(c), failedText(c), format.Offset(t0, c.From), format.Offset(t0, c.To), pods, confText(c.Confidence)))
			p.Line("    " + c.Evidence)
			if w := weighText(c, "\n    "); w != "" {
				p.Line(w[1:])
			}
			if len(c.PredictedBy) > 0 {
				p.Line("    predicted by lint: " + strings.Join(c.PredictedBy, ", "))
			}
		}
		p.Line("")
	}
	if len(r.Recommendations) > 0 {
		p.Line("Recommendations:")
		for _, rec := range r.Recommendations {
			mark := "[ ]"
			if rec.Satisfied {
				mark = "[x]"
			}
			p.Line(fmt.Sprintf("  %s %s: %s -> %s", mark, rec.Field, rec.Current, rec.Suggested))
			p.Line("      " + rec.Why)
		}
		p.Line("")
	}
}

// failedText says how many failures a cause counts, and how many counted
// under other causes it fits as well.
func failedText(c report.Cause) string {
	switch {
	case c.Failures == 0 && c.AlsoExplains > 0:
		return fmt.Sprintf("fits %d failures counted under another cause", c.AlsoExplains)
	case c.AlsoExplains > 0:
		return fmt.Sprintf("%d failed (and fits %d counted under another cause)", c.Failures, c.AlsoExplains)
	}
	return fmt.Sprintf("%d failed", c.Failures)
}

// weighText lists what a cause rests on, the causes that fit its failures
// as well and what would tell them apart, each line after sep.
func weighText(c report.Cause, sep string) string {
	var b strings.Builder
	if len(c.Basis) > 0 {
		b.WriteString(sep + "rests on: " + strings.Join(c.Basis, "; "))
	}
	for _, alt := range c.Alternatives {
		fmt.Fprintf(&b, "%sfits as well: %s (%s) for %d of them", sep, alt.Code, strings.Join(alt.Pods, " "), alt.Failures)
	}
	if len(c.SeparateBy) > 0 {
		b.WriteString(sep + "to tell them apart: " + strings.Join(c.SeparateBy, "; "))
	}
	return b.String()
}

func confText(c report.Confidence) string {
	if c == "" {
		return "" // a report from before confidences
	}
	return "  [confidence " + string(c) + "]"
}

// writeMeasurements prints the per-pod lifecycle numbers.
func writeMeasurements(r *report.Report, p *format.Printer) {
	m := r.Measurements
	if line := measuredText(m); line != "" {
		p.Line(line)
		p.Line("")
	}
	if len(m.TerminatingPods) > 0 {
		p.Table([]string{"terminating pod", "del→unready", "del→removed", "del→exit", "exit", "del→first fail", "unready→last routed", "failed"}, func(add func(...any)) {
			for _, tp := range m.TerminatingPods {
				exit := "-"
				if tp.ExitCode != nil {
					exit = fmt.Sprint(*tp.ExitCode)
				}
				add(tp.Pod, fsec(tp.DeletionToUnready), fsec(tp.DeletionToRemoved), fsec(tp.DeletionToExit), exit, fsec(tp.DeletionToFirstFailure), lagSec(tp), tp.Failures)
			}
		})
	}
	if containerStops(m) {
		p.Table([]string{"terminating pod", "container", "del→exit", "exit", "order"}, func(add func(...any)) {
			for _, tp := range m.TerminatingPods {
				for i, c := range tp.Containers {
					exit := "-"
					if c.ExitCode != nil {
						exit = fmt.Sprint(*c.ExitCode)
					}
					order := fmt.Sprint(i + 1)
					if i > 0 && c.ExitMin < tp.Containers[i-1].ExitMax {
						order += " (bounds overlap the one before)"
					}
					add(tp.Pod, c.Name, secRange(c.ExitMin, c.ExitMax), exit, order)
				}
			}
		})
	}
	if len(m.NewPods) > 0 {
		p.Table([]string{"new pod", "created→ready", "ready→first success", "ready→last fail", "failed"}, func(add func(...any)) {
			for _, np := range m.NewPods {
				add(np.Pod, fsec(np.CreatedToReady), fsec(np.ReadyToFirstSuccess), fsec(np.ReadyToLastFailure), np.Failures)
			}
		})
	}
}

// containerStops reports whether a terminating pod had more than one
// container exit to show.
func containerStops(m report.Measurements) bool {
	for _, tp := range m.TerminatingPods {
		if len(tp.Containers) > 1 {
			return true
		}
	}
	return false
}

// secRange is a span known within [lo, hi] seconds.
func secRange(lo, hi float64) string {
	if hi-lo < 0.01 {
		return fmt.Sprintf("%.2fs", hi)
	}
	return fmt.Sprintf("%.2f–%.2fs", lo, hi)
}

// lagSec is a terminating pod's routing lag, with how long it may have
// lasted when failures that fit another explanation as well came later.
func lagSec(tp report.TerminatingPod) string {
	if tp.RoutingLagUpTo == nil {
		return fsec(tp.RoutingLag)
	}
	return fmt.Sprintf("%s (perhaps %s)", fsec(tp.RoutingLag), fsec(tp.RoutingLagUpTo))
}

func fsec(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2fs", *v)
}

// writeAttackers lists the attackers in the text report.
func writeAttackers(r *report.Report, p *format.Printer) {
	if len(r.Attackers) == 0 {
		return
	}
	p.Table([]string{"attacker", "node", "requests (cpu/mem)", "rate (share)", "clock offset", "state"}, func(add func(...any)) {
		for _, a := range r.Attackers {
			add(a.Pod, format.Dash(a.Node), a.CPURequest+"/"+a.MemoryRequest,
				fmt.Sprintf("%.1f/s (%.1f/s)", a.Achieved, a.Share),
				fmt.Sprintf("%+.1fms ± %.1fms (drift %.1fms)", 1000*a.OffsetSeconds, 1000*a.BoundSeconds, 1000*a.SpreadSeconds),
				format.Pick(a.Problem == "", "ok", a.Problem))
		}
	})
}

// failedClasses are the failing classes any kind saw, in the order of
// attack.FailureClasses.
func failedClasses(c *report.Connections) []string {
	var out []string
	for _, cl := range attack.FailureClasses {
		for _, k := range c.Kinds {
			if k.ByClass[string(cl)] > 0 {
				out = append(out, string(cl))
				break
			}
		}
	}
	return out
}

func failures(c *report.Connections) int {
	n := 0
	for _, k := range c.Kinds {
		n += k.Failures
	}
	return n
}

// streamsText is the streams' rates in one line: "reused 25.0/s of 25.0/s,
// new 24.9/s of 25.0/s".
func streamsText(c *report.Connections) string {
	parts := make([]string, len(c.Streams))
	for i, s := range c.Streams {
		parts[i] = fmt.Sprintf("%s %.1f/s of %.1f/s asked, %d failed", s.Stream, s.AchievedRate, s.Rate, s.Failures)
	}
	return strings.Join(parts, "; ")
}

// writeConnections prints, for a run of both streams, each stream's rate,
// and, when requests failed, the kind × class table.
func writeConnections(r *report.Report, p *format.Printer) {
	c := r.Connections
	if c == nil {
		return
	}
	if c.Mode == string(attack.ConnectionsBoth) {
		p.Line("Streams   " + streamsText(c))
	}
	if failures(c) == 0 {
		return
	}
	classes := failedClasses(c)
	header := append([]string{"stream", "connection", "requests", "failed"}, classes...)
	p.Line("Failures by connection kind (stream: the client that sent them; connection: reused if kept from an earlier request, else new):")
	p.Table(header, func(add func(...any)) {
		for _, k := range c.Kinds {
			row := []any{string(k.Stream), k.Connection, k.Requests, k.Failures}
			for _, cl := range classes {
				row = append(row, k.ByClass[cl])
			}
			add(row...)
		}
	})
}

// writePreflight lists the static findings (lint) of the run's Deployment.
func (o TextOptions) writePreflight(r *report.Report, p *format.Printer) {
	if len(r.Preflight) == 0 {
		return
	}
	p.Line(fmt.Sprintf("Preflight (rollcheck lint, %d findings):", len(r.Preflight)))
	for _, f := range r.Preflight {
		p.Line(fmt.Sprintf("  %s %s %s: %s -> %s", o.severity(string(f.Severity), 7), f.Rule, f.Path, f.Current, f.Suggested))
	}
	p.Line("")
}

// summaryLine phrases the aggregate for the text report.
func summaryLine(s *report.StepSummary) string {
	line := fmt.Sprintf("Steps     %d: %d completed, %d passed; %d requests failed in all", s.Steps, s.Completed, s.Passed, s.TotalFailures)
	if s.WorstStep != "" {
		line += fmt.Sprintf("; worst: %s with %d", s.WorstStep, s.WorstFailures)
	}
	return line
}
