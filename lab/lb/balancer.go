package lb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"

	"github.com/rollcheck/rollcheck/lab/netns"
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
	// ReadinessGatePrefix is the condition type prefix of the AWS Load
	// Balancer Controller's pod readiness gate.
	ReadinessGatePrefix = "target-health.elbv2.k8s.aws"
	// TargetHeader names the target's pod, on proxied responses and on the
	// balancer's own 502/504 answers, only with Settings.NamePods: no real
	// load balancer names the pod, so by default the lab's does not either.
	TargetHeader = "X-Lab-Target"
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
}

// TargetStatus is the JSON view of a target.
type TargetStatus struct {
	Service string    `json:"service"`
	Pod     string    `json:"pod"`
	Address string    `json:"address"`
	Backend string    `json:"backend"`
	State   string    `json:"state"`
	Since   time.Time `json:"since"`
}

// Balancer is an ALB-like target group plus listener for one Service: it
// follows the Service's EndpointSlices and proxies HTTP round robin to the
// ready endpoints (their loopback ports, or their pod IPs in Settings.Netns).
type Balancer struct {
	client kubernetes.Interface
	svc    ServiceRef
	set    Settings
	proxy  *httputil.ReverseProxy

	slices   discoverylisters.EndpointSliceLister
	pods     corelisters.PodLister
	services corelisters.ServiceLister
	synced   chan struct{}
	kick     chan struct{}

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
	}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(targetKey{}).(route)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = t.backend
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport:    noRetry{transport},
		ErrorHandler: b.proxyError,
		ErrorLog:     nil,
	}
	if set.NamePods {
		b.proxy.ModifyResponse = func(resp *http.Response) error {
			if t, ok := resp.Request.Context().Value(targetKey{}).(route); ok {
				resp.Header.Set(TargetHeader, t.pod)
			}
			return nil
		}
	}
	return b
}

type targetKey struct{}

// route is the copy of a target a request travels with, so that reconcile
// may update the target meanwhile.
type route struct{ pod, backend string }

// Synced is closed once the informers have synced and the first target set
// is computed.
func (b *Balancer) Synced() <-chan struct{} { return b.synced }

// Run starts the informers and keeps the target set current until ctx ends.
func (b *Balancer) Run(ctx context.Context) error {
	sliceFactory := informers.NewSharedInformerFactoryWithOptions(b.client, 0,
		informers.WithNamespace(b.svc.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = discoveryv1.LabelServiceName + "=" + b.svc.Name
		}))
	factory := informers.NewSharedInformerFactoryWithOptions(b.client, 0, informers.WithNamespace(b.svc.Namespace))
	sliceInf := sliceFactory.Discovery().V1().EndpointSlices()
	podInf := factory.Core().V1().Pods()
	svcInf := factory.Core().V1().Services()
	b.slices, b.pods, b.services = sliceInf.Lister(), podInf.Lister(), svcInf.Lister()
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { b.poke() },
		UpdateFunc: func(any, any) { b.poke() },
		DeleteFunc: func(any) { b.poke() },
	}
	for _, inf := range []cache.SharedIndexInformer{sliceInf.Informer(), podInf.Informer(), svcInf.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return fmt.Errorf("add event handler: %w", err)
		}
	}
	sliceFactory.Start(ctx.Done())
	factory.Start(ctx.Done())
	defer sliceFactory.Shutdown()
	defer factory.Shutdown()
	// A sync cut short by ctx is a normal stop, not an error.
	for _, ok := range sliceFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil
		}
	}
	for _, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil
		}
	}
	// Endpoints that are ready when the LB starts are registered at once: a
	// restarted lab LB stands in for an ALB that never went away.
	next := b.reconcile(ctx, true)
	close(b.synced)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Stop()
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-b.kick:
		case <-timer.C:
		}
		next = b.reconcile(ctx, false)
	}
}

func (b *Balancer) poke() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *Balancer) logf(format string, args ...any) {
	fmt.Fprintf(b.set.Log, "%s lb %s: %s\n", time.Now().UTC().Format(time.RFC3339Nano), b.svc, fmt.Sprintf(format, args...))
}

