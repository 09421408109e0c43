package diagnosis

// What the diagnosis knows of each front (FACTS.md §3–§9): what a request
// meets when an endpoint goes not-ready, when none is left, when a pod's IP
// is dead, and what becomes of a connection the client keeps. The rules
// that depend on the front read it from here, so that no rule assumes the
// ALB the tool was first built with.

// frontModel is one front's behaviour as the diagnosis uses it.
type frontModel struct {
	// name is as --front takes it ("" unknown).
	name string
	// pins: the front passes the client's TCP connection through to one
	// pod (kube-proxy's DNAT and conntrack, an NLB): an established
	// connection stays on the pod it was opened to whatever the endpoints
	// say, and ends only when that pod closes it or dies. A reset or EOF on
	// a kept connection is then the pod's own shutdown, and a pod's late
	// successes may be kept connections, not new routing.
	pins bool
	// pinsBehind: the front's own connections to the pods are pinned (an
	// ALB in instance mode keeps its connections to a node alive, and
	// kube-proxy there DNATs each to one pod), while the client's end at
	// the front. A pod's late successes may then have come over one kept
	// since before, as with pins; a kept connection the pod closes is the
	// front's to answer (a 502), not the client's reset.
	pinsBehind bool
	// dialsPodIPs: the front (or kube-proxy's DNAT) connects to the pod's
	// IP itself, so a request it still sends to a gone pod meets a dead
	// address: no answer, a timeout (the front's 504 or the client's own).
	dialsPodIPs bool
	// via says in a few words what carries a connection to the pod, for
	// the evidence.
	via string
}

// fronts are the fronts the diagnosis knows, by --front name.
var fronts = map[string]frontModel{
	"alb": {name: "alb", dialsPodIPs: true, via: "the load balancer, which routes each request anew and answers 502/503/504 itself"},
	// An ALB in instance mode sends to a node's NodePort, and kube-proxy
	// there DNATs each of the ALB's connections to one pod: the ALB keeps
	// its connections to the targets alive, so an established one stays
	// on its pod as through kube-proxy alone, and a request kube-proxy
	// still sends to a gone pod's IP meets a dead address (FACTS.md §3, §4).
	"alb-instance": {name: "alb-instance", pinsBehind: true, dialsPodIPs: true, via: "the ALB in instance mode to a node's NodePort, where kube-proxy picks the pod and its conntrack keeps each of the ALB's connections on the pod it was opened to"},
	// An NLB in IP mode passes the TCP connection to the pod, and keeps an
	// established one on its target after deregistration (FACTS.md §5).
	"nlb":        {name: "nlb", pins: true, dialsPodIPs: true, via: "the NLB, which passes each TCP connection to one pod and keeps an established one there"},
	"kube-proxy": {name: "kube-proxy", pins: true, dialsPodIPs: true, via: "kube-proxy, whose conntrack keeps an established connection on the pod it was opened to"},
	"ingress":    {name: "ingress", dialsPodIPs: true, via: "the ingress controller, which routes each request anew to a pod IP and answers 502/503/504 or its own 404 itself"},
	"gateway":    {name: "gateway", dialsPodIPs: true, via: "the Gateway's proxy, which routes each request anew to a pod IP and answers 502/503/504 or its own 404 itself"},
}

// frontOf is the model of the named front; the zero model (no rule that
// depends on the front applies) when it is unknown.
func frontOf(name string) frontModel {
	return fronts[name]
}

// keepsConnections reports whether a connection to a pod, the client's or
// the front's own, stays on it after its endpoint turns not-ready: its
// late successes then show no routing.
func (f frontModel) keepsConnections() bool { return f.pins || f.pinsBehind }

// keptCode is the cause of a failure weighed as code when the front pins
// connections: a reset or EOF on a kept connection that a terminating pod
// closed is KEPT_CONNECTION_CLOSED whatever the window said, since the
// connection was routed when it was opened and a preStop only delays its
// end.
func (f frontModel) keptCode(it item, code CauseCode) CauseCode {
	if !f.pins || !keptClosed(it) {
		return code
	}
	switch code {
	case TerminatingPodStillRouted, LBDeregistrationLag, InflightCut:
		return KeptConnectionClosed
	}
	return code
}
