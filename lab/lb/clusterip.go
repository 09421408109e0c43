package lb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/rollcheck/rollcheck/lab/netns"
)

// Forwarder is the kube-proxy front: a plain TCP forwarder that carries
// each connection accepted on the host's 127.0.0.1 to a Service's
// ClusterIP:port, dialed from inside the real node's network namespace.
// The connection then takes kube-proxy's own path there (its iptables or
// nftables DNAT to an endpoint); the Forwarder adds no health checks, lags
// or retries of its own and bounds nothing by time but the dial.
//
// A userspace forwarder accepts the client's connection before it knows
// whether the Service answers, so a dial that fails (kube-proxy rejects a
// Service without endpoints, a DNAT to a pod that is gone) is passed on as
// a reset of the accepted connection: the client sees the connection fail,
// as it would have seen its connect fail.
//
// With a fixed address (NewTCPForwarder) it is a plain TCP forwarder to
// that address inside the namespace, e.g. an ingress controller's
// entrypoint on the node's address.
type Forwarder struct {
	client   kubernetes.Interface
	svc      ServiceRef
	portName string
	fixed    string // IP:PORT inside the namespace; "" for the Service's ClusterIP
	what     string // how log lines name this front
	dialer   *netns.Dialer
	log      io.Writer

	services corelisters.ServiceLister
	synced   chan struct{}

	mu      sync.Mutex
	conns   map[*net.TCPConn]struct{}
	stopped bool
	lastErr string // the last problem logged, so a steady one is logged once
}

// NewForwarder returns a Forwarder to the Service svc's port portName (empty:
// its first TCP port), dialing from inside the namespace at netnsPath with
// the given dial timeout. Log lines go to log (nil: discarded).
func NewForwarder(client kubernetes.Interface, svc ServiceRef, portName, netnsPath string, dialTimeout time.Duration, log io.Writer) *Forwarder {
	if log == nil {
		log = io.Discard
	}
	return &Forwarder{
		client:   client,
		svc:      svc,
		portName: portName,
		what:     "kube-proxy front " + svc.String(),
		dialer:   &netns.Dialer{Path: netnsPath, Dialer: net.Dialer{Timeout: dialTimeout}},
		log:      log,
		synced:   make(chan struct{}),
		conns:    map[*net.TCPConn]struct{}{},
	}
}

// NewTCPForwarder returns a Forwarder to the fixed address to (IP:PORT)
// inside the namespace at netnsPath; it follows no Service.
func NewTCPForwarder(to, netnsPath string, dialTimeout time.Duration, log io.Writer) *Forwarder {
	if log == nil {
		log = io.Discard
	}
	return &Forwarder{
		fixed:  to,
		what:   "tcp forward to " + to,
		dialer: &netns.Dialer{Path: netnsPath, Dialer: net.Dialer{Timeout: dialTimeout}},
		log:    log,
		synced: make(chan struct{}),
		conns:  map[*net.TCPConn]struct{}{},
	}
}

// Synced is closed once the Service informer has synced and connections
// are being accepted.
func (f *Forwarder) Synced() <-chan struct{} { return f.synced }

// Serve watches the Service (unless the address is fixed) and forwards
// every connection ln accepts until ctx ends; then it closes ln and every
// open connection.
func (f *Forwarder) Serve(ctx context.Context, ln net.Listener) error {
	defer f.closeAll()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	if f.fixed != "" {
		close(f.synced)
		f.logf("forwarding %s to %s inside %s", ln.Addr(), f.fixed, f.dialer.Path)
		return f.accept(ctx, ln)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(f.client, 0,
		informers.WithNamespace(f.svc.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", f.svc.Name).String()
		}))
	inf := factory.Core().V1().Services()
	f.services = inf.Lister()
	inf.Informer() // register before Start
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for _, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil // stopped before the sync: a normal stop
		}
	}
	close(f.synced)
	f.logf("forwarding %s to the Service's ClusterIP inside %s", ln.Addr(), f.dialer.Path)
	return f.accept(ctx, ln)
}

// accept hands each connection ln accepts to handle until ctx ends.
func (f *Forwarder) accept(ctx context.Context, ln net.Listener) error {
	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: wait a little, as
			// net/http's Server does, instead of spinning or giving up.
			f.note(fmt.Sprintf("accept: %v", err))
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		go f.handle(ctx, c.(*net.TCPConn))
	}
}

// target returns the fixed address, or the Service's ClusterIP:port as the
// cache has it now.
func (f *Forwarder) target() (string, error) {
	if f.fixed != "" {
		return f.fixed, nil
	}
	svc, err := f.services.Services(f.svc.Namespace).Get(f.svc.Name)
	if err != nil {
		return "", fmt.Errorf("Service %s: %w", f.svc, err)
	}
	ip := svc.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone {
		return "", fmt.Errorf("Service %s has no ClusterIP (%q)", f.svc, ip)
	}
	p, err := servicePort(svc, f.portName)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(p.Port))), nil
}

func (f *Forwarder) handle(ctx context.Context, client *net.TCPConn) {
	if !f.track(client) {
		return
	}
	defer f.untrack(client)
	addr, err := f.target()
	if err != nil {
		f.note(err.Error())
		reset(client)
		return
	}
	c, err := f.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		f.note(fmt.Sprintf("dial %s: %v", addr, err))
		reset(client)
		return
	}
	up := c.(*net.TCPConn)
	if !f.track(up) {
		reset(client)
		return
	}
	defer f.untrack(up)
	f.note("") // working again: the next problem is logged
	pipe(client, up)
}

// pipe copies both ways. A side that closes its sending half (EOF) has
// that half closed on the other side too, and the other direction goes on
// until it ends the same way; then both connections are closed. An error
// in either direction (a reset, a write to a peer that went away) aborts
// both with a reset, as a broken connection would reach each end.
func pipe(a, b *net.TCPConn) {
	var once sync.Once
	abort := func() {
		once.Do(func() {
			reset(a)
			reset(b)
		})
	}
	var wg sync.WaitGroup
	half := func(dst, src *net.TCPConn) {
		defer wg.Done()
		if _, err := io.Copy(dst, src); err != nil {
			abort()
			return
		}
		_ = dst.CloseWrite()
	}
	wg.Add(2)
	go half(b, a)
	go half(a, b)
	wg.Wait()
	_ = a.Close()
	_ = b.Close()
}

// reset closes c with an RST instead of a FIN.
func reset(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}

func (f *Forwarder) track(c *net.TCPConn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		_ = c.Close()
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Forwarder) untrack(c *net.TCPConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, c)
}

func (f *Forwarder) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	for c := range f.conns {
		_ = c.Close()
	}
}

// note logs a problem once until it changes; "" marks a success.
func (f *Forwarder) note(problem string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if problem == f.lastErr {
		return
	}
	f.lastErr = problem
	if problem != "" {
		f.logf("%s (logged once until it changes)", problem)
	}
}

func (f *Forwarder) logf(format string, args ...any) {
	fmt.Fprintf(f.log, "%s %s: %s\n", time.Now().UTC().Format(time.RFC3339Nano), f.what, fmt.Sprintf(format, args...))
}
