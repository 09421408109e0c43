// Package lb is the lab's load balancer. It behaves like an AWS ALB in ip
// target mode behind the AWS Load Balancer Controller: it follows each
// Service's EndpointSlices, registers ready endpoints after a registration
// lag, keeps sending new requests to endpoints that went away for a
// deregistration lag, and answers 502/503/504 where an ALB would. Pod IPs are
// labels; the real destination is the 127.0.0.1 port the lab kubelet
// publishes in the pod annotation lab.rollcheck.dev/ports.
package lb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Options are the flags of `rollcheck-lab lb`.
type Options struct {
	Kubeconfig    string
	ServiceFlags  []string
	RegisterLag   time.Duration
	DeregisterLag time.Duration
	IdleTimeout   time.Duration
	TargetTimeout time.Duration
	Admin         string

	services []listener
	stderr   io.Writer
}

type listener struct {
	svc  ServiceRef
	addr string
}

// NewCommand returns the `rollcheck-lab lb` command.
func NewCommand() *cobra.Command {
	o := &Options{IdleTimeout: 60 * time.Second, TargetTimeout: 10 * time.Second}
	cmd := &cobra.Command{
		Use:   "lb --kubeconfig FILE --service NS/NAME=127.0.0.1:PORT [--service ...]",
		Short: "ALB-like load balancer following Service EndpointSlices",
		Long: `Proxies HTTP round robin to the ready endpoints of each Service, like an AWS ALB
in ip target mode. Answers 503 with no targets, 502 when a target refuses,
resets, closes without a response or sends garbage, 504 when a target does not
answer within --target-timeout. Responses carry X-Lab-Target: <pod>.

Service annotations, read live, override the lags per Service:
  lab.rollcheck.dev/lb-register-lag     (Go duration)
  lab.rollcheck.dev/lb-deregister-lag   (Go duration)
Pods with a readiness gate target-health.elbv2.k8s.aws/* get that condition set
to True once registered, like the AWS Load Balancer Controller.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringArrayVar(&o.ServiceFlags, "service", nil, "NS/NAME=127.0.0.1:PORT: balance Service NS/NAME on this listener (repeatable)")
	f.DurationVar(&o.RegisterLag, "register-lag", 0, "delay from endpoint ready to first request")
	f.DurationVar(&o.DeregisterLag, "deregister-lag", 0, "time an endpoint that turned not-ready or vanished keeps getting new requests")
	f.DurationVar(&o.IdleTimeout, "idle-timeout", o.IdleTimeout, "idle keep-alive timeout, client and target side")
	f.DurationVar(&o.TargetTimeout, "target-timeout", o.TargetTimeout, "connect and response-header timeout per target (504 after)")
	f.StringVar(&o.Admin, "admin", "", "optional 127.0.0.1:PORT listener serving GET /targets as JSON")
	return cmd
}

// Complete parses the --service flags.
func (o *Options) Complete(cmd *cobra.Command) error {
	o.stderr = cmd.ErrOrStderr()
	o.services = nil
	for _, s := range o.ServiceFlags {
		l, err := parseService(s)
		if err != nil {
			return err
		}
		o.services = append(o.services, l)
	}
	return nil
}

func parseService(s string) (listener, error) {
	ref, addr, ok := strings.Cut(s, "=")
	if !ok {
		return listener{}, fmt.Errorf("--service %q: want NS/NAME=127.0.0.1:PORT", s)
	}
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		ns, name = "default", ref
	}
	if ns == "" || name == "" {
		return listener{}, fmt.Errorf("--service %q: want NS/NAME=127.0.0.1:PORT", s)
	}
	if err := loopbackAddr(addr); err != nil {
		return listener{}, fmt.Errorf("--service %q: %w", s, err)
	}
	return listener{svc: ServiceRef{Namespace: ns, Name: name}, addr: addr}, nil
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
	if len(o.services) == 0 {
		return errors.New("at least one --service is required")
	}
	if o.RegisterLag < 0 || o.DeregisterLag < 0 || o.IdleTimeout <= 0 || o.TargetTimeout <= 0 {
		return errors.New("lags must be >= 0 and timeouts > 0")
	}
	if o.Admin != "" {
		if err := loopbackAddr(o.Admin); err != nil {
			return fmt.Errorf("--admin: %w", err)
		}
	}
	return nil
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
	transport := NewTransport(o.IdleTimeout, o.TargetTimeout)
	defer transport.CloseIdleConnections()
	set := Settings{RegisterLag: o.RegisterLag, DeregisterLag: o.DeregisterLag, Log: o.stderr}

	// Bind every listener first so a port conflict fails fast.
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for _, l := range o.services {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return fmt.Errorf("listen for %s: %w", l.svc, err)
		}
		lns = append(lns, ln)
	}
	var adminLn net.Listener
	if o.Admin != "" {
		ln, err := net.Listen("tcp", o.Admin)
		if err != nil {
			return fmt.Errorf("listen --admin: %w", err)
		}
		adminLn = ln
		lns = append(lns, ln)
	}

	g, ctx := errgroup.WithContext(ctx)
	var balancers []*Balancer
	var servers []*http.Server
	for i, l := range o.services {
		b := NewBalancer(client, l.svc, set, transport)
		balancers = append(balancers, b)
		srv := &http.Server{Handler: b, IdleTimeout: o.IdleTimeout, ReadHeaderTimeout: o.IdleTimeout}
		servers = append(servers, srv)
		ln := lns[i]
		g.Go(func() error { return b.Run(ctx) })
		g.Go(func() error {
			fmt.Fprintf(o.stderr, "%s lb %s: listening on %s\n", time.Now().UTC().Format(time.RFC3339Nano), l.svc, ln.Addr())
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve %s: %w", l.svc, err)
			}
			return nil
		})
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
	return mux
}
