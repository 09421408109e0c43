package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/rollcheck/rollcheck/lab/kubelet"
	"github.com/rollcheck/rollcheck/lab/node"
)

const (
	defaultNodeName = "lab-node"
	defaultLB       = "default/demo"
)

// lbTarget is one --lb SERVICE[=PORT] of up.
type lbTarget struct {
	service string // namespace/name
	port    int    // 0 until picked
	// tlsPort is the balancer's HTTPS listener of the same Service (0
	// until picked; none for a kube-proxy front).
	tlsPort int
	// kubeProxy: a kube-proxy front (--kube-proxy), a plain TCP forwarder
	// to the Service's ClusterIP inside the real node's namespace, instead
	// of the ALB-like load balancer.
	kubeProxy bool
	// node is the Node whose namespace (and kube-proxy) a kube-proxy front
	// enters through (--kube-proxy NS/NAME@NODE; "" the first node), and
	// nodeIndex its place among the lab's nodes.
	node      string
	nodeIndex int
	// instance: the ALB-like load balancer in instance mode (--lb-instance):
	// its targets are the real nodes at the Service's NodePort.
	instance bool
}

// tls reports whether the target has the balancer's HTTPS listener too.
func (t lbTarget) tls() bool { return !t.kubeProxy && !t.instance }

// key names the target in lab.json: NAMESPACE/NAME, and @NODE for a
// kube-proxy front through a chosen node.
func (t lbTarget) key() string {
	if t.node != "" {
		return t.service + "@" + t.node
	}
	return t.service
}

// addTargets parses the values of flag (NAMESPACE/NAME[=PORT], each
// Service once), marks each with kind and adds it to the targets.
func (o *upOptions) addTargets(flag string, values []string, kind func(*lbTarget)) error {
	seen := map[string]bool{}
	for _, s := range values {
		spec, nodeName, through := strings.Cut(s, "@")
		t, err := parseLB(spec)
		if err != nil {
			return fmt.Errorf("%s %w", flag, err)
		}
		kind(&t)
		if through {
			if !t.kubeProxy {
				return fmt.Errorf("%s %q: only a kube-proxy front enters through a chosen node (@NODE)", flag, s)
			}
			if t.nodeIndex = o.nodeIndex(nodeName); t.nodeIndex < 0 {
				return fmt.Errorf("%s %q: no Node %s in a lab of %d (%s, %s-2, ...)", flag, s, nodeName, max(o.nodes, 1), o.nodeName, o.nodeName)
			}
			t.node = nodeName
		}
		if seen[t.key()] {
			return fmt.Errorf("%s %s given twice", flag, t.key())
		}
		seen[t.key()] = true
		o.targets = append(o.targets, t)
	}
	return nil
}

// nodeIndex is the place of the Node named name among the lab's nodes
// (NAME, NAME-2, ...), or -1.
func (o *upOptions) nodeIndex(name string) int {
	for i := range max(o.nodes, 1) {
		if name == o.nodeName+nodeSuffix(i) {
			return i
		}
	}
	return -1
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
	dir           string
	apiserverPort int
	lbs           []string
	registerLag   time.Duration
	deregisterLag time.Duration
	idleTimeout   time.Duration
	nodeName      string
	nodes         int
	extraTaint    string
	// proxyMinSync is --kube-proxy-min-sync: a real node's kube-proxy
	// minSyncPeriod by Node name.
	proxyMinSync     map[string]time.Duration
	proxyMinSyncArgs []string
	// logMaxSize is --container-log-max-size: every real node's kubelet
	// containerLogMaxSize.
	logMaxSize   string
	timeout      time.Duration
	keepData     bool
	noKubelet    bool
	noLB         bool
	kubeletArgs  []string
	statusRelist time.Duration
	lbArgs       []string
	kubeProxies  []string
	lbInstances  []string
	ingress      bool
	ingressPort  int // 127.0.0.1 port of the ingress front; 0 until picked
	gateway      bool
	gatewayPort  int    // 127.0.0.1 port of the Gateway API front; 0 until picked
	traefik      string // Traefik's binary, with --ingress or --gateway
	// gatewayCRDs are the Gateway API's standard CRDs, with --gateway.
	gatewayCRDs    []*apiextensionsv1.CustomResourceDefinition
	nodeMode       string
	proxyMode      string
	setRegisterLag bool
	setDeregLag    bool
	setIdleTimeout bool
	targets        []lbTarget
	out            io.Writer
	exe            string
}

