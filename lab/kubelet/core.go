package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Config configures a Kubelet. Zero durations take the defaults noted.
type Config struct {
	NodeName string
	// Dir is the state directory; logs go to Dir/pods/<ns>_<pod>/<container>.log.
	Dir string
	// PodCIDR: the node takes the first address, pods the rest (not the last).
	PodCIDR netip.Prefix
	Images  *ImageMap
	// HeartbeatInterval renews the node Lease and Ready heartbeat (10s).
	HeartbeatInterval time.Duration
	// MinGracePeriod is the floor between SIGTERM and SIGKILL, and the
	// one-off extension when preStop outlives the grace period (2s, as
	// kuberuntime's minimumGracePeriodInSeconds).
	MinGracePeriod time.Duration
	// BackoffBase and BackoffMax bound the restart back-off (1s, 10s); the
	// first restart is immediate.
	BackoffBase, BackoffMax time.Duration
	// ShutdownGrace is the SIGTERM → SIGKILL time when the kubelet exits (2s).
	ShutdownGrace time.Duration
	// SkipNode makes Run skip Node registration and heartbeats (tests).
	SkipNode bool
	Logf     func(format string, args ...any)
}

func (c *Config) defaults() {
	if c.NodeName == "" {
		c.NodeName = "lab-node"
	}
	if !c.PodCIDR.IsValid() {
		c.PodCIDR = netip.MustParsePrefix("198.51.100.0/24")
	}
	if c.Images == nil {
		c.Images = &ImageMap{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HeartbeatInterval, 10*time.Second)
	def(&c.MinGracePeriod, 2*time.Second)
	def(&c.BackoffBase, time.Second)
	def(&c.BackoffMax, 10*time.Second)
	def(&c.ShutdownGrace, 2*time.Second)
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Kubelet runs the pods bound to one node.
type Kubelet struct {
	cfg      Config
	client   kubernetes.Interface
	recorder record.EventRecorder
	bcast    record.EventBroadcaster
	nodeIP   string
	ips      *ipPool
	ports    *portPool

	mu       sync.Mutex
	workers  map[types.UID]*podWorker
	finished map[types.UID]bool // terminated and deleted by us; ignore late updates
	stopped  bool
	wg       sync.WaitGroup
}

// New returns a Kubelet using client.
func New(client kubernetes.Interface, cfg Config) (*Kubelet, error) {
	cfg.defaults()
	pool, nodeIP, err := newIPPool(cfg.PodCIDR)
	if err != nil {
		return nil, err
	}
	bcast := record.NewBroadcaster()
	bcast.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	rec := bcast.NewRecorder(scheme.Scheme, v1.EventSource{Component: "kubelet", Host: cfg.NodeName})
	return &Kubelet{
		cfg:      cfg,
		client:   client,
		recorder: rec,
		bcast:    bcast,
		nodeIP:   nodeIP,
		ips:      pool,
		ports:    newPortPool(),
		workers:  map[types.UID]*podWorker{},
		finished: map[types.UID]bool{},
	}, nil
}

// Run registers the node, follows the pods bound to it and runs them until
// ctx is done; then it kills every pod process and returns once all are gone.
func (k *Kubelet) Run(ctx context.Context) error {
	defer k.bcast.Shutdown()
	hbCtx, hbCancel := context.WithCancel(ctx)
	defer hbCancel()
	var hb sync.WaitGroup
	if !k.cfg.SkipNode {
		if err := k.registerNode(ctx); err != nil {
			return err
		}
		hb.Add(1)
		go func() { defer hb.Done(); k.heartbeat(hbCtx) }()
	}

	factory := informers.NewSharedInformerFactoryWithOptions(k.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.cfg.NodeName).String()
		}))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.podChanged(ctx, obj) },
		UpdateFunc: func(_, obj any) { k.podChanged(ctx, obj) },
		DeleteFunc: k.podDeleted,
	}); err != nil {
		return fmt.Errorf("add pod handler: %w", err)
	}
	factory.Start(ctx.Done())
	k.cfg.Logf("node %s: following pods", k.cfg.NodeName)
	<-ctx.Done()
	factory.Shutdown()

	k.mu.Lock()
	k.stopped = true
	k.mu.Unlock()
	k.wg.Wait() // workers see ctx done and kill their processes
	hbCancel()
	hb.Wait()
	k.cfg.Logf("all pod processes stopped")
	return nil
}

func (k *Kubelet) podChanged(ctx context.Context, obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok || pod.Spec.NodeName != k.cfg.NodeName {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped || ctx.Err() != nil {
		return
	}
	if w := k.workers[pod.UID]; w != nil {
		w.update(pod)
		return
	}
	if k.finished[pod.UID] || pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return // terminal: nothing to run
	}
	w := newPodWorker(k, pod)
	k.workers[pod.UID] = w
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		w.run(ctx)
		k.mu.Lock()
		delete(k.workers, pod.UID)
		k.mu.Unlock()
	}()
}

func (k *Kubelet) podDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	k.mu.Lock()
	w := k.workers[pod.UID]
	delete(k.finished, pod.UID)
	k.mu.Unlock()
	if w != nil {
		w.removed()
	}
}

func (k *Kubelet) markFinished(uid types.UID) {
	k.mu.Lock()
	k.finished[uid] = true
	k.mu.Unlock()
}

// ipPool hands out pod IP labels from a prefix.
type ipPool struct {
	mu    sync.Mutex
	free  []netip.Addr
	inUse map[netip.Addr]bool
}

func newIPPool(p netip.Prefix) (*ipPool, string, error) {
	p = p.Masked()
	if !p.Addr().Is4() || p.Bits() > 29 {
		return nil, "", fmt.Errorf("pod CIDR %s: need an IPv4 prefix of /29 or larger", p)
	}
	size := 1 << (32 - p.Bits())
	if size > 4096 {
		size = 4096
	}
	a := p.Addr().Next() // .1 is the node
	nodeIP := a.String()
	pool := &ipPool{inUse: map[netip.Addr]bool{}}
	for i := 2; i < size-1; i++ {
		a = a.Next()
		pool.free = append(pool.free, a)
	}
	return pool, nodeIP, nil
}

func (p *ipPool) allocate() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.free {
		if !p.inUse[a] {
			p.inUse[a] = true
			return a.String(), nil
		}
	}
	return "", errors.New("pod IP range exhausted")
}

// claim takes a specific address if it is in the pool and free.
func (p *ipPool) claim(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inUse[a] {
		return false
	}
	for _, f := range p.free {
		if f == a {
			p.inUse[a] = true
			return true
		}
	}
	return false
}

func (p *ipPool) release(s string) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return
	}
	p.mu.Lock()
	delete(p.inUse, a)
	p.mu.Unlock()
}

// portPool hands out free 127.0.0.1 TCP ports and remembers which it gave so
// two pods never get the same one.
type portPool struct {
	mu    sync.Mutex
	inUse map[int]bool
}

func newPortPool() *portPool { return &portPool{inUse: map[int]bool{}} }

func (p *portPool) allocate() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find free loopback port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !p.inUse[port] {
			p.inUse[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port")
}

// claim takes a specific port if we have not handed it out and it is free.
func (p *portPool) claim(port int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inUse[port] {
		return false
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	p.inUse[port] = true
	return true
}

func (p *portPool) release(port int) {
	p.mu.Lock()
	delete(p.inUse, port)
	p.mu.Unlock()
}
