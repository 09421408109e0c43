// Package app is the lab's sample workload (image rollcheck/demo-app:*). It
// serves / and /healthz (on 127.0.0.1 unless told otherwise) and has flags
// for the good and bad shutdown behaviours a rollout verifier must tell
// apart: dying at once on SIGTERM, draining, graceful shutdown, slow start
// and readiness that flips (or not) on SIGTERM.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/spf13/cobra"
)

// Shutdown modes.
const (
	// ShutdownImmediate models a Go program without signal handling: SIGTERM
	// kills it (exit 143) and every open connection is cut.
	ShutdownImmediate = "immediate"
	// ShutdownGraceful uses http.Server.Shutdown: stop accepting, finish
	// in-flight requests, exit 0.
	ShutdownGraceful = "graceful"
)

// Options configures one app process.
type Options struct {
	// Address is the IP to listen on; empty means DefaultAddress.
	Address  string
	Port     int
	PodName  string
	Version  string
	Shutdown string
	Drain    time.Duration
	// DrainClose: while draining, every response carries Connection:
	// close, so a client that keeps its connection opens a new one, which
	// the front sends to a ready pod (the graceful close of kept
	// connections that kube-proxy and an NLB need).
	DrainClose bool
	Startup    time.Duration
	Latency    time.Duration
	// Capacity is the most requests per second / answers; past it the app
	// sheds the rest with 503 (zero: no limit), as a pod at the end of its
	// CPU does, or one whose server limits what it admits.
	Capacity       int
	ReadyOnSIGTERM bool
	IgnoreSIGTERM  bool
	// Upstream (HOST:PORT), when set, makes the app a proxy: it forwards
	// every request, /healthz too, to that address, and answers 502 with
	// no pod header when it cannot. It stands in for a proxy sidecar
	// (Envoy, linkerd-proxy, nginx) where the lab runs no real one; its
	// shutdown flags are the proxy's.
	Upstream string

	// Stderr receives one line per lifecycle step.
	Stderr io.Writer
	// OnListen, if set, is called with the bound address once the listener
	// is open (tests use port 0).
	OnListen func(addr string)
}

// DefaultAddress is where the app listens unless told otherwise: loopback,
// which the process kubelet relies on (its pods share the host's network).
// In a container the image sets $ADDRESS=0.0.0.0 so the pod IP answers.
const DefaultAddress = "127.0.0.1"

