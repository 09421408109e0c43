package diagnosis

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/report/internal/format"
)

// KubeProxyLag: a request entered the cluster through a node whose
// kube-proxy had not yet applied a terminating pod's removal from the
// ready endpoints: it still sent new connections to the pod. Each node's
// kube-proxy applies a change at its own next sync (minSyncPeriod, a
// large cluster's slow syncs), so the pods must keep serving until the
// slowest node has caught up.
const KubeProxyLag CauseCode = "KUBE_PROXY_LAG"

// ProxyLag is when one node's kube-proxy applied one pod's removal from
// the ready endpoints (Applied zero: not measured): by Applied, and not
// before Earliest.
type ProxyLag struct {
	Pod, Node                  string
	Changed, Earliest, Applied time.Time
	// Precise: the time is known within a quarter of the lag.
	Precise bool
}

// proxyLags finds, by pod and node, when the node applied the pod's
// removal.
type proxyLags map[[2]string]ProxyLag

func newProxyLags(ls []ProxyLag) proxyLags {
	out := proxyLags{}
	for _, l := range ls {
		out[[2]string{l.Pod, l.Node}] = l
	}
	return out
}

// stale returns the lag of node behind pod's removal when a request sent
// at t through node went out after the removal and before node's
// kube-proxy applied it.
func (pl proxyLags) stale(pod, node string, t time.Time) (ProxyLag, bool) {
	if node == "" {
		return ProxyLag{}, false
	}
	l, ok := pl[[2]string{pod, node}]
	if !ok || l.Applied.IsZero() || t.Before(l.Changed) || !t.Before(l.Applied) {
		return ProxyLag{}, false
	}
	return l, true
}

// left reports whether node had applied pod's removal by t for sure (at
// or after the latest its sync can have come): from then on its rules
// send no new connection to the pod.
func (pl proxyLags) left(pod, node string, t time.Time) bool {
	l, ok := pl[[2]string{pod, node}]
	return ok && !l.Applied.IsZero() && !t.Before(l.Applied)
}

// staleGone returns the pod node's rules still held at t after its
// removal from the ready endpoints, once the pod had exited: a new
// connection through node that failed at t can have gone there. With
// several, the one removed last.
func (pl proxyLags) staleGone(pods map[string]*life, node string, t time.Time) (*life, bool) {
	var best ProxyLag
	var bp *life
	for k, l := range pl {
		if k[1] != node {
			continue
		}
		if _, ok := pl.stale(k[0], node, t); !ok {
			continue
		}
		p := pods[k[0]]
		if p == nil || p.exitLo.IsZero() || t.Before(p.exitLo) {
			continue
		}
		if bp == nil || l.Changed.After(best.Changed) || l.Changed.Equal(best.Changed) && k[0] < bp.name {
			best, bp = l, p
		}
	}
	return bp, bp != nil
}

// slowest returns the longest lag any node took behind the removal of a
// pod in pods, and whether every such lag is precise.
func (pl proxyLags) slowest(pods []string) (ProxyLag, bool) {
	var best ProxyLag
	for _, l := range pl {
		if l.Applied.IsZero() || !containsString(pods, l.Pod) {
			continue
		}
		if l.Applied.Sub(l.Changed) > best.Applied.Sub(best.Changed) {
			best = l
		}
	}
	return best, !best.Applied.IsZero()
}

// pods returns the pods whose removal any node's lag was read for.
func (pl proxyLags) pods() []string {
	seen := map[string]int{}
	for k := range pl {
		seen[k[0]]++
	}
	return sortedKeys(seen)
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// proxyLag is the evidence of KUBE_PROXY_LAG: through which nodes the
// failures entered, and how long each took to apply the removals.
func (e telling) proxyLag(pl proxyLags) string {
	nodes := sortedKeys(e.c.nodes)
	var parts []string
	for _, n := range nodes {
		var worst time.Duration
		for _, l := range pl {
			if l.Node == n && e.c.pods[l.Pod] > 0 && !l.Applied.IsZero() {
				worst = max(worst, l.Applied.Sub(l.Changed))
			}
		}
		parts = append(parts, fmt.Sprintf("%d through node %s, whose kube-proxy applied the removal %s after it", e.c.nodes[n], n, format.Sec(worst)))
	}
	others := ""
	var fast []string
	seen := map[string]bool{}
	for _, l := range pl {
		if e.c.nodes[l.Node] > 0 || seen[l.Node] || l.Applied.IsZero() {
			continue
		}
		seen[l.Node] = true
		fast = append(fast, l.Node)
	}
	if len(fast) > 0 {
		sort.Strings(fast)
		others = "; none entered through " + strings.Join(fast, ", ")
	}
	return fmt.Sprintf("%d failures (%s) from %s were sent to %s%s after its endpoint turned not ready, on new connections through nodes whose kube-proxy had not yet applied that: %s%s (measured from each node's kube-proxy sync metrics)",
		e.c.failures, e.classes, e.window, e.name, e.more, strings.Join(parts, "; "), others)
}

// SlowestProxy is the slowest node's lag behind a removal.
type SlowestProxy struct {
	Node string  `json:"node"`
	Pod  string  `json:"pod"`
	Lag  float64 `json:"lag_seconds"`
	// Precise: known within a quarter of itself (else Lag is the longest
	// it can have been).
	Precise bool `json:"precise"`
	// failed: requests failed under KUBE_PROXY_LAG through the node; else
	// the lag is the slowest node's behind any removal, which the front's
	// new connections could have met (node targets).
	failed bool
}

func podName(p *life) string {
	if p == nil {
		return ""
	}
	return p.name
}

// minSignature is the fewest failures that make a node signature.
const minSignature = 3

// nodeSignature says whether the failures sent while some node still
// routed to a removed pod, and that say which node they entered through,
// all entered through such a node (at least minSignature of them). A pod
// that does not serve fails new connections through every node alike; a
// node's stale rules fail them only through that node.
func (pl proxyLags) nodeSignature(its []item) bool {
	type window struct{ from, to time.Time }
	wins := map[string]window{}
	for _, l := range pl {
		if l.Applied.IsZero() {
			continue
		}
		w, ok := wins[l.Pod]
		if !ok || l.Changed.Before(w.from) {
			w.from = l.Changed
		}
		if l.Applied.After(w.to) {
			w.to = l.Applied
		}
		wins[l.Pod] = w
	}
	n := 0
	for _, it := range its {
		if it.node == "" {
			continue
		}
		in, stale := false, false
		for pod, w := range wins {
			if it.t.Before(w.from) || !it.t.Before(w.to) {
				continue
			}
			in = true
			if _, ok := pl.stale(pod, it.node, it.t); ok {
				stale = true
				break
			}
		}
		if !in {
			continue
		}
		if !stale {
			return false
		}
		n += it.n
	}
	return n >= minSignature
}
