package report

import (
	"sort"
	"time"

	"github.com/rollcheck/rollcheck/kubeproxy"
	"github.com/rollcheck/rollcheck/report/diagnosis"
	"github.com/rollcheck/rollcheck/rollout"
)

// KubeProxyInput is what the run read of each node's kube-proxy (nil: it
// did not try).
type KubeProxyInput struct {
	Nodes []kubeproxy.Node
	// Withheld says why no node was read ("" when some were).
	Withheld string
}

// KubeProxy is when each node's kube-proxy applied the removal of each
// pod the run took out of the ready endpoints: the lag of its rules
// behind the EndpointSlice, which decides where a new connection through
// that node goes meanwhile.
type KubeProxy struct {
	Withheld string          `json:"withheld,omitempty"`
	Nodes    []KubeProxyNode `json:"nodes"`
	Removals []ProxyRemoval  `json:"removals,omitempty"`
}

// KubeProxyNode is one node's kube-proxy over the run.
type KubeProxyNode struct {
	Name  string `json:"name"`
	Polls int    `json:"polls"`
	Syncs int    `json:"syncs"` // syncs seen to end during the run
	Error string `json:"error,omitempty"`
	// Slowest is its lag behind the removal it surely took longest over
	// (nil: none measured), AtLeast the shortest that lag can have been.
	Slowest *float64 `json:"slowest_lag_seconds,omitempty"`
	AtLeast *float64 `json:"slowest_lag_at_least_seconds,omitempty"`
	// Precise: Slowest is known within a quarter of itself.
	Precise bool `json:"precise,omitempty"`
}

// ProxyRemoval is one pod's endpoint leaving the ready set, and when each
// node applied it.
type ProxyRemoval struct {
	Pod     string              `json:"pod"`
	Node    string              `json:"node,omitempty"` // the pod's own node
	Changed time.Time           `json:"changed"`
	Applied []kubeproxy.Applied `json:"applied"`
}

// removals are the times each pod that was deleted or evicted left the
// ready endpoints (its endpoint turned not ready, or left the slices),
// by pod, as the timeline saw them.
func removals(events []rollout.Event) map[string]time.Time {
	leaving := map[string]bool{}
	out := map[string]time.Time{}
	for _, e := range events {
		switch e.Type {
		case rollout.DeletionRequested, rollout.PodEvicted:
			if !e.Initial {
				leaving[e.Pod] = true
			}
		case rollout.EndpointChanged, rollout.EndpointRemoved:
			if !leaving[e.Pod] || e.Initial {
				continue
			}
			if _, done := out[e.Pod]; done {
				continue
			}
			if e.Type == rollout.EndpointRemoved || (e.Ready != nil && !*e.Ready) {
				out[e.Pod] = e.Time
			}
		}
	}
	return out
}

// buildKubeProxy says, for each removal, when each node applied it.
func buildKubeProxy(in *KubeProxyInput, events []rollout.Event) *KubeProxy {
	if in == nil {
		return nil
	}
	kp := &KubeProxy{Withheld: in.Withheld, Nodes: []KubeProxyNode{}}
	if len(in.Nodes) == 0 {
		return kp // no node read: no removal can be placed
	}
	gone := removals(events)
	nodes := podNodes(events)
	pods := make([]string, 0, len(gone))
	for p := range gone {
		pods = append(pods, p)
	}
	sort.Slice(pods, func(i, j int) bool { return gone[pods[i]].Before(gone[pods[j]]) })
	slowest := map[string]kubeproxy.Applied{}
	for _, p := range pods {
		r := ProxyRemoval{Pod: p, Node: nodes[p], Changed: gone[p], Applied: []kubeproxy.Applied{}}
		for _, n := range in.Nodes {
			a := n.AppliedAt(gone[p])
			r.Applied = append(r.Applied, a)
			// The slowest is the one surely slowest: the largest shortest
			// lag (a wide range's top is not a measurement), then the
			// largest longest.
			if s, ok := slowest[n.Name]; a.Lag != nil && (!ok || a.AtLeast > s.AtLeast || a.AtLeast == s.AtLeast && *a.Lag > *s.Lag) {
				slowest[n.Name] = a
			}
		}
		kp.Removals = append(kp.Removals, r)
	}
	for _, n := range in.Nodes {
		kn := KubeProxyNode{Name: n.Name, Polls: n.Polls, Syncs: len(n.Syncs), Error: n.Err}
		if a, ok := slowest[n.Name]; ok {
			s, l := a.Lag.Seconds(), a.AtLeast.Seconds()
			kn.Slowest, kn.AtLeast, kn.Precise = &s, &l, a.Precise()
		}
		kp.Nodes = append(kp.Nodes, kn)
	}
	return kp
}

// proxyLags is what the diagnosis reads of the kube-proxies: when each
// node applied each removal, on kube-proxy's receipt of it.
func proxyLags(kp *KubeProxy) []diagnosis.ProxyLag {
	if kp == nil {
		return nil
	}
	var out []diagnosis.ProxyLag
	for _, r := range kp.Removals {
		for _, a := range r.Applied {
			if a.At == nil || a.Lag == nil {
				continue
			}
			changed := a.At.Add(-*a.Lag)
			out = append(out, diagnosis.ProxyLag{Pod: r.Pod, Node: a.Node, Changed: changed, Earliest: changed.Add(a.AtLeast), Applied: *a.At, Precise: a.Precise()})
		}
	}
	return out
}
