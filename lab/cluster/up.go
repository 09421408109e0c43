package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rollcheck/rollcheck/lab/node"
)

const (
	defaultNodeName = "lab-node"
	defaultLB       = "default/demo"
	// serviceCIDR labels Service ClusterIPs; nothing ever dials them.
	serviceCIDR = "10.96.0.0/16"
)

// controllers are the kube-controller-manager controllers the lab runs. The
// node lifecycle controller is left out on purpose: it would taint and evict
// the process kubelet's pods whenever the kubelet misses a heartbeat.
var controllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"endpointslice-controller",
	"garbage-collector-controller",
	"namespace-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
	"pod-garbage-collector-controller",
	"disruption-controller",
	"job-controller",
	"statefulset-controller",
	"daemonset-controller",
	"ttl-after-finished-controller",
	// A nightly CronJob keeps its reports on a PersistentVolumeClaim.
	"cronjob-controller",
	"persistentvolume-binder-controller",
	"persistentvolume-protection-controller",
	"persistentvolumeclaim-protection-controller",
}

// lbTarget is one --lb SERVICE[=PORT] of up.
type lbTarget struct {
	service string // namespace/name
	port    int    // 0 until picked
	// kubeProxy: a kube-proxy front (--kube-proxy), a plain TCP forwarder
	// to the Service's ClusterIP inside the real node's namespace, instead
	// of the ALB-like load balancer.
	kubeProxy bool
}

func parseLB(s string) (lbTarget, error) {
	svc, port, hasPort := strings.Cut(s, "=")
	ns, name, ok := strings.Cut(svc, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return lbTarget{}, fmt.Errorf("%q: want NAMESPACE/NAME[=PORT]", s)
	}
	t := lbTarget{service: svc}
	if hasPort {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return lbTarget{}, fmt.Errorf("%q: bad port", s)
		}
		t.port = p
	}
	return t, nil
}

type upOptions struct {
	dir            string
	apiserverPort  int
	lbs            []string
	registerLag    time.Duration
	deregisterLag  time.Duration
	idleTimeout    time.Duration
	nodeName       string
	timeout        time.Duration
	keepData       bool
	noKubelet      bool
	noLB           bool
	kubeletArgs    []string
	lbArgs         []string
	kubeProxies    []string
	ingress        bool
	ingressPort    int    // 127.0.0.1 port of the ingress front; 0 until picked
	traefik        string // Traefik's binary, with --ingress
	nodeMode       string
	proxyMode      string
	real           *realNode // with --node real
	setRegisterLag bool
	setDeregLag    bool
	setIdleTimeout bool
	targets        []lbTarget
	out            io.Writer
	exe            string
}

const upLong = `Start a local lab cluster in the foreground until SIGINT/SIGTERM.

Each component runs as its own child process of this binary: etcd, apiserver,
controller-manager, scheduler, kubelet (Node lab-node) and lb (one listener per
--lb). Their output goes to DIR/logs/NAME.log. When the API server answers
/readyz, the Node is Ready and the default ServiceAccount exists, up writes
DIR/lab.json, touches DIR/ready and prints the kubeconfig and load balancer
URLs. On SIGINT/SIGTERM it stops the components in reverse order (SIGTERM,
then SIGKILL after a grace period), removes DIR/ready and exits 0.

Files in DIR: ca.crt ca.key apiserver.crt apiserver.key sa.key sa.pub
tokens.csv (kept across runs), kubeconfig, lab.json, ready, up.pid, logs/,
etcd/ and kubelet/ (wiped at start unless --keep-data), hold/.

With --node real (root; Debian's containerd, runc and containernetworking-
plugins; kubelet and kube-proxy from make lab-node next to this binary), the
node is the upstream kubelet and kube-proxy with containerd, runc and CNI,
run in a network namespace of the lab's (rclab- and 8 hex digits of DIR's
hash; a bridge lab0 without ports holds the node's 10.77.0.1, pods get
10.244.0.0/16), so that no pod traffic touches the host's network. The
components are containerd, node-relay (the API server into the namespace,
and the API server's connections to the kubelet out of it), kubelet and
kube-proxy; their files are in DIR/node, the lab's images are imported at
start. When up stops, the pods are removed through CRI before containerd
stops; then the node's mounts, cgroups and namespace go. down (or the next
up in DIR) does the same for a lab whose up crashed.

Once ready, up restarts any component whose process exits (after 0.5s,
backing off to 10s if it keeps crashing), unless DIR/hold/NAME exists:
stop-component, start-component and restart-component use that to take the
API server (or any component) down on purpose and bring it back.

With --ingress (--node real only), the ingress front: Traefik v3.5.0 (bin/
traefik, make lab-traefik) runs in the node's namespace as component traefik,
configured only by Ingress objects (its Kubernetes Ingress provider; IngressClass
traefik, controller traefik.io/ingress-controller, see scenarios/ingress.yaml),
with its entrypoint on 10.77.0.1:8000, no dashboard, API or metrics, and no
version check or usage statistics. lb forwards 127.0.0.1:PORT to that
entrypoint as plain TCP; lab.json has the URL as ingress_url.`