// lags returns the register and deregister lag, read live from the Service.
func (b *Balancer) lags() (reg, dereg time.Duration) {
	reg, dereg = b.set.RegisterLag, b.set.DeregisterLag
	s, err := b.services.Services(b.svc.Namespace).Get(b.svc.Name)
	if err != nil {
		return reg, dereg
	}
	parse := func(ann string, def time.Duration) time.Duration {
		v, ok := s.Annotations[ann]
		if !ok {
			return def
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			b.warnOnce("ann/"+ann+"="+v, "ignoring annotation %s=%q: not a duration", ann, v)
			return def
		}
		return d
	}
	return parse(RegisterLagAnnotation, reg), parse(DeregisterLagAnnotation, dereg)
}

func (b *Balancer) warnOnce(key, format string, args ...any) {
	if b.warned[key] {
		return
	}
	b.warned[key] = true
	b.logf(format, args...)
}

// desired is an endpoint the target group should contain.
type desired struct {
	pod, address, backend, gate string
}

// portPicker returns how to find the target port in a slice: the slice
// port named after the Service's first TCP port, as kube-proxy and the AWS
// Load Balancer Controller match them. A Service not (yet) in the cache or
// without a TCP port leaves the slice's first port.
func (b *Balancer) portPicker() func(*discoveryv1.EndpointSlice) (int, bool) {
	first := func(s *discoveryv1.EndpointSlice) (int, bool) {
		if len(s.Ports) == 0 || s.Ports[0].Port == nil {
			return 0, false
		}
		return int(*s.Ports[0].Port), true
	}
	svc, err := b.services.Services(b.svc.Namespace).Get(b.svc.Name)
	if err != nil {
		return first
	}
	sp, err := servicePort(svc, "")
	if err != nil {
		return first
	}
	return func(s *discoveryv1.EndpointSlice) (int, bool) { return slicePort(s, sp.Name) }
}

// desiredTargets reads the slices and pods: endpoints with ready=true, plus
// not-ready ones whose pod is gate-eligible (see gateEligible).
func (b *Balancer) desiredTargets() map[string]desired {
	out := map[string]desired{}
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: b.svc.Name})
	slices, err := b.slices.EndpointSlices(b.svc.Namespace).List(sel)
	if err != nil {
		return out
	}
	pickPort := b.portPicker()
	for _, s := range slices {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		port, ok := pickPort(s)
		if !ok {
			continue
		}
		for _, ep := range s.Endpoints {
			if len(ep.Addresses) == 0 || ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				continue
			}
			pod, err := b.pods.Pods(b.svc.Namespace).Get(ep.TargetRef.Name)
			if err != nil {
				continue
			}
			gate := gateType(pod)
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			terminating := ep.Conditions.Terminating != nil && *ep.Conditions.Terminating
			if !ready && (gate == "" || terminating || !gateEligible(pod)) {
				continue
			}
			address := net.JoinHostPort(ep.Addresses[0], strconv.Itoa(port))
			backend, err := b.backendFor(pod, ep.Addresses[0], port)
			if err != nil {
				b.warnOnce("port/"+pod.Name, "pod %s: cannot route %s: %v", pod.Name, address, err)
				continue
			}
			key := address + "/" + pod.Name
			out[key] = desired{pod: pod.Name, address: address, backend: backend, gate: gate}
		}
	}
	return out
}

// gateType returns the pod's AWS target-health readiness gate, if any.
func gateType(p *corev1.Pod) string {
	for _, g := range p.Spec.ReadinessGates {
		if strings.HasPrefix(string(g.ConditionType), ReadinessGatePrefix) {
			return string(g.ConditionType)
		}
	}
	return ""
}

// gateEligible reports whether a not-ready endpoint is still a target because
// its pod has the gate: containers ready and not terminating. The AWS LB
// Controller registers such pods (pkg/backend/endpoint_resolver.go) whatever
// the gate's status, so the target survives the gap between the gate turning
// True and the slice turning ready.
func gateEligible(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.ContainersReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// backendFor returns where a target's connections go: the endpoint's own
// address inside the real node's namespace, or for the process kubelet the
// 127.0.0.1 port it published for the container port.
func (b *Balancer) backendFor(p *corev1.Pod, ip string, port int) (string, error) {
	if b.set.Netns != "" {
		return net.JoinHostPort(ip, strconv.Itoa(port)), nil
	}
	return loopbackFor(p, port)
}

// loopbackFor maps the pod's container port to its real 127.0.0.1 port.
func loopbackFor(p *corev1.Pod, containerPort int) (string, error) {
	raw, ok := p.Annotations[PortsAnnotation]
	if !ok {
		return "", fmt.Errorf("no %s annotation", PortsAnnotation)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return "", fmt.Errorf("bad %s annotation: %w", PortsAnnotation, err)
	}
	v, ok := m[strconv.Itoa(containerPort)]
	if !ok {
		return "", fmt.Errorf("%s has no entry for port %d", PortsAnnotation, containerPort)
	}
	s := strings.Trim(string(v), `"`)
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 65535 {
		return "", fmt.Errorf("bad loopback port %s for %d", v, containerPort)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n)), nil
}

