// Package lb holds the lab's fronts, the ways traffic from the host's
// 127.0.0.1 reaches a Service.
//
// The Balancer behaves like an AWS ALB in ip target mode behind the AWS
// Load Balancer Controller: it follows each Service's EndpointSlices,
// registers ready endpoints after a registration lag, keeps sending new
// requests to endpoints that went away for a deregistration lag, and
// answers 502/503/504 where an ALB would. With the process kubelet the pod
// IPs are labels and the real destination is the 127.0.0.1 port the lab
// kubelet publishes in the pod annotation lab.rollcheck.dev/ports; on a
// real node (Settings.Netns) the destination is the pod IP itself, dialed
// from inside the node's network namespace.
//
// The Forwarder is the kube-proxy front of a real node: plain TCP to the
// Service's ClusterIP inside the node's namespace, so that kube-proxy's
// rules choose the pod. With a fixed address (--tcp-forward) it carries
// connections to one address inside the namespace, such as the ingress
// controller's entrypoint.
package lb

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rollcheck/rollcheck/lab/netns"
)

// Options are the flags of `rollcheck-lab lb`.
type Options struct {
	Kubeconfig      string
	ServiceFlags    []string
	TLSServiceFlags []string
	InstanceFlags   []string
	TLSCert         string
	TLSKey          string
	ClusterIPFlags  []string
	TCPForwards     []string
	Netns           string
	NamePods        bool
	RegisterLag     time.Duration
	DeregisterLag   time.Duration
	IdleTimeout     time.Duration
	TargetTimeout   time.Duration
	DialTimeout     time.Duration
	Admin           string
	Departures      string

	services   []listener
	tlsFronts  []listener
	instances  []listener
	clusterIPs []listener
	tcpFwds    []tcpForward
	stderr     io.Writer
}

// tcpForward is one --tcp-forward: a 127.0.0.1 address on the host and the
// IP:PORT inside the namespace it is carried to.
type tcpForward struct{ addr, to string }

// listener is one front: a Service (and for the kube-proxy front
// optionally one of its ports, by name) served on a 127.0.0.1 address.
type listener struct {
	svc      ServiceRef
	portName string
	addr     string
	// netns is the namespace a kube-proxy front dials from, when not
	// --netns: another node's, to enter the cluster through its kube-proxy.
	netns string
}

// NewCommand returns the `rollcheck-lab lb` command.
func NewCommand() *cobra.Command {
	return newCommand(&Options{}, (*Options).Run)
}