func newUpCommand() *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up --dir DIR [--node process|real [--proxy-mode iptables|nftables]] [--apiserver-port N] [--lb NAMESPACE/NAME[=PORT]]... [--kube-proxy NAMESPACE/NAME[=PORT]]... [--ingress]",
		Short: "Start the lab cluster and stay in the foreground until SIGINT/SIGTERM",
		Long:  upLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			o.setRegisterLag, o.setDeregLag, o.setIdleTimeout = f.Changed("lb-register-lag"), f.Changed("lb-deregister-lag"), f.Changed("lb-idle-timeout")
			if err := o.complete(cmd); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "lab directory (created if missing)")
	f.IntVar(&o.apiserverPort, "apiserver-port", 0, "API server port on 127.0.0.1 (0: a free port)")
	f.StringArrayVar(&o.lbs, "lb", []string{defaultLB}, "load-balance Service NAMESPACE/NAME on 127.0.0.1:PORT (PORT omitted: a free port); repeatable")
	f.DurationVar(&o.registerLag, "lb-register-lag", 0, "load balancer: delay before a ready endpoint gets traffic (passed to lb --register-lag)")
	f.DurationVar(&o.deregisterLag, "lb-deregister-lag", 0, "load balancer: delay before a removed endpoint stops getting traffic (lb --deregister-lag)")
	f.DurationVar(&o.idleTimeout, "lb-idle-timeout", 0, "load balancer: idle timeout (lb --idle-timeout)")
	f.StringVar(&o.nodeName, "node-name", defaultNodeName, "name of the kubelet's Node")
	f.DurationVar(&o.timeout, "timeout", 90*time.Second, "give up if the lab is not ready within this time")
	f.BoolVar(&o.keepData, "keep-data", false, "keep etcd and kubelet data from a previous run instead of starting empty")
	f.BoolVar(&o.noKubelet, "no-kubelet", false, "do not start the kubelet (control plane only; pods stay Pending)")
	f.BoolVar(&o.noLB, "no-lb", false, "do not start the load balancer")
	f.StringArrayVar(&o.kubeletArgs, "kubelet-arg", nil, "extra argument for the kubelet command; repeatable")
	f.StringArrayVar(&o.lbArgs, "lb-arg", nil, "extra argument for the lb command; repeatable")
	f.StringArrayVar(&o.kubeProxies, "kube-proxy", nil, "with --node real: forward 127.0.0.1:PORT to Service NAMESPACE/NAME's ClusterIP inside the node's namespace, so that traffic takes kube-proxy's rules (PORT omitted: a free port); repeatable")
	f.BoolVar(&o.ingress, "ingress", false, "with --node real: run Traefik v3.5.0 (make lab-traefik) in the node's namespace, configured by Ingress objects, and forward a free 127.0.0.1 port to its entrypoint (lab.json ingress_url)")
	f.StringVar(&o.nodeMode, "node", nodeProcess, "the node: process (the lab's process kubelet; no root needed) or real (upstream kubelet and kube-proxy, containerd, runc and CNI in a network namespace; root)")
	f.StringVar(&o.proxyMode, "proxy-mode", node.ProxyIPTables, "kube-proxy's mode with --node real: iptables or nftables")
	_ = f.MarkHidden("no-kubelet")
	_ = f.MarkHidden("no-lb")
	return cmd
}