// NewCommand returns the `rollcheck-lab app` command.
func NewCommand() *cobra.Command {
	o := Options{
		PodName:        os.Getenv("POD_NAME"),
		Version:        os.Getenv("APP_VERSION"),
		Shutdown:       ShutdownImmediate,
		ReadyOnSIGTERM: true,
	}
	cmd := &cobra.Command{
		Use:   "app",
		Short: "Sample HTTP app with configurable startup and shutdown behaviour",
		Long: `Serves / and /healthz on $ADDRESS:$PORT (default address 127.0.0.1) with
headers X-Pod-Name ($POD_NAME, else the host name, which in a container is the
pod's name), X-App-Version ($APP_VERSION) and X-Request-Proto (the protocol the
request reached the app in: HTTP/1.1, or HTTP/2.0 from an h2c client).

--startup delays opening the listener, so early connections are refused (as a
process that is still initialising would refuse them).
--shutdown=immediate without --drain leaves SIGTERM unhandled: the process dies
of the signal (exit 143) like a Go program without signal.Notify. With --drain
the app handles SIGTERM, keeps serving for the drain time, then re-raises
SIGTERM on itself and dies the same way.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.runProcess(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Address, "address", "", "IP address to listen on (default $ADDRESS, else "+DefaultAddress+"; 0.0.0.0 in a container)")
	f.IntVar(&o.Port, "port", 0, "port to listen on (default $PORT)")
	f.StringVar(&o.Shutdown, "shutdown", o.Shutdown, "on SIGTERM: immediate (die of the signal) or graceful (http.Server.Shutdown, exit 0)")
	f.DurationVar(&o.Drain, "drain", 0, "after SIGTERM keep serving normally this long before shutting down")
	f.BoolVar(&o.DrainClose, "drain-close", false, "while draining, answer every request with Connection: close, so that clients reconnect (through kube-proxy, to a ready pod)")
	f.DurationVar(&o.Startup, "startup", 0, "do not open the listener until this long after start (connections are refused meanwhile)")
	f.DurationVar(&o.Latency, "latency", 0, "each / request takes this long")
	f.IntVar(&o.Capacity, "capacity", 0, "answer at most this many / requests per second, and 503 to the rest (0: no limit)")
	f.BoolVar(&o.ReadyOnSIGTERM, "ready-on-sigterm", true, "keep /healthz at 200 after SIGTERM; false: 500 after SIGTERM")
	f.BoolVar(&o.IgnoreSIGTERM, "ignore-sigterm", false, "ignore SIGTERM and keep running until SIGKILL")
	f.StringVar(&o.Upstream, "upstream", "", "be a proxy: forward every request to this HOST:PORT (the app in the same pod) and answer 502 when it does not answer; the shutdown flags apply to the proxy")
	return cmd
}

// Complete fills defaults from the environment and the command.
func (o *Options) Complete(cmd *cobra.Command) error {
	if o.Port == 0 {
		if p := os.Getenv("PORT"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil {
				return fmt.Errorf("invalid $PORT %q: %w", p, err)
			}
			o.Port = n
		}
	}
	if o.Address == "" {
		o.Address = os.Getenv("ADDRESS")
	}
	if o.Address == "" {
		o.Address = DefaultAddress
	}
	if o.PodName == "" {
		// A container's host name is its pod's name.
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("no $POD_NAME and no host name: %w", err)
		}
		o.PodName = h
	}
	if o.Stderr == nil {
		o.Stderr = cmd.ErrOrStderr()
	}
	return nil
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.Port <= 0 || o.Port > 65535 {
		return fmt.Errorf("a port is required: set $PORT or --port")
	}
	if o.Address != "" && net.ParseIP(o.Address) == nil {
		return fmt.Errorf("--address must be an IP address, not %q", o.Address)
	}
	if o.Shutdown != ShutdownImmediate && o.Shutdown != ShutdownGraceful {
		return fmt.Errorf("--shutdown must be %s or %s, not %q", ShutdownImmediate, ShutdownGraceful, o.Shutdown)
	}
	if o.Drain < 0 || o.Startup < 0 || o.Latency < 0 {
		return fmt.Errorf("durations must not be negative")
	}
	if o.Capacity < 0 {
		return fmt.Errorf("--capacity must not be negative")
	}
	if o.Upstream != "" {
		if _, port, err := net.SplitHostPort(o.Upstream); err != nil || port == "" {
			return fmt.Errorf("--upstream must be HOST:PORT, not %q", o.Upstream)
		}
	}
	return nil
}

// runProcess wires real signals to Run. main has already registered SIGTERM
// for its context; Reset undoes that so this process owns the signal.
func (o *Options) runProcess(ctx context.Context) error {
	signal.Reset(syscall.SIGTERM)
	if o.IgnoreSIGTERM {
		// A process that ignores SIGTERM (SIG_IGN), as a shell-form PID 1
		// does: only SIGKILL ends it.
		signal.Ignore(syscall.SIGTERM)
		fmt.Fprintf(o.Stderr, "%s app %s: ignoring SIGTERM\n", time.Now().UTC().Format(time.RFC3339Nano), o.PodName)
		return Run(ctx, *o, nil)
	}
	if o.Shutdown == ShutdownImmediate && o.Drain == 0 {
		// As-is Go program: nobody handles SIGTERM, the kernel kills us.
		return Run(ctx, *o, nil)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	err := Run(ctx, *o, sigs)
	if errors.Is(err, ErrKilled) {
		// Die of SIGTERM (exit 143) as the immediate mode promises.
		signal.Reset(syscall.SIGTERM)
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		time.Sleep(time.Second)
		os.Exit(143)
	}
	return err
}

// ErrKilled is returned by Run in immediate mode after SIGTERM: the server was
// closed abruptly and the caller should die of the signal.
var ErrKilled = errors.New("killed by SIGTERM")

// Run serves until ctx ends or a SIGTERM arrives on sigterm and the shutdown
// it asks for is done. A nil sigterm never fires.
func Run(ctx context.Context, o Options, sigterm <-chan os.Signal) error {
	logf := func(format string, args ...any) {
		if o.Stderr != nil {
			fmt.Fprintf(o.Stderr, "%s app %s: %s\n", time.Now().UTC().Format(time.RFC3339Nano), o.PodName, fmt.Sprintf(format, args...))
		}
	}
	var terminating atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if terminating.Load() && !o.ReadyOnSIGTERM {
			http.Error(w, "terminating", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	// Half a second's worth of burst: requests that queued while the pod
	// was starved of CPU for a moment (a node busy starting containers)
	// are not shed, a second of overload is.
	var admit *rate.Limiter
	if o.Capacity > 0 {
		admit = rate.NewLimiter(rate.Limit(o.Capacity), max(1, o.Capacity/2))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if admit != nil && !admit.Allow() {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		if o.Latency > 0 {
			t := time.NewTimer(o.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		fmt.Fprintf(w, "hello from %s\n", o.PodName)
	})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pod-Name", o.PodName)
		w.Header().Set("X-Request-Proto", r.Proto)
		if o.DrainClose && terminating.Load() {
			// The server closes the connection after this response.
			w.Header().Set("Connection", "close")
		}
		if o.Version != "" {
			w.Header().Set("X-App-Version", o.Version)
		}
		mux.ServeHTTP(w, r)
	})
	var serve http.Handler = handler
	if o.Upstream != "" {
		serve = proxyTo(o.Upstream, &terminating, o.DrainClose, logf)
	}
	srv := &http.Server{Handler: serve, ReadHeaderTimeout: 10 * time.Second}
	// HTTP/2 in cleartext (h2c, prior knowledge) beside HTTP/1.1, as a gRPC
	// server or an app behind an ALB with protocol version HTTP2 speaks
	// it. On Shutdown the server sends GOAWAY; while draining with
	// --drain-close, Connection: close on a stream's response makes it
	// send GOAWAY too. Dying of SIGTERM sends none.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)

	logf("started version=%q shutdown=%s drain=%s drain-close=%t startup=%s capacity=%d/s upstream=%q", o.Version, o.Shutdown, o.Drain, o.DrainClose, o.Startup, o.Capacity, o.Upstream)
	sigCh := sigterm
	// Slow start: the listener does not exist yet, so connections are refused.
	if o.Startup > 0 {
		t := time.NewTimer(o.Startup)
	wait:
		for {
			select {
			case <-t.C:
				break wait
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-sigCh:
				if o.IgnoreSIGTERM {
					logf("SIGTERM received during startup, ignoring")
					continue
				}
				logf("SIGTERM received during startup, exiting")
				t.Stop()
				if o.Shutdown == ShutdownImmediate {
					return ErrKilled
				}
				return nil
			}
		}
	}
	addr := o.Address
	if addr == "" {
		addr = DefaultAddress
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(o.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logf("listening on %s", ln.Addr())
	if o.OnListen != nil {
		o.OnListen(ln.Addr().String())
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	for {
		select {
		case err := <-serveErr:
			return fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
			logf("stopping (context done)")
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			logf("shut down")
			return nil
		case <-sigCh:
		}
		logf("SIGTERM received")
		if o.IgnoreSIGTERM {
			logf("ignoring SIGTERM")
			continue
		}
		break
	}
	sigCh = nil
	terminating.Store(true)
	if o.Drain > 0 {
		logf("draining for %s", o.Drain)
		t := time.NewTimer(o.Drain)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		case err := <-serveErr:
			t.Stop()
			return fmt.Errorf("serve: %w", err)
		}
	}
	if o.Shutdown == ShutdownImmediate {
		logf("shutting down immediately")
		_ = srv.Close()
		return ErrKilled
	}
	logf("shutting down gracefully")
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		logf("shut down (forced: %v)", err)
		return nil
	}
	logf("shut down")
	return nil
}

// proxyTo forwards every request to upstream over kept connections, as a
// proxy sidecar does; what the upstream answers passes through (its pod
// header among it). When it cannot reach the upstream it answers 502 with
// no pod header of its own, as nginx or Envoy do.
func proxyTo(upstream string, terminating *atomic.Bool, drainClose bool, logf func(string, ...any)) http.Handler {
	target := &url.URL{Scheme: "http", Host: upstream}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			if drainClose && terminating.Load() {
				resp.Header.Set("Connection", "close")
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			logf("upstream %s: %v", upstream, err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}