// newCommand binds the flags to o and runs run after Complete and Validate;
// tests pass their own run to serve with a fake clientset.
func newCommand(o *Options, run func(*Options, context.Context) error) *cobra.Command {
	o.IdleTimeout, o.TargetTimeout, o.DialTimeout = 60*time.Second, 10*time.Second, 10*time.Second
	cmd := &cobra.Command{
		Use:   "lb --kubeconfig FILE [--netns PATH] [--service NS/NAME=127.0.0.1:PORT ...] [--tls-service NS/NAME=127.0.0.1:PORT ... --tls-cert FILE --tls-key FILE] [--cluster-ip-service NS/NAME[:PORTNAME]=127.0.0.1:PORT ...] [--tcp-forward 127.0.0.1:PORT=IP:PORT ...]",
		Short: "The lab's fronts: an ALB-like load balancer following EndpointSlices, and kube-proxy's ClusterIP path",
		Long: `--service: proxies HTTP round robin to the ready endpoints of each Service,
like an AWS ALB in ip target mode. Answers 503 with no targets, 502 when a
target refuses, resets, closes without a response or sends garbage, 504 when
a target does not connect or answer within --target-timeout. The targets are
the endpoints of the Service's first TCP port (the EndpointSlice port of the
same name, as kube-proxy matches them). Without --netns they are the process
kubelet's pods, reached on the 127.0.0.1 ports the kubelet publishes; with
--netns they are the pod IPs, dialed from inside that network namespace.

--tls-service: the same balancer behind an HTTPS listener (an ALB's HTTPS
listener: TLS ends at the balancer, targets get plain HTTP), with the
certificate and key of --tls-cert and --tls-key. A Service given to both
--service and --tls-service has one target group behind the two listeners.

Like a real load balancer it does not name the pod on its answers. With
--name-pods (for debugging) every answer that went to a target carries
X-Lab-Target: <pod>: proxied responses and the balancer's own 502 and 504;
in instance mode, where a target is a node, X-Lab-Node: <node> instead.

Service annotations, read live, override the lags per Service:
  lab.rollcheck.dev/lb-register-lag     (Go duration)
  lab.rollcheck.dev/lb-deregister-lag   (Go duration)
Pods with a readiness gate target-health.elbv2.k8s.aws/* get that condition set
to True once registered, like the AWS Load Balancer Controller.

--instance-service (needs --netns): the same balancer as a target group of
target type instance, the AWS Load Balancer Controller's default: its targets
are the Nodes (Ready, not labelled
node.kubernetes.io/exclude-from-external-load-balancers, not tainted
ToBeDeletedByClusterAutoscaler; a cordoned node stays a target, as with the
controller) at the Service's NodePort, so kube-proxy on the node picks the
pod and pod readiness is invisible to it. It health-checks each node as an
ALB does, with the Service's alb.ingress.kubernetes.io/healthcheck-path,
-port, -interval-seconds, -timeout-seconds, healthy- and
unhealthy-threshold-count (defaults /, the traffic port, 15 s, 5 s, 5, 2);
an unhealthy node gets no requests unless every node is unhealthy (an ALB
fails open). The lags above apply to nodes joining and leaving.

--cluster-ip-service (needs --netns): the kube-proxy front. Forwards each TCP
connection to the Service's ClusterIP and port (its first TCP port, or the
port named PORTNAME), dialed from inside the namespace, so that kube-proxy's
rules there pick the pod; with @NETNS, from inside that namespace instead
(another node's), so that the connection enters the cluster through that
node's kube-proxy. It has no health logic and no timeouts of its own
beyond --cluster-ip-dial-timeout; a dial that fails resets the client's
connection. Half-closes are passed on.

--tcp-forward (needs --netns): the same plain TCP forwarding to a fixed
IP:PORT inside the namespace (the ingress front: Traefik's entrypoint on the
node's address), with the same dial timeout.

--admin serves GET /targets (the target groups now) and GET /departures
(the targets that left: left_at, when the balancer saw the endpoint go;
removed_at, when it stopped routing new requests to it; last_routed_at,
the last request it sent it; deregister_lag_seconds, the lag it applied).
--departures appends the same records to a file as they happen. A loaded
machine delays the balancer's watch, so the lag the front really had can
be longer than the configured one: these records say by how much.

All listeners are on the host's 127.0.0.1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return run(o, cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringArrayVar(&o.ServiceFlags, "service", nil, "NS/NAME=127.0.0.1:PORT: balance Service NS/NAME on this listener, ALB-like (repeatable)")
	f.StringArrayVar(&o.TLSServiceFlags, "tls-service", nil, "NS/NAME=127.0.0.1:PORT: balance Service NS/NAME on this HTTPS listener, ALB-like, with --tls-cert and --tls-key (repeatable)")
	f.StringArrayVar(&o.InstanceFlags, "instance-service", nil, "NS/NAME=127.0.0.1:PORT: balance Service NS/NAME on this listener like an ALB in instance mode: the targets are the Nodes at the Service's NodePort, health-checked, dialed inside --netns (repeatable)")
	f.StringVar(&o.TLSCert, "tls-cert", "", "PEM certificate (chain) of the --tls-service listeners")
	f.StringVar(&o.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringArrayVar(&o.ClusterIPFlags, "cluster-ip-service", nil, "NS/NAME[:PORTNAME]=127.0.0.1:PORT[@NETNS]: forward TCP on this listener to the Service's ClusterIP inside --netns (or the namespace at path NETNS: another node's), through that node's kube-proxy (repeatable)")
	f.StringArrayVar(&o.TCPForwards, "tcp-forward", nil, "127.0.0.1:PORT=IP:PORT: forward TCP on this listener to IP:PORT inside --netns (repeatable)")
	f.StringVar(&o.Netns, "netns", "", "network namespace of a real node (e.g. /run/netns/NAME): targets are pod IPs, dialed from inside it")
	f.BoolVar(&o.NamePods, "name-pods", false, "set X-Lab-Target: <pod> (in instance mode X-Lab-Node: <node>) on proxied responses and on the balancer's own 502/504 (debugging; no real load balancer names the pod)")
	f.DurationVar(&o.RegisterLag, "register-lag", 0, "delay from endpoint ready to first request")
	f.DurationVar(&o.DeregisterLag, "deregister-lag", 0, "time an endpoint that turned not-ready or vanished keeps getting new requests")
	f.DurationVar(&o.IdleTimeout, "idle-timeout", o.IdleTimeout, "idle keep-alive timeout, client and target side")
	f.DurationVar(&o.TargetTimeout, "target-timeout", o.TargetTimeout, "connect and response-header timeout per target (504 after)")
	f.DurationVar(&o.DialTimeout, "cluster-ip-dial-timeout", o.DialTimeout, "connect timeout of the kube-proxy front's dial to the ClusterIP")
	f.StringVar(&o.Admin, "admin", "", "optional 127.0.0.1:PORT listener serving GET /targets and GET /departures as JSON")
	f.StringVar(&o.Departures, "departures", "", "append each target that leaves a target group to this file, one JSON object a line: when the balancer saw its endpoint go, when it stopped routing to it, the last request it sent it")
	return cmd
}

// Complete parses the --service and --cluster-ip-service flags.
func (o *Options) Complete(cmd *cobra.Command) error {
	o.stderr = cmd.ErrOrStderr()
	o.services, o.tlsFronts, o.clusterIPs, o.instances = nil, nil, nil, nil
	for _, s := range o.InstanceFlags {
		l, err := parseService("--instance-service", s)
		if err != nil {
			return err
		}
		o.instances = append(o.instances, l)
	}
	for _, s := range o.ServiceFlags {
		l, err := parseService("--service", s)
		if err != nil {
			return err
		}
		o.services = append(o.services, l)
	}
	for _, s := range o.TLSServiceFlags {
		l, err := parseService("--tls-service", s)
		if err != nil {
			return err
		}
		o.tlsFronts = append(o.tlsFronts, l)
	}
	for _, s := range o.ClusterIPFlags {
		front, netnsPath, _ := strings.Cut(s, "@")
		l, err := parseFront("--cluster-ip-service", front)
		if err != nil {
			return err
		}
		if l.netns = netnsPath; strings.Contains(s, "@") && !strings.HasPrefix(netnsPath, "/") {
			return fmt.Errorf("--cluster-ip-service %q: after @ comes the path of a network namespace (/run/netns/NAME)", s)
		}
		o.clusterIPs = append(o.clusterIPs, l)
	}
	o.tcpFwds = nil
	for _, s := range o.TCPForwards {
		t, err := parseTCPForward(s)
		if err != nil {
			return err
		}
		o.tcpFwds = append(o.tcpFwds, t)
	}
	return nil
}

// parseTCPForward parses a --tcp-forward value, 127.0.0.1:PORT=IP:PORT.
func parseTCPForward(s string) (tcpForward, error) {
	addr, to, ok := strings.Cut(s, "=")
	if !ok {
		return tcpForward{}, fmt.Errorf("--tcp-forward %q: want 127.0.0.1:PORT=IP:PORT", s)
	}
	if err := loopbackAddr(addr); err != nil {
		return tcpForward{}, fmt.Errorf("--tcp-forward %q: %w", s, err)
	}
	host, port, err := net.SplitHostPort(to)
	if err != nil || net.ParseIP(host) == nil || port == "" || port == "0" {
		return tcpForward{}, fmt.Errorf("--tcp-forward %q: the destination must be IP:PORT inside the namespace", s)
	}
	return tcpForward{addr: addr, to: to}, nil
}

// parseService parses a --service or --tls-service value; the balancer
// fronts the Service's first TCP port, so a port name is refused.
func parseService(flag, s string) (listener, error) {
	l, err := parseFront(flag, s)
	if err == nil && l.portName != "" {
		err = fmt.Errorf("%s %q: the balancer serves the Service's first TCP port; NAME:PORTNAME is for --cluster-ip-service", flag, s)
	}
	if err != nil {
		return listener{}, err
	}
	return l, nil
}

// parseFront parses NS/NAME[:PORTNAME]=127.0.0.1:PORT (NS defaults to
// "default").
func parseFront(flag, s string) (listener, error) {
	usage := fmt.Errorf("%s %q: want NS/NAME=127.0.0.1:PORT", flag, s)
	ref, addr, ok := strings.Cut(s, "=")
	if !ok {
		return listener{}, usage
	}
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		ns, name = "default", ref
	}
	name, port, _ := strings.Cut(name, ":")
	if ns == "" || name == "" || strings.HasSuffix(ref, ":") {
		return listener{}, usage
	}
	if err := loopbackAddr(addr); err != nil {
		return listener{}, fmt.Errorf("%s %q: %w", flag, s, err)
	}
	return listener{svc: ServiceRef{Namespace: ns, Name: name}, portName: port, addr: addr}, nil
}

func loopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host != "127.0.0.1" {
		return fmt.Errorf("listen address must be 127.0.0.1:PORT, not %s", addr)
	}
	return nil
}

// Validate checks the options.
func (o *Options) Validate() error {
	if len(o.services) == 0 && len(o.tlsFronts) == 0 && len(o.clusterIPs) == 0 && len(o.tcpFwds) == 0 && len(o.instances) == 0 {
		return errors.New("at least one --service, --tls-service, --instance-service, --cluster-ip-service or --tcp-forward is required")
	}
	if len(o.instances) > 0 && o.Netns == "" {
		return errors.New("--instance-service needs --netns: its targets are the real nodes' addresses, inside their network")
	}
	if (len(o.tlsFronts) > 0) != (o.TLSCert != "" && o.TLSKey != "") || (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("--tls-service, --tls-cert and --tls-key go together")
	}
	if len(o.clusterIPs) > 0 && o.Netns == "" {
		return errors.New("--cluster-ip-service needs --netns: a ClusterIP exists only inside the real node's network namespace, where kube-proxy's rules are")
	}
	if len(o.tcpFwds) > 0 && o.Netns == "" {
		return errors.New("--tcp-forward needs --netns: its destination is an address inside the real node's network namespace")
	}
	if o.Netns != "" && !filepath.IsAbs(o.Netns) {
		return fmt.Errorf("--netns %q: want the absolute path of a network namespace, e.g. /run/netns/NAME", o.Netns)
	}
	if o.RegisterLag < 0 || o.DeregisterLag < 0 || o.IdleTimeout <= 0 || o.TargetTimeout <= 0 || o.DialTimeout <= 0 {
		return errors.New("lags must be >= 0 and timeouts > 0")
	}
	if o.Admin != "" {
		if err := loopbackAddr(o.Admin); err != nil {
			return fmt.Errorf("--admin: %w", err)
		}
	}
	seen := map[string]string{}
	for _, a := range o.listenAddrs() {
		if other, ok := seen[a.addr]; ok {
			return fmt.Errorf("listen address %s is given twice (%s and %s)", a.addr, other, a.what)
		}
		seen[a.addr] = a.what
	}
	return nil
}

// listenAddr is a listener's address and what it serves, for messages.
type listenAddr struct{ what, addr string }

// listenAddrs lists every listener: --service ones, --cluster-ip-service
// ones, --tcp-forward ones, --tls-service ones, --instance-service ones,
// then --admin, each in flag order.
func (o *Options) listenAddrs() []listenAddr {
	var out []listenAddr
	for _, l := range o.services {
		out = append(out, listenAddr{"--service " + l.svc.String(), l.addr})
	}
	for _, l := range o.clusterIPs {
		out = append(out, listenAddr{"--cluster-ip-service " + l.svc.String(), l.addr})
	}
	for _, t := range o.tcpFwds {
		out = append(out, listenAddr{"--tcp-forward " + t.to, t.addr})
	}
	for _, l := range o.tlsFronts {
		out = append(out, listenAddr{"--tls-service " + l.svc.String(), l.addr})
	}
	for _, l := range o.instances {
		out = append(out, listenAddr{"--instance-service " + l.svc.String(), l.addr})
	}
	if o.Admin != "" {
		out = append(out, listenAddr{"--admin", o.Admin})
	}
	return out
}

// Run connects to the cluster and serves every listener until ctx ends.
func (o *Options) Run(ctx context.Context) error {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100 // client-go's 5/10 would delay readiness-gate updates
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return waitForAPIServer{next: rt} })
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	return o.serve(ctx, client)
}

func (o *Options) serve(ctx context.Context, client kubernetes.Interface) error {
	if o.Netns != "" {
		// Enter and leave once, so a missing or foreign path fails now
		// rather than on every dial.
		if err := netns.Do(o.Netns, func() error { return nil }); err != nil {
			return fmt.Errorf("--netns: %w", err)
		}
	}
	var tlsConfig *tls.Config
	if len(o.tlsFronts) > 0 {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return fmt.Errorf("--tls-cert and --tls-key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	transport := NewTransport(o.IdleTimeout, o.TargetTimeout, o.Netns)
	defer transport.CloseIdleConnections()
	set := Settings{RegisterLag: o.RegisterLag, DeregisterLag: o.DeregisterLag, Netns: o.Netns, NamePods: o.NamePods, Log: o.stderr}
	if o.Departures != "" {
		f, err := os.OpenFile(o.Departures, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("--departures: %w", err)
		}
		defer f.Close()
		var mu sync.Mutex
		enc := json.NewEncoder(f)
		set.OnDeparture = func(d Departure) {
			mu.Lock()
			defer mu.Unlock()
			if err := enc.Encode(d); err != nil {
				fmt.Fprintf(o.stderr, "%s lb: --departures: %v\n", time.Now().UTC().Format(time.RFC3339Nano), err)
			}
		}
	}

	// Bind every listener first so a port conflict fails fast.
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for _, a := range o.listenAddrs() {
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			return fmt.Errorf("listen for %s: %w", a.what, err)
		}
		lns = append(lns, ln)
	}
	var adminLn net.Listener
	if o.Admin != "" {
		adminLn = lns[len(lns)-1]
	}

	g, ctx := errgroup.WithContext(ctx)
	var balancers []*Balancer
	var servers []*http.Server
	for i, l := range o.clusterIPs {
		from := o.Netns
		if l.netns != "" {
			from = l.netns
		}
		fw := NewForwarder(client, l.svc, l.portName, from, o.DialTimeout, o.stderr)
		ln := lns[len(o.services)+i]
		g.Go(func() error { return fw.Serve(ctx, ln) })
	}
	for i, t := range o.tcpFwds {
		fw := NewTCPForwarder(t.to, o.Netns, o.DialTimeout, o.stderr)
		ln := lns[len(o.services)+len(o.clusterIPs)+i]
		g.Go(func() error { return fw.Serve(ctx, ln) })
	}
	// One balancer (one target group) per Service, behind each of its
	// listeners, plain and TLS.
	// An instance-mode target group is another one for the same Service.
	type group struct {
		svc      ServiceRef
		instance bool
	}
	bySvc := map[group]*Balancer{}
	front := func(l listener, ln net.Listener, scheme string, instance bool) {
		b := bySvc[group{l.svc, instance}]
		if b == nil {
			gs := set
			gs.Instance = instance
			b = NewBalancer(client, l.svc, gs, transport)
			bySvc[group{l.svc, instance}] = b
			balancers = append(balancers, b)
			g.Go(func() error { return b.Run(ctx) })
		}
		srv := &http.Server{Handler: b, IdleTimeout: o.IdleTimeout, ReadHeaderTimeout: o.IdleTimeout}
		if scheme == "http" {
			// Clients may speak HTTP/2 to the front (h2c here; an ALB
			// takes HTTP/2 over TLS): their connection ends at the
			// balancer, which sends each request on to a target as before.
			srv.Protocols = new(http.Protocols)
			srv.Protocols.SetHTTP1(true)
			srv.Protocols.SetUnencryptedHTTP2(true)
		}
		servers = append(servers, srv)
		g.Go(func() error {
			fmt.Fprintf(o.stderr, "%s lb %s: listening on %s://%s\n", time.Now().UTC().Format(time.RFC3339Nano), l.svc, scheme, ln.Addr())
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve %s: %w", l.svc, err)
			}
			return nil
		})
	}
	for i, l := range o.services {
		front(l, lns[i], "http", false)
	}
	firstTLS := len(o.services) + len(o.clusterIPs) + len(o.tcpFwds)
	for i, l := range o.tlsFronts {
		front(l, tls.NewListener(lns[firstTLS+i], tlsConfig), "https", false)
	}
	for i, l := range o.instances {
		front(l, lns[firstTLS+len(o.tlsFronts)+i], "http", true)
	}
	if adminLn != nil {
		srv := &http.Server{Handler: adminHandler(balancers), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		g.Go(func() error {
			if err := srv.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve admin: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(sctx)
		}
		return nil
	})
	return g.Wait()
}

func adminHandler(bs []*Balancer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /targets", func(w http.ResponseWriter, _ *http.Request) {
		out := []TargetStatus{}
		for _, b := range bs {
			out = append(out, b.Targets()...)
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	})
	mux.HandleFunc("GET /departures", func(w http.ResponseWriter, _ *http.Request) {
		out := []Departure{}
		for _, b := range bs {
			out = append(out, b.Departures()...)
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].RemovedAt.Before(out[j].RemovedAt) })
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	})
	return mux
}
