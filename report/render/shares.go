package render

import (
	"fmt"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// weightsLine is a weighted canary in one line: the route, its Services,
// what the run left on it, and the canary's share each step received
// beside the weights asked; "" for other runs.
func weightsLine(r *report.Report) string {
	w := r.WeightedCanary
	if w == nil {
		return ""
	}
	var got []string
	for _, st := range r.Steps {
		if sh := st.Share; sh != nil {
			got = append(got, fmt.Sprintf("%s for %d/%d", receivedText(sh), sh.StableWeight, sh.CanaryWeight))
		}
	}
	line := fmt.Sprintf("Weights   httproute/%s (stable %s, canary %s; %s before, %s)", w.Route, w.StableService, w.CanaryService, w.OriginalWeights, w.Left)
	if len(got) > 0 {
		line += ": canary received " + strings.Join(got, ", ")
	}
	return line
}

// receivedText is the canary's share a step received: "10.2%", or
// "unknown" when no response named a pod of either Service.
func receivedText(sh *report.Share) string {
	if sh.CanaryPercent == nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f%%", *sh.CanaryPercent)
}

// writeShares is the table of a weighted canary's steps: the weights asked,
// the share each backend received by the pod header, and the requests whose
// backend is unknown because their response named no pod.
func writeShares(r *report.Report, p *format.Printer) {
	w := r.WeightedCanary
	if w == nil {
		return
	}
	p.Line(weightsLine(r))
	p.Table([]string{"step", "weights", "canary asked", "canary received", "stable " + w.StableService, "canary " + w.CanaryService, "other pods", "no pod named"}, func(add func(...any)) {
		for _, st := range r.Steps {
			sh := st.Share
			if sh == nil {
				continue
			}
			got := receivedText(sh)
			if sh.Unknown != "" {
				got += ": " + sh.Unknown
			}
			add(st.Name, fmt.Sprintf("%d/%d", sh.StableWeight, sh.CanaryWeight), fmt.Sprintf("%.1f%%", sh.AskedCanaryPercent), got,
				sh.StableResponses, sh.CanaryResponses, sh.OtherResponses, format.Dash(unnamedText(sh)))
		}
	})
}

// unnamedText counts the requests whose backend is unknown; "" for none.
func unnamedText(sh *report.Share) string {
	if sh.Unnamed == 0 {
		return ""
	}
	return fmt.Sprintf("%d (backend unknown)", sh.Unnamed)
}

// drainLine is a node drain in one line: the pods it evicted, where their
// replacements became ready, the budgets that refused and how the node was
// left; "" for other runs.
func drainLine(r *report.Report, t0 time.Time) string {
	d := r.Drain
	if d == nil {
		return ""
	}
	line := fmt.Sprintf("Drain     node/%s", d.Node)
	if !d.Drained {
		line += " did not finish"
	}
	evicted := "no pod"
	if len(d.Evicted) > 0 {
		evicted = strings.Join(d.Evicted, ", ")
	}
	line += ": evicted " + evicted
	var repl []string
	for _, p := range d.Replacements {
		where := p.Node
		if where == "" {
			where = "not scheduled"
		}
		if p.ReadyAt != nil {
			repl = append(repl, fmt.Sprintf("%s on %s (ready at %s)", p.Pod, where, format.Offset(t0, *p.ReadyAt)))
		} else {
			repl = append(repl, fmt.Sprintf("%s on %s (not ready)", p.Pod, where))
		}
	}
	if len(repl) > 0 {
		line += "; replaced by " + strings.Join(repl, ", ")
	}
	if len(d.BlockingPDBs) > 0 {
		line += "; refused by PodDisruptionBudget " + strings.Join(d.BlockingPDBs, ", ")
	}
	pdbs := "none"
	if len(d.PDBs) > 0 {
		pdbs = strings.Join(d.PDBs, ", ")
	}
	line += "; the workload's PodDisruptionBudgets: " + pdbs
	if d.LeftCordoned {
		return line + "; the node is left cordoned"
	}
	return line + "; the node is schedulable again"
}

// kubeProxyLine says how long each node's kube-proxy took, at its
// slowest, to apply a removal from the ready endpoints.
func kubeProxyLine(r *report.Report) string {
	kp := r.KubeProxy
	if kp == nil {
		return ""
	}
	if len(kp.Nodes) == 0 {
		return "Kube-proxy lags withheld: " + format.Dash(kp.Withheld)
	}
	var parts []string
	for _, n := range kp.Nodes {
		switch {
		case n.Slowest == nil && n.Error != "":
			parts = append(parts, fmt.Sprintf("%s withheld (%s)", n.Name, n.Error))
		case n.Slowest == nil:
			parts = append(parts, n.Name+" none measured")
		case n.Precise:
			parts = append(parts, fmt.Sprintf("%s %.2f s", n.Name, *n.Slowest))
		default:
			parts = append(parts, fmt.Sprintf("%s %.2f to %.2f s", n.Name, *n.AtLeast, *n.Slowest))
		}
	}
	return fmt.Sprintf("Kube-proxy slowest lag behind a removal, per node: %s", strings.Join(parts, ", "))
}