// reconcile moves targets through initial → healthy → draining → removed and
// returns when it next needs to run (zero: only on events).
func (b *Balancer) reconcile(ctx context.Context, first bool) time.Time {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	want := b.desiredTargets()
	reg, dereg := b.lags()
	var next time.Time
	wake := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for key, d := range want {
		t, ok := b.targets[key]
		if !ok {
			t = &target{key: key, pod: d.pod, address: d.address, backend: d.backend, state: StateInitial, since: now, gate: d.gate}
			b.targets[key] = t
			if first {
				t.state = StateHealthy
				b.logf("registered pod=%s target=%s backend=%s (present at start)", t.pod, t.address, t.backend)
			} else {
				b.logf("registering pod=%s target=%s backend=%s lag=%s", t.pod, t.address, t.backend, reg)
			}
		}
		t.backend = d.backend
		if d.gate != "" {
			t.gate = d.gate
		}
		switch t.state {
		case StateDraining:
			// Ready again before the LB acted on the deregistration.
			t.state, t.since = StateHealthy, now
			b.logf("re-registered pod=%s target=%s", t.pod, t.address)
		case StateInitial:
			if due := t.since.Add(reg); now.Before(due) {
				wake(due)
			} else {
				t.state, t.since = StateHealthy, now
				b.logf("registered pod=%s target=%s backend=%s", t.pod, t.address, t.backend)
			}
		}
		if t.state == StateHealthy && t.gate != "" && !t.gateDone {
			t.gateDone = true
			go b.setGate(ctx, t.pod, t.gate)
		}
	}
	for key, t := range b.targets {
		if _, ok := want[key]; ok {
			continue
		}
		switch t.state {
		case StateInitial:
			delete(b.targets, key)
			b.logf("removed pod=%s target=%s (never registered)", t.pod, t.address)
		case StateHealthy:
			t.state, t.since, t.lag = StateDraining, now, dereg
			b.logf("deregistering pod=%s target=%s lag=%s", t.pod, t.address, dereg)
			fallthrough
		case StateDraining:
			if due := t.since.Add(dereg); now.Before(due) {
				wake(due)
			} else {
				delete(b.targets, key)
				b.depart(t, now)
				b.logf("removed pod=%s target=%s (no new requests; in-flight ones finish)", t.pod, t.address)
			}
		}
	}
	b.active = b.active[:0]
	for _, t := range b.targets {
		if t.state != StateInitial {
			b.active = append(b.active, t)
		}
	}
	sort.Slice(b.active, func(i, j int) bool { return b.active[i].key < b.active[j].key })
	return next
}

// depart records that t left the target group at now. b.mu is held.
func (b *Balancer) depart(t *target, now time.Time) {
	d := Departure{Service: b.svc.String(), Pod: t.pod, Address: t.address, LeftAt: t.since, RemovedAt: now, DeregisterLag: t.lag.Seconds()}
	if !t.lastRouted.IsZero() {
		last := t.lastRouted
		d.LastRoutedAt = &last
	}
	if len(b.departures) == maxDepartures {
		b.departures = append(b.departures[:0], b.departures[1:]...)
	}
	b.departures = append(b.departures, d)
	if b.set.OnDeparture != nil {
		b.set.OnDeparture(d)
	}
}

// Departures returns the targets that left the target group, oldest first
// (the last maxDepartures).
func (b *Balancer) Departures() []Departure {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.departures)
}

