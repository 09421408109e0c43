package lb

// The Balancer's control loop: it follows the Service's EndpointSlices and
// pods, and moves targets through register lag, health and deregister lag
// into the active set that the proxy (proxy.go) picks from.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

// Run starts the informers and keeps the target set current until ctx ends.
func (b *Balancer) Run(ctx context.Context) error {
	if b.h2 != nil {
		defer b.h2.CloseIdleConnections()
	}
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
	var nodeFactory informers.SharedInformerFactory
	if b.set.Instance {
		nodeFactory = informers.NewSharedInformerFactory(b.client, 0)
		nodeInf := nodeFactory.Core().V1().Nodes()
		b.nodes = nodeInf.Lister()
		if _, err := nodeInf.Informer().AddEventHandler(h); err != nil {
			return fmt.Errorf("add event handler: %w", err)
		}
		nodeFactory.Start(ctx.Done())
		defer nodeFactory.Shutdown()
		for _, ok := range nodeFactory.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return nil
			}
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
	if b.set.Instance {
		go b.healthLoop(ctx, b.transport)
	}
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
// not-ready ones whose pod is gate-eligible (see gateEligible); in instance
// mode, the Nodes (nodeTargets).
func (b *Balancer) desiredTargets() map[string]desired {
	if b.set.Instance {
		return b.nodeTargets()
	}
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
	unhealthy := 0
	for _, t := range b.targets {
		if t.state != StateInitial {
			b.active = append(b.active, t)
			if t.unhealthy {
				unhealthy++
			}
		}
	}
	// Unhealthy targets get no requests, unless every target is
	// unhealthy: then an ALB fails open and routes to all of them.
	if unhealthy > 0 && unhealthy < len(b.active) {
		healthy := b.active[:0]
		for _, t := range b.active {
			if !t.unhealthy {
				healthy = append(healthy, t)
			}
		}
		b.active = healthy
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