const upLong = `Start a local lab cluster in the foreground until SIGINT/SIGTERM.

Each component runs as its own child process of this binary: etcd, apiserver,
controller-manager, scheduler, kubelet (Node lab-node) and lb (two listeners
per --lb: HTTP on PORT and HTTPS on a free port). Their output goes to DIR/logs/NAME.log. When the API server answers
/readyz, the Node is Ready and the default ServiceAccount exists, up writes
DIR/lab.json, touches DIR/ready and prints the kubeconfig and load balancer
URLs. On SIGINT/SIGTERM it stops the components in reverse order (SIGTERM,
then SIGKILL after a grace period), removes DIR/ready and exits 0.

Files in DIR: ca.crt ca.key apiserver.crt apiserver.key sa.key sa.pub
tokens.csv front-ca.crt front-ca.key front.crt front.key (kept across runs), kubeconfig, lab.json, ready, up.pid, logs/,
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

The TLS front: each --lb Service has a second, HTTPS listener of the same
balancer (one target group), on a free 127.0.0.1 port, with a certificate
for 127.0.0.1, localhost and *.rollcheck-lab.test signed by the lab's front
CA, DIR/front-ca.crt (not the cluster's ca.crt). lab.json has the URLs as
lb_tls_url and lb_tls, and the CA's path as front_ca: rollcheck run
--target https://127.0.0.1:PORT/ --target-ca DIR/front-ca.crt.

With --ingress (--node real only), the ingress front: Traefik v3.5.0 (bin/
traefik, make lab-traefik) runs in the node's namespace as component traefik,
configured only by Ingress objects (its Kubernetes Ingress provider; IngressClass
traefik, controller traefik.io/ingress-controller, see scenarios/ingress.yaml),
with its entrypoint on 10.77.0.1:8000, no dashboard, API or metrics, and no
version check or usage statistics. lb forwards 127.0.0.1:PORT to that
entrypoint as plain TCP; lab.json has the URL as ingress_url.

With --gateway (--node real only), the Gateway API front: up installs the
Gateway API's standard CRDs (make lab-traefik copies them from the module
sigs.k8s.io/gateway-api, at the version Traefik's Gateway provider is built
against, to gateway-api-crds/ next to this binary) before the same Traefik
starts with its Kubernetes Gateway provider (GatewayClass controllerName
traefik.io/gateway-controller, see scenarios/gateway.yaml), on an entrypoint
of its own, 10.77.0.1:8001, which a Gateway's listener port must match. lb
forwards another 127.0.0.1 port to it; lab.json has the URL as gateway_url.
Either front writes Traefik's access log to DIR/logs/traefik-access.ndjson
(JSON, a line a request, with the pod's IP:port it went to as ServiceAddr);
lab.json names it as traefik_access_log.`