// setGate sets the pod's target-health readiness gate condition to True, as
// the AWS Load Balancer Controller does once the target is healthy.
func (b *Balancer) setGate(ctx context.Context, podName, gate string) {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := b.client.CoreV1().Pods(b.svc.Namespace).Get(ctx, podName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		found := false
		for i := range pod.Status.Conditions {
			c := &pod.Status.Conditions[i]
			if string(c.Type) == gate {
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				c.Status, c.LastTransitionTime, c.Reason, c.Message = corev1.ConditionTrue, now, "TargetHealthy", "registered with the lab LB"
				found = true
			}
		}
		if !found {
			pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{
				Type: corev1.PodConditionType(gate), Status: corev1.ConditionTrue,
				LastTransitionTime: now, LastProbeTime: now, Reason: "TargetHealthy", Message: "registered with the lab LB",
			})
		}
		_, err = b.client.CoreV1().Pods(b.svc.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	switch {
	case err == nil:
		b.logf("readiness gate %s=True pod=%s", gate, podName)
	case apierrors.IsNotFound(err) || ctx.Err() != nil:
	default:
		b.logf("readiness gate %s pod=%s: %v", gate, podName, err)
	}
}

// Targets returns the current target group.
func (b *Balancer) Targets() []TargetStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]TargetStatus, 0, len(b.targets))
	for _, t := range b.targets {
		out = append(out, TargetStatus{Service: b.svc.String(), Pod: t.pod, Address: t.address, Backend: t.backend, State: t.state, Since: t.since})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

func (b *Balancer) pick() (route, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.active) == 0 {
		return route{}, false
	}
	t := b.active[(b.rr.Add(1)-1)%uint64(len(b.active))]
	t.lastRouted = time.Now()
	return route{pod: t.pod, backend: t.backend}, true
}

// ServeHTTP proxies one request to the next target, answering like an ALB.
func (b *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, ok := b.pick()
	if !ok {
		writeError(w, http.StatusServiceUnavailable)
		return
	}
	ctx := context.WithValue(r.Context(), targetKey{}, t)
	b.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// proxyError maps a failed attempt to the ALB's answer: 504 when the target
// did not connect or answer in time, 502 for refused, reset, closed or
// malformed.
func (b *Balancer) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	t, ok := r.Context().Value(targetKey{}).(route)
	code := http.StatusBadGateway
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		code = http.StatusGatewayTimeout
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		code = 460 // ALB's code for a client that closed the connection
	}
	if ok {
		if b.set.NamePods {
			w.Header().Set(TargetHeader, t.pod)
		}
		b.logf("%d pod=%s backend=%s %s %s: %v", code, t.pod, t.backend, r.Method, r.URL.Path, err)
	}
	writeError(w, code)
}

func writeError(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Server", "awselb/2.0")
	w.WriteHeader(code)
	text := http.StatusText(code)
	if text == "" {
		text = "Client Closed Request"
	}
	fmt.Fprintf(w, "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n</body>\r\n</html>\r\n", code, text, code, text)
}

// noRetry makes every outgoing request non-replayable, so http.Transport
// never silently re-sends it on another connection after a keep-alive race:
// the failure reaches the client as an ALB would report it.
type noRetry struct{ rt http.RoundTripper }

type onceBody struct{ io.ReadCloser }

func (n noRetry) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := *r
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	// A non-nil Body that is not http.NoBody and has no GetBody fails
	// Request.isReplayable and makes outgoingLength -1, which disables both
	// retry paths in Transport.roundTrip (see shouldRetryRequest).
	r2.Body = onceBody{body}
	r2.GetBody = nil
	return n.rt.RoundTrip(&r2)
}

// NewTransport returns the upstream transport: keep-alive on, idle
// connections closed after idleTimeout, connect and response-header
// timeouts of targetTimeout. With netnsPath empty it dials 127.0.0.1 only
// (the process kubelet's pods); otherwise it dials any address, from inside
// the network namespace at netnsPath, where the pod IPs live.
func NewTransport(idleTimeout, targetTimeout time.Duration, netnsPath string) *http.Transport {
	d := &netns.Dialer{Path: netnsPath, Dialer: net.Dialer{Timeout: targetTimeout}}
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if netnsPath == "" {
				host, _, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				if host != "127.0.0.1" {
					return nil, fmt.Errorf("lab lb dials 127.0.0.1 only, not %s", host)
				}
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       idleTimeout,
		ResponseHeaderTimeout: targetTimeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}