func (o *upOptions) complete(cmd *cobra.Command) error {
	if o.dir == "" {
		return errors.New("--dir is required")
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	o.dir = dir
	if o.apiserverPort < 0 || o.apiserverPort > 65535 {
		return fmt.Errorf("--apiserver-port %d out of range", o.apiserverPort)
	}
	seen := map[string]bool{}
	for _, s := range o.lbs {
		t, err := parseLB(s)
		if err != nil {
			return fmt.Errorf("--lb %w", err)
		}
		if seen[t.service] {
			return fmt.Errorf("--lb %s given twice", t.service)
		}
		seen[t.service] = true
		o.targets = append(o.targets, t)
	}
	if o.noLB {
		o.targets = nil
	}
	if len(o.kubeProxies) > 0 && o.nodeMode != nodeReal {
		return errors.New("--kube-proxy needs --node real (the process kubelet runs no kube-proxy)")
	}
	if o.ingress && o.nodeMode != nodeReal {
		return errors.New("--ingress needs --node real (Traefik runs in the real node's network namespace)")
	}
	seenKP := map[string]bool{}
	for _, s := range o.kubeProxies {
		t, err := parseLB(s)
		if err != nil {
			return fmt.Errorf("--kube-proxy %w", err)
		}
		if seenKP[t.service] {
			return fmt.Errorf("--kube-proxy %s given twice", t.service)
		}
		seenKP[t.service] = true
		t.kubeProxy = true
		o.targets = append(o.targets, t)
	}
	switch o.nodeMode {
	case nodeProcess:
		if cmd.Flags().Changed("proxy-mode") {
			return errors.New("--proxy-mode needs --node real (the process kubelet runs no kube-proxy)")
		}
	case nodeReal:
		if o.noKubelet || len(o.kubeletArgs) > 0 {
			return errors.New("--no-kubelet and --kubelet-arg are for --node process")
		}
		// node-relay listens on the API server's port inside the namespace,
		// next to the kubelet's and kube-proxy's loopback ports.
		if o.apiserverPort == 10248 || o.apiserverPort == 10249 {
			return fmt.Errorf("--apiserver-port %d is the kubelet's or kube-proxy's port inside the real node's namespace", o.apiserverPort)
		}
		if o.proxyMode != node.ProxyIPTables && o.proxyMode != node.ProxyNFTables {
			return fmt.Errorf("--proxy-mode %q: want %s or %s", o.proxyMode, node.ProxyIPTables, node.ProxyNFTables)
		}
	default:
		return fmt.Errorf("--node %q: want %s or %s", o.nodeMode, nodeProcess, nodeReal)
	}
	o.out = cmd.OutOrStdout()
	if o.exe, err = os.Executable(); err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	if o.ingress {
		if o.traefik, err = traefikBinary(o.exe); err != nil {
			return err
		}
	}
	return nil
}

// ports are the lab's listening ports on 127.0.0.1.
type ports struct {
	etcdClient, etcdPeer, apiserver int
}

func (o *upOptions) pickPorts() (ports, error) {
	need := 2
	if o.apiserverPort == 0 {
		need++
	}
	for _, t := range o.targets {
		if t.port == 0 {
			need++
		}
	}
	if o.ingress {
		need++
	}
	free, err := freePorts(need)
	if err != nil {
		return ports{}, err
	}
	next := func() int { p := free[0]; free = free[1:]; return p }
	p := ports{etcdClient: next(), etcdPeer: next(), apiserver: o.apiserverPort}
	if p.apiserver == 0 {
		p.apiserver = next()
	}
	for i := range o.targets {
		if o.targets[i].port == 0 {
			o.targets[i].port = next()
		}
	}
	if o.ingress {
		o.ingressPort = next()
	}
	return p, nil
}

// prepare readies DIR for a new run and claims it for this process.
func (o *upOptions) prepare() error {
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	if p, err := readUpPID(o.dir); err == nil && p.alive() && p.PID != os.Getpid() {
		return fmt.Errorf("a lab is already running in %s (pid %d); run `rollcheck-lab down --dir %s`", o.dir, p.PID, o.dir)
	}
	for _, name := range []string{readyFile, labFile, holdDir} {
		if err := os.RemoveAll(filepath.Join(o.dir, name)); err != nil {
			return err
		}
	}
	if !o.keepData {
		for _, name := range []string{"etcd", "kubelet"} {
			if err := os.RemoveAll(filepath.Join(o.dir, name)); err != nil {
				return err
			}
		}
	}
	for _, name := range []string{logsDir, holdDir} {
		if err := os.MkdirAll(filepath.Join(o.dir, name), 0o755); err != nil {
			return err
		}
	}
	return writeUpPID(o.dir, selfProc())
}

func (o *upOptions) run(ctx context.Context) error {
	began := time.Now()
	if err := o.prepare(); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(o.dir, upPIDFile))
	defer os.Remove(filepath.Join(o.dir, readyFile))

	pk, err := ensurePKI(o.dir, began)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	pt, err := o.pickPorts()
	if err != nil {
		return err
	}
	apiURL := fmt.Sprintf("https://127.0.0.1:%d", pt.apiserver)
	if err := pk.writeKubeconfig(apiURL); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	kubeconfig := pk.path(kubeconfigFile)
	if o.nodeMode == nodeReal {
		if o.real, err = newRealNode(o, kubeconfig); err != nil {
			return err
		}
		// After the components stop (defers run last first): mounts,
		// cgroups and the namespace go too.
		defer func() {
			began := time.Now()
			if err := o.real.teardown(); err != nil {
				fmt.Fprintf(o.out, "real node teardown: %v\n", err)
				return
			}
			fmt.Fprintf(o.out, "real node torn down in %s\n", time.Since(began).Round(10*time.Millisecond))
		}()
		fmt.Fprintln(o.out, o.real.describe(ctx))
	}

	sup := newSupervisor(o.exe, o.dir)
	defer sup.stop()

	startCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	state, err := o.startAll(startCtx, sup, pk, pt)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return err
	}
	state.PID, state.PIDStart = os.Getpid(), selfProc().Start
	state.ReadyAfter = time.Since(began).Round(10 * time.Millisecond).String()

	var stateMu sync.Mutex
	save := func() error {
		stateMu.Lock()
		defer stateMu.Unlock()
		state.Components, state.ComponentStarts = sup.pids()
		return writeState(o.dir, state)
	}
	if err := save(); err != nil {
		return err
	}
	sup.enableRestarts(func() { _ = save() }, apiReadyFunc(kubeconfig))
	if err := os.WriteFile(filepath.Join(o.dir, readyFile), nil, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "kubeconfig: %s\n", kubeconfig)
	for _, t := range o.targets {
		if t.kubeProxy {
			fmt.Fprintf(o.out, "kube-proxy front: %s (%s, through its ClusterIP)\n", state.KubeProxy[t.service], t.service)
			continue
		}
		fmt.Fprintf(o.out, "load balancer: %s (%s)\n", state.LB[t.service], t.service)
	}
	if o.ingress {
		fmt.Fprintf(o.out, "ingress front (Traefik %s): %s\n", versionWord(ctx, o.traefik, 1, "version"), state.IngressURL)
	}
	fmt.Fprintf(o.out, "ready in %s (logs in %s)\n", state.ReadyAfter, filepath.Join(o.dir, logsDir))

	<-ctx.Done()
	fmt.Fprintln(o.out, "stopping the lab")
	_ = os.Remove(filepath.Join(o.dir, readyFile))
	sup.stop()
	return nil
}

