package lb

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
)

// Annotations the lab reads.
const (
	// PortsAnnotation is set by the lab kubelet on each pod: a JSON object
	// {"<containerPort>": <loopbackPort>} mapping the pod IP's container
	// port to the real 127.0.0.1 port of the process.
	PortsAnnotation = "lab.rollcheck.dev/ports"
	// RegisterLagAnnotation on a Service overrides --register-lag (Go duration).
	RegisterLagAnnotation = "lab.rollcheck.dev/lb-register-lag"
	// DeregisterLagAnnotation on a Service overrides --deregister-lag.
	DeregisterLagAnnotation = "lab.rollcheck.dev/lb-deregister-lag"
	// BackendProtocolAnnotation is the AWS Load Balancer Controller's
	// target group protocol version: HTTP1 (the default), HTTP2 or GRPC.
	// With HTTP2 or GRPC an ALB speaks HTTP/2 to the targets; the lab's
	// balancer does so (h2c: the lab's targets take no TLS) for the
	// requests that reached it over HTTP/2, and sends HTTP/1.1 requests
	// on as HTTP/1.1 (what an ALB does with those is not modelled).
	BackendProtocolAnnotation = "alb.ingress.kubernetes.io/backend-protocol-version"
	// ReadinessGatePrefix is the condition type prefix of the AWS Load
	// Balancer Controller's pod readiness gate.
	ReadinessGatePrefix = "target-health.elbv2.k8s.aws"
	// TargetHeader names the target's pod, on proxied responses and on the
	// balancer's own 502/504 answers, only with Settings.NamePods: no real
	// load balancer names the pod, so by default the lab's does not either.
	TargetHeader = "X-Lab-Target"
	// NodeHeader names the Node a request entered through, in instance
	// mode (where the target is a node, not a pod), on the same answers
	// and only with Settings.NamePods.
	NodeHeader = "X-Lab-Node"
)

// Target states, as an ALB target group shows them.
const (
	StateInitial  = "initial"  // registered, waiting for register-lag
	StateHealthy  = "healthy"  // gets new requests
	StateDraining = "draining" // endpoint gone; still gets new requests until deregister-lag ends
)

// ServiceRef names a Service to balance.
type ServiceRef struct {
	Namespace, Name string
}

func (s ServiceRef) String() string { return s.Namespace + "/" + s.Name }

// Settings are the LB-wide defaults.
type Settings struct {
	RegisterLag   time.Duration
	DeregisterLag time.Duration
	// Netns, when set, is the path of the network namespace of a real
	// node (e.g. /run/netns/NAME): targets are the endpoints' pod IPs and
	// ports, dialed from inside it (see NewTransport). Empty: the process
	// kubelet's pods, reached on the 127.0.0.1 port of PortsAnnotation.
	Netns string
	// Instance makes the target group one of target type instance: the
	// targets are the Nodes at the Service's NodePort (instance.go), not
	// the pods.
	Instance bool
	// NamePods sets TargetHeader on every answer that went to a target,
	// proxied or the balancer's own 502/504; for debugging only.
	NamePods bool
	Log      io.Writer
	// OnDeparture, when set, is called (under the balancer's lock: it
	// must not block for long) with each target that left the target
	// group, as it leaves.
	OnDeparture func(Departure)
}

// Departure is a target that left the target group: what the front really
// did, on its own clock. LeftAt is when the balancer learned that the
// endpoint had gone (turned not ready or left the slice; late when its
// watch is late), RemovedAt when its stale view ended (no new request
// after it), and LastRoutedAt the last request it sent the target. Tests
// compare a measured routing lag with LastRoutedAt minus the time the
// endpoint changed, not with the configured lag alone.
type Departure struct {
	Service      string     `json:"service"`
	Pod          string     `json:"pod"`
	Address      string     `json:"address"`
	LeftAt       time.Time  `json:"left_at"`
	RemovedAt    time.Time  `json:"removed_at"`
	LastRoutedAt *time.Time `json:"last_routed_at,omitempty"` // absent: no request since it registered
	// DeregisterLag is the lag the balancer applied (seconds): the
	// configured one, read when the target left.
	DeregisterLag float64 `json:"deregister_lag_seconds"`
}

