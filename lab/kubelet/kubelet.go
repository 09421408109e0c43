// Package kubelet is the lab's process kubelet: it registers a Node, runs each
// pod bound to it as local processes (image names map to local commands),
// gives every pod a label IP from a TEST-NET range and a real 127.0.0.1 port
// behind each container port, runs probes and lifecycle hooks, and terminates
// pods the way the real kubelet does (preStop inside the grace period, SIGTERM,
// SIGKILL at expiry, terminal phase, then delete with grace 0).
//
// The API plumbing is kept apart from the pod runtime so that the runtime can
// be tested with a fake clientset and real local processes:
//
//   - kubelet.go: Config and Kubelet, which follows the node's pods and
//     starts a podWorker per pod.
//   - command.go: the `rollcheck-lab kubelet` command.
//   - node.go: Node registration, Lease and Ready heartbeats.
//   - addresses.go: the node-wide pools of pod IP labels and loopback ports.
//   - podworker.go: podWorker, one pod from sandbox to deletion.
//   - sandbox.go: a pod's IP and loopback ports, and their annotation.
//   - container.go: one container: start, supervise, restart with back-off.
//   - env.go: a container process's environment.
//   - images.go: image → argv prefix rules and the process argv.
//   - proc.go: spawning and signalling process groups.
//   - termination.go: grace periods, SIGTERM and SIGKILL, terminal phase.
//   - deadline.go: spec.activeDeadlineSeconds (DeadlineExceeded).
//   - hooks.go: postStart and preStop lifecycle hooks.
//   - prober.go: probe workers: periods, thresholds, and their effect.
//   - probe.go: one probe attempt and the exec/HTTP actions hooks share.
//   - status.go: the pod status written to the API server.
//   - server.go: the kubelet API the API server calls (127.0.0.1, HTTPS),
//     and why the Node's InternalIP is 127.0.0.1.
//   - crilog.go: a container's stdout and stderr into its log file, in the
//     CRI log format a runtime writes.
//   - logs.go: containerLogs (kubectl logs with all its options), read with
//     the kubelet's own CRI log reader.
//   - exec.go, pty.go: exec (kubectl exec, with -t a pty).
//   - portforward.go: portForward (kubectl port-forward).
package kubelet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
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
	// Dir is the state directory; each run of a container logs to
	// Dir/pods/<ns>_<pod>/<container>/<restartCount>.log in the CRI format.
	Dir string
	// PodCIDR: pods take its addresses but the first and the last. They are
	// labels, never dialed.
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
	// Port is the kubelet API's port on 127.0.0.1; 0 picks a free one. It
	// is published in the Node's status.daemonEndpoints.kubeletEndpoint.
	Port int
	// ClientCAFile, when set, makes the kubelet API require client
	// certificates signed by this CA (the API server's
	// --kubelet-client-certificate); else any local client is served.
	ClientCAFile string
	// StatusRelist is how often a pod's container starts and exits are
	// taken into its status, as a real kubelet's PLEG relists the runtime
	// every second: a transition shows in the API at the pod's next relist
	// (each pod at its own random phase), while readiness probe results
	// are reported at once, as the real prober does through the status
	// manager. 0 reports every change at once.
	StatusRelist time.Duration
	// NodeLabels are added to the Node's own labels (a zone), and
	// RegisterTaints are its taints when it registers, as the real
	// kubelet's --node-labels and --register-with-taints.
	NodeLabels     map[string]string
	RegisterTaints []v1.Taint
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
	ips      *ipPool
	ports    *portPool

	mu       sync.Mutex
	workers  map[types.UID]*podWorker
	finished map[types.UID]bool // terminated and deleted by us; ignore late updates
	apiPort  int                // the kubelet API's port, set in Run before the Node is registered
	stopped  bool
	wg       sync.WaitGroup
}

// New returns a Kubelet using client.
func New(client kubernetes.Interface, cfg Config) (*Kubelet, error) {
	cfg.defaults()
	pool, err := newIPPool(cfg.PodCIDR)
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
	ln, err := k.listenAPI()
	if err != nil {
		return err
	}
	k.apiPort = ln.Addr().(*net.TCPAddr).Port
	stopAPI := k.serveAPI(ctx, ln)
	defer stopAPI()
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