// startAll starts the components in dependency order and waits until the lab
// is ready.
func (o *upOptions) startAll(ctx context.Context, sup *supervisor, pk *pki, pt ports) (*State, error) {
	kubeconfig := pk.path(kubeconfigFile)
	etcdAddr := fmt.Sprintf("127.0.0.1:%d", pt.etcdClient)
	state := &State{
		Dir:        o.dir,
		Kubeconfig: kubeconfig,
		LB:         map[string]string{},
		APIServer:  fmt.Sprintf("https://127.0.0.1:%d", pt.apiserver),
		Etcd:       "http://" + etcdAddr,
	}
	if !o.noKubelet {
		state.NodeName = o.nodeName
	}
	state.NodeMode = o.nodeMode
	if o.real != nil {
		state.Netns = o.real.layout.Namespace
		state.NetnsPath = o.real.layout.NetnsPath()
		state.NodeIP = node.NodeIP
		state.ContainerdSocket = o.real.layout.ContainerdSocket()
		state.ProxyMode = o.proxyMode
	}
	if o.ingress {
		state.IngressURL = fmt.Sprintf("http://127.0.0.1:%d", o.ingressPort)
	}
	for _, t := range o.targets {
		u := fmt.Sprintf("http://127.0.0.1:%d", t.port)
		if t.kubeProxy {
			if state.KubeProxy == nil {
				state.KubeProxy = map[string]string{}
			}
			state.KubeProxy[t.service] = u
			continue
		}
		state.LB[t.service] = u
		if state.LBURL == "" {
			state.LBURL = u
		}
	}

	// waitFor polls cond until it holds, failing early if a component dies.
	waitFor := func(what string, cond func(context.Context) error) error {
		var last error
		for {
			if last = cond(ctx); last == nil {
				return nil
			}
			select {
			case err := <-sup.failed:
				return err
			case <-ctx.Done():
				return fmt.Errorf("timed out waiting for %s: %v (logs in %s)", what, last, filepath.Join(o.dir, logsDir))
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	if o.real != nil {
		// containerd first: it serves while the control plane starts.
		if err := o.real.startRuntime(ctx, sup); err != nil {
			return nil, err
		}
	}
	if err := sup.start(&child{name: "etcd", grace: 10 * time.Second, args: []string{
		"--dir", o.dir,
		"--listen-client", etcdAddr,
		"--listen-peer", fmt.Sprintf("127.0.0.1:%d", pt.etcdPeer),
	}}); err != nil {
		return nil, err
	}
	if err := waitFor("etcd", func(context.Context) error { return dialable(etcdAddr) }); err != nil {
		return nil, err
	}
	apiArgs := apiserverArgs(pk, pt, etcdAddr)
	if o.real != nil {
		apiArgs = append(apiArgs, node.APIServerArgs(o.real.layout)...)
	}
	if err := sup.start(&child{name: "apiserver", grace: 10 * time.Second, args: apiArgs}); err != nil {
		return nil, err
	}
	// The real node's images are written and imported while the rest
	// starts; no pod runs before up is ready, and up waits for them.
	imported := make(chan error, 1)
	if o.real != nil {
		go func() { imported <- o.real.importImages(ctx, o.out) }()
	} else {
		imported <- nil
	}

	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	restCfg.Timeout = 5 * time.Second
	restCfg.QPS, restCfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	if err := waitFor("the API server's /readyz", func(ctx context.Context) error {
		return apiserverReady(ctx, cs)
	}); err != nil {
		return nil, err
	}

	if err := sup.start(&child{name: "controller-manager", grace: 10 * time.Second, followsAPIServer: true, args: controllerManagerArgs(pk)}); err != nil {
		return nil, err
	}
	if err := sup.start(&child{name: "scheduler", grace: 10 * time.Second, followsAPIServer: true, args: []string{
		"--kubeconfig", kubeconfig,
		"--authentication-kubeconfig", kubeconfig,
		"--authorization-kubeconfig", kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=0",
	}}); err != nil {
		return nil, err
	}
	if o.real != nil {
		if err := o.real.startNode(sup, fmt.Sprintf("127.0.0.1:%d", pt.apiserver)); err != nil {
			return nil, err
		}
		if o.ingress {
			if err := sup.start(&child{name: traefikName, grace: 10 * time.Second, argv: traefikCommand(o.real.layout, o.traefik, kubeconfig)}); err != nil {
				return nil, err
			}
		}
	} else if !o.noKubelet {
		args := append([]string{
			"--kubeconfig", kubeconfig,
			"--node-name", o.nodeName,
			// Its kubelet API listens on the host's 127.0.0.1: only the
			// API server (a certificate of the lab's CA) may use it.
			"--client-ca-file", pk.path(caCertFile),
			"--dir", filepath.Join(o.dir, "kubelet"),
		}, o.kubeletArgs...)
		// The kubelet stops its pods on SIGTERM; give their grace periods time.
		if err := sup.start(&child{name: "kubelet", grace: 40 * time.Second, args: args}); err != nil {
			return nil, err
		}
	}
	if len(o.targets) > 0 || o.ingress {
		args := []string{"--kubeconfig", kubeconfig}
		for _, t := range o.targets {
			flag := "--service"
			if t.kubeProxy {
				flag = "--cluster-ip-service"
			}
			args = append(args, flag, fmt.Sprintf("%s=127.0.0.1:%d", t.service, t.port))
		}
		if o.ingress {
			args = append(args, "--tcp-forward", fmt.Sprintf("127.0.0.1:%d=%s", o.ingressPort, traefikEntrypoint))
		}
		if o.setRegisterLag {
			args = append(args, "--register-lag", o.registerLag.String())
		}
		if o.setDeregLag {
			args = append(args, "--deregister-lag", o.deregisterLag.String())
		}
		if o.setIdleTimeout {
			args = append(args, "--idle-timeout", o.idleTimeout.String())
		}
		if o.real != nil {
			// The targets are pod IPs, inside the namespace.
			args = append(args, "--netns", o.real.layout.NetnsPath())
		}
		args = append(args, o.lbArgs...)
		if err := sup.start(&child{name: "lb", grace: 10 * time.Second, args: args}); err != nil {
			return nil, err
		}
	}

	if err := waitFor("the default ServiceAccount", func(ctx context.Context) error {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1GetOptions)
		return err
	}); err != nil {
		return nil, err
	}
	if o.real != nil {
		if err := waitFor("the kubernetes Service's endpoint for pods", func(ctx context.Context) error {
			return publishAPIServer(ctx, cs, int32(pt.apiserver))
		}); err != nil {
			return nil, err
		}
	}
	if !o.noKubelet {
		if err := waitFor("Node "+o.nodeName+" Ready", func(ctx context.Context) error {
			return nodeReady(ctx, cs, o.nodeName)
		}); err != nil {
			return nil, err
		}
	}
	select {
	case err := <-imported:
		if err != nil {
			return nil, err
		}
	case err := <-sup.failed:
		return nil, err
	case <-ctx.Done():
		return nil, fmt.Errorf("timed out importing the real node's images (logs in %s)", filepath.Join(o.dir, logsDir))
	}
	for _, t := range o.targets {
		addr := fmt.Sprintf("127.0.0.1:%d", t.port)
		if err := waitFor("the load balancer on "+addr, func(context.Context) error { return dialable(addr) }); err != nil {
			return nil, err
		}
	}
	if o.ingress {
		addr := fmt.Sprintf("127.0.0.1:%d", o.ingressPort)
		if err := waitFor("the ingress front's forwarder on "+addr, func(context.Context) error { return dialable(addr) }); err != nil {
			return nil, err
		}
		if err := waitFor("Traefik's entrypoint "+traefikEntrypoint+" inside the namespace", func(ctx context.Context) error {
			return traefikServing(ctx, o.real.layout.NetnsPath())
		}); err != nil {
			return nil, err
		}
	}
	return state, nil
}

func apiserverArgs(pk *pki, pt ports, etcdAddr string) []string {
	return []string{
		"--etcd-servers=http://" + etcdAddr,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(pt.apiserver),
		"--tls-cert-file=" + pk.path(servingCertFile),
		"--tls-private-key-file=" + pk.path(servingKeyFile),
		"--kubelet-client-certificate=" + pk.path(kubeletClientCertFile),
		"--kubelet-client-key=" + pk.path(kubeletClientKeyFile),
		"--client-ca-file=" + pk.path(caCertFile),
		"--token-auth-file=" + pk.path(tokenFile),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pk.path(saPubFile),
		"--service-account-signing-key-file=" + pk.path(saKeyFile),
		"--service-cluster-ip-range=" + serviceCIDR,
		// The kubernetes Service's endpoint would be 127.0.0.1, which
		// Endpoints and EndpointSlices reject; the real node publishes its
		// own (publishAPIServer), the process node needs none.
		"--endpoint-reconciler-type=none",
		// TaintNodesByCondition taints every new Node not-ready until the
		// node lifecycle controller clears it; the lab does not run that
		// controller (see controllers), so the taint would stay for good.
		"--disable-admission-plugins=TaintNodesByCondition",
		"--enable-priority-and-fairness=false",
		// Reach the kubelet (logs, exec, port-forward) at the Node's
		// InternalIP, never by looking its name up in DNS: that lookup
		// would leave the machine.
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
	}
}

func controllerManagerArgs(pk *pki) []string {
	kubeconfig := pk.path(kubeconfigFile)
	return []string{
		"--kubeconfig", kubeconfig,
		"--authentication-kubeconfig", kubeconfig,
		"--authorization-kubeconfig", kubeconfig,
		"--controllers=" + strings.Join(controllers, ","),
		"--service-account-private-key-file=" + pk.path(saKeyFile),
		"--root-ca-file=" + pk.path(caCertFile),
		"--use-service-account-credentials=false",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--kube-api-qps=100",
		"--kube-api-burst=200",
	}
}

// apiReadyFunc returns a check of the API server's /readyz through the
// admin kubeconfig (nil if the kubeconfig cannot be read: no recovery then).
func apiReadyFunc(kubeconfig string) func(context.Context) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil
	}
	return func(ctx context.Context) error { return apiserverReady(ctx, cs) }
}

func dialable(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

func apiserverReady(ctx context.Context, cs kubernetes.Interface) error {
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("/readyz: %w: %s", err, firstLine(body))
	}
	return nil
}

func nodeReady(ctx context.Context, cs kubernetes.Interface, name string) error {
	n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1GetOptions)
	if err != nil {
		return err
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("node %s Ready=%s: %s", name, c.Status, c.Message)
		}
	}
	return fmt.Errorf("node %s has no Ready condition", name)
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

var metav1GetOptions = metav1.GetOptions{}
