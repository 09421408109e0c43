package attack

import (
	"maps"
	"net"
	"sort"
)

// The connections a load held, and the pods they reached (issue 23): an
// HTTP/2 client, or a keep-alive one through an L4 front (kube-proxy, an
// NLB), puts all its requests to a target on a few connections, each
// pinned to the pod it first reached; through an L7 front a connection ends
// at the front, which sends its requests to any pod.

// trackedConn is a connection the load dialed, as the transport sees it:
// the aggregator (under the attack's lock) counts it once and notes the
// pods that answered on it. Nothing keeps it once the transport drops it.
type trackedConn struct {
	net.Conn
	// counted: the aggregator has seen a result on it; pod is the first
	// pod that answered on it (from the pod header), and multi says
	// another pod answered on it too.
	counted bool
	pod     string
	multi   bool
}

// connOf finds the trackedConn under a connection the transport reports
// (a *tls.Conn wraps the one dialed); nil for one not dialed by the load.
func connOf(c net.Conn) *trackedConn {
	if t, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = t.NetConn()
	}
	tc, _ := c.(*trackedConn)
	return tc
}

// ConnCount is what the load's kept-alive connections reached: how many
// carried a request (a connection the transport dialed and never used is
// not counted), and for each pod the connections on which it answered first
// (from the pod header). Spread counts the connections on which more than
// one pod answered: an L7 front between (each request routed anew), or a
// connection that moved. Only the keep-alive stream's connections count:
// the new stream opens one per request.
type ConnCount struct {
	Opened int            `json:"opened"`
	ByPod  map[string]int `json:"by_pod,omitempty"`
	Spread int            `json:"spread,omitempty"`
}

// connTally counts connections as results arrive.
type connTally struct {
	ConnCount
}

// note counts the result of a request on c (nil: unknown) that pod
// answered ("" when none named itself).
func (t *connTally) note(c *trackedConn, pod string) {
	if c == nil {
		return
	}
	if !c.counted {
		c.counted = true
		t.Opened++
	}
	switch {
	case pod == "":
	case c.pod == "":
		c.pod = pod
		if t.ByPod == nil {
			t.ByPod = map[string]int{}
		}
		if _, ok := t.ByPod[pod]; ok || len(t.ByPod) < maxInterned {
			t.ByPod[pod]++
		}
	case c.pod != pod && !c.multi:
		c.multi = true
		t.Spread++
	}
}

// result is the count, or nil when no connection was seen.
func (t *connTally) result() *ConnCount {
	if t.Opened == 0 {
		return nil
	}
	out := t.ConnCount
	out.ByPod = maps.Clone(out.ByPod)
	return &out
}

// Pods lists the pods by the connections they answered first on, most
// first, then by name.
func (c *ConnCount) Pods() []string {
	out := make([]string, 0, len(c.ByPod))
	for p := range c.ByPod {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if c.ByPod[out[i]] != c.ByPod[out[j]] {
			return c.ByPod[out[i]] > c.ByPod[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}