func newUpCommand() *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up --dir DIR [--node process|real [--proxy-mode iptables|nftables]] [--apiserver-port N] [--lb NAMESPACE/NAME[=PORT]]... [--kube-proxy NAMESPACE/NAME[=PORT][@NODE]]... [--ingress] [--gateway]",
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
	f.IntVar(&o.nodes, "nodes", 1, fmt.Sprintf("this many Nodes (1 to %d): NAME, NAME-2, ... in zones lab-a, lab-b, ... (topology.kubernetes.io/zone); with --node process each is its own process kubelet with pod IP labels from its own part of 198.51.100.0/24 (the first the lower half); with --node real each has its own network namespace, containerd, kubelet and kube-proxy, address 10.77.0.N and pods in 10.(243+N).0.0/16, and every node routes the others' pods", maxProcessNodes))
	f.StringArrayVar(&o.proxyMinSyncArgs, "kube-proxy-min-sync", nil, "with --node real: NODE=DURATION sets that Node's kube-proxy minSyncPeriod (default 1ms), which makes it apply EndpointSlice changes late, as in a large cluster; repeatable")
	f.StringVar(&o.logMaxSize, "container-log-max-size", "", "with --node real: every kubelet rotates a container's log past this size (its containerLogMaxSize, default 10Mi), looking every 3s: a small one (e.g. 32Ki) rotates a busy log every few seconds, as a production node does a log of megabytes")
	f.StringVar(&o.extraTaint, "extra-node-taint", "", "with --nodes above 1: every Node but the first registers with this taint, KEY=VALUE:EFFECT (the end-to-end suite keeps its extra Nodes for the tests that ask for them)")
	f.DurationVar(&o.timeout, "timeout", 90*time.Second, "give up if the lab is not ready within this time")
	f.BoolVar(&o.keepData, "keep-data", false, "keep etcd and kubelet data from a previous run instead of starting empty")
	f.BoolVar(&o.noKubelet, "no-kubelet", false, "do not start the kubelet (control plane only; pods stay Pending)")
	f.BoolVar(&o.noLB, "no-lb", false, "do not start the load balancer")
	f.StringArrayVar(&o.kubeletArgs, "kubelet-arg", nil, "extra argument for the kubelet command; repeatable")
	f.DurationVar(&o.statusRelist, "status-relist", kubelet.DefaultStatusRelist, "process kubelet: container starts and exits show in the pod status at the pod's next relist, this often, as a real kubelet's PLEG (readiness at once); 0 reports every change at once")
	f.StringArrayVar(&o.lbArgs, "lb-arg", nil, "extra argument for the lb command; repeatable")
	f.StringArrayVar(&o.kubeProxies, "kube-proxy", nil, "with --node real: forward 127.0.0.1:PORT to Service NAMESPACE/NAME's ClusterIP inside the node's namespace, so that traffic takes kube-proxy's rules (PORT omitted: a free port); NAMESPACE/NAME[=PORT]@NODE enters through that Node's namespace and kube-proxy instead of the first's; repeatable")
	f.StringArrayVar(&o.lbInstances, "lb-instance", nil, "with --node real: balance Service NAMESPACE/NAME (type NodePort) on 127.0.0.1:PORT like an ALB in instance mode: the targets are the nodes at the Service's NodePort, health-checked, and kube-proxy on each node picks the pod (PORT omitted: a free port); repeatable")
	f.BoolVar(&o.ingress, "ingress", false, "with --node real: run Traefik v3.5.0 (make lab-traefik) in the node's namespace, configured by Ingress objects, and forward a free 127.0.0.1 port to its entrypoint (lab.json ingress_url)")
	f.BoolVar(&o.gateway, "gateway", false, "with --node real: install the Gateway API's standard CRDs and run Traefik v3.5.0 (make lab-traefik) in the node's namespace with its Gateway provider, and forward a free 127.0.0.1 port to its Gateway entrypoint (lab.json gateway_url)")
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
	if o.statusRelist < 0 {
		return errors.New("--status-relist must be 0 (at once) or positive")
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
	if o.nodes < 1 || o.nodes > maxProcessNodes {
		return fmt.Errorf("--nodes %d: want 1 to %d", o.nodes, maxProcessNodes)
	}
	if o.nodeMode == nodeReal && o.nodes > node.MaxNodes {
		return fmt.Errorf("--nodes %d: the real lab runs at most %d", o.nodes, node.MaxNodes)
	}
	if len(o.proxyMinSyncArgs) > 0 && o.nodeMode != nodeReal {
		return errors.New("--kube-proxy-min-sync needs --node real (the process kubelet runs no kube-proxy)")
	}
	if o.logMaxSize != "" && o.nodeMode != nodeReal {
		return errors.New("--container-log-max-size needs --node real (the process kubelet writes no container logs)")
	}
	o.proxyMinSync = map[string]time.Duration{}
	for _, a := range o.proxyMinSyncArgs {
		name, d, ok := strings.Cut(a, "=")
		dur, err := time.ParseDuration(d)
		if !ok || err != nil || dur <= 0 {
			return fmt.Errorf("--kube-proxy-min-sync %q: want NODE=DURATION, a duration above 0 (e.g. %s=2s)", a, o.nodeName)
		}
		if o.nodeIndex(name) < 0 {
			return fmt.Errorf("--kube-proxy-min-sync %q: no Node %s in a lab of %d (%s, %s-2, ...)", a, name, max(o.nodes, 1), o.nodeName, o.nodeName)
		}
		o.proxyMinSync[name] = dur
	}
	if o.extraTaint != "" && o.nodes < 2 {
		return errors.New("--extra-node-taint goes with --nodes 2 or more")
	}
	if o.ingress && o.nodeMode != nodeReal {
		return errors.New("--ingress needs --node real (Traefik runs in the real node's network namespace)")
	}
	if o.gateway && o.nodeMode != nodeReal {
		return errors.New("--gateway needs --node real (Traefik runs in the real node's network namespace)")
	}
	if err := o.addTargets("--kube-proxy", o.kubeProxies, func(t *lbTarget) { t.kubeProxy = true }); err != nil {
		return err
	}
	if len(o.lbInstances) > 0 && o.nodeMode != nodeReal {
		return errors.New("--lb-instance needs --node real (its targets are the real nodes' NodePorts)")
	}
	if err := o.addTargets("--lb-instance", o.lbInstances, func(t *lbTarget) { t.instance = true }); err != nil {
		return err
	}
	switch o.nodeMode {
	case nodeProcess:
		if cmd.Flags().Changed("proxy-mode") {
			return errors.New("--proxy-mode needs --node real (the process kubelet runs no kube-proxy)")
		}
	case nodeReal:
		if o.noKubelet || len(o.kubeletArgs) > 0 || cmd.Flags().Changed("status-relist") {
			return errors.New("--no-kubelet, --kubelet-arg and --status-relist are for --node process")
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
		if o.traefik, err = traefikBinary(o.exe, "--ingress"); err != nil {
			return err
		}
	}
	if o.gateway {
		if o.traefik, err = traefikBinary(o.exe, "--gateway"); err != nil {
			return err
		}
		if o.gatewayCRDs, err = gatewayCRDs(o.exe); err != nil {
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
		if t.tls() {
			need++ // its HTTPS listener
		}
	}
	if o.ingress {
		need++
	}
	if o.gateway {
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
		if o.targets[i].tls() {
			o.targets[i].tlsPort = next()
		}
	}
	if o.ingress {
		o.ingressPort = next()
	}
	if o.gateway {
		o.gatewayPort = next()
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
	nd, err := o.newNodeRunner(pk, pt)
	if err != nil {
		return err
	}
	// After the components stop (defers run last first): what the node
	// left on the host goes too.
	defer nd.teardown(o.out)
	if line := nd.describe(ctx); line != "" {
		fmt.Fprintln(o.out, line)
	}

	sup := newSupervisor(o.exe, o.dir)
	defer sup.stop()

	startCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	state, err := o.startAll(startCtx, sup, pk, pt, nd)
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
			through := "its ClusterIP"
			if t.node != "" {
				through += " from node " + t.node
			}
			fmt.Fprintf(o.out, "kube-proxy front: %s (%s, through %s)\n", state.KubeProxy[t.key()], t.service, through)
			continue
		}
		if t.instance {
			fmt.Fprintf(o.out, "load balancer, instance mode: %s (%s, through each node's NodePort)\n", state.LBInstance[t.service], t.service)
			continue
		}
		fmt.Fprintf(o.out, "load balancer: %s (%s)\n", state.LB[t.service], t.service)
		fmt.Fprintf(o.out, "load balancer, TLS: %s (%s; --target-ca %s)\n", state.LBTLS[t.service], t.service, state.FrontCA)
	}
	if o.ingress {
		fmt.Fprintf(o.out, "ingress front (Traefik %s): %s\n", versionWord(ctx, o.traefik, 1, "version"), state.IngressURL)
	}
	if o.gateway {
		fmt.Fprintf(o.out, "Gateway API front (Traefik %s, Gateway API %s): %s\n", versionWord(ctx, o.traefik, 1, "version"), gatewayAPIVersion(o.gatewayCRDs), state.GatewayURL)
	}
	if o.ingress || o.gateway {
		fmt.Fprintf(o.out, "Traefik's access log: %s\n", state.TraefikAccessLog)
	}
	fmt.Fprintf(o.out, "ready in %s (logs in %s)\n", state.ReadyAfter, filepath.Join(o.dir, logsDir))

	<-ctx.Done()
	fmt.Fprintln(o.out, "stopping the lab")
	_ = os.Remove(filepath.Join(o.dir, readyFile))
	sup.stop()
	return nil
}