// maxDepartures bounds the departures a Balancer keeps in memory.
const maxDepartures = 1000

// target is one IP target (pod IP:container port) of a target group.
type target struct {
	key      string // ip:port/pod
	pod      string
	address  string // pod IP:port (with the process kubelet a label only)
	backend  string // the real destination: 127.0.0.1:port, or the pod IP:port inside Settings.Netns
	state    string
	since    time.Time // when the current state began
	gate     string    // readiness gate condition type to set, if any
	gateDone bool
	// lastRouted is when pick last chose the target; lag is the
	// deregistration lag applied when it began draining.
	lastRouted time.Time
	lag        time.Duration
	// Health checks (instance mode): consecutive successes and failures,
	// and whether the target failed enough of them to stop getting
	// requests.
	hcOKs, hcFails int
	unhealthy      bool
}

// TargetStatus is the JSON view of a target.
type TargetStatus struct {
	Service string    `json:"service"`
	Pod     string    `json:"pod"`
	Address string    `json:"address"`
	Backend string    `json:"backend"`
	State   string    `json:"state"`
	Since   time.Time `json:"since"`
	// Unhealthy: an instance target that failed its health checks.
	Unhealthy bool `json:"unhealthy,omitempty"`
}

// Balancer is an ALB-like target group plus listener for one Service: it
// follows the Service's EndpointSlices and proxies HTTP round robin to the
// ready endpoints (their loopback ports, or their pod IPs in Settings.Netns).
type Balancer struct {
	client kubernetes.Interface
	svc    ServiceRef
	set    Settings
	proxy  *httputil.ReverseProxy
	// proxyH2 speaks HTTP/2 (h2c) to the targets, over h2 (nil: the
	// transport given was no *http.Transport).
	proxyH2 *httputil.ReverseProxy
	h2      *http.Transport

	slices   discoverylisters.EndpointSliceLister
	pods     corelisters.PodLister
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister // instance mode only
	// transport reaches the targets (for instance mode's health checks).
	transport http.RoundTripper
	synced    chan struct{}
	kick      chan struct{}

	mu      sync.Mutex
	targets map[string]*target
	active  []*target // healthy + draining within lag, sorted by key
	warned  map[string]bool
	rr      atomic.Uint64
	// departures are the last maxDepartures targets that left.
	departures []Departure
}

// NewBalancer returns a Balancer for svc. transport must reach the
// backends set.Netns implies (NewTransport with the same path); it is
// wrapped so that failed attempts are never retried.
func NewBalancer(client kubernetes.Interface, svc ServiceRef, set Settings, transport http.RoundTripper) *Balancer {
	if set.Log == nil {
		set.Log = io.Discard
	}
	b := &Balancer{
		client:  client,
		svc:     svc,
		set:     set,
		synced:  make(chan struct{}),
		kick:    make(chan struct{}, 1),
		targets: map[string]*target{},
		warned:  map[string]bool{},

		transport: transport,
	}
	b.proxy = newProxy(b, transport)
	if tr, ok := transport.(*http.Transport); ok {
		b.h2 = tr.Clone()
		b.h2.Protocols = new(http.Protocols)
		b.h2.Protocols.SetUnencryptedHTTP2(true)
		b.proxyH2 = newProxy(b, b.h2)
	}
	return b
}

// Synced is closed once the informers have synced and the first target set
// is computed.
func (b *Balancer) Synced() <-chan struct{} { return b.synced }

func (b *Balancer) logf(format string, args ...any) {
	fmt.Fprintf(b.set.Log, "%s lb %s: %s\n", time.Now().UTC().Format(time.RFC3339Nano), b.svc, fmt.Sprintf(format, args...))
}

// Departures returns the targets that left the target group, oldest first
// (the last maxDepartures).
func (b *Balancer) Departures() []Departure {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.departures)
}

// Targets returns the current target group.
func (b *Balancer) Targets() []TargetStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]TargetStatus, 0, len(b.targets))
	for _, t := range b.targets {
		out = append(out, TargetStatus{Service: b.svc.String(), Pod: t.pod, Address: t.address, Backend: t.backend, State: t.state, Since: t.since, Unhealthy: t.unhealthy})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}
