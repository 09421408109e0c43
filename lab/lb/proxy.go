package lb

// The Balancer's proxy: it forwards each request to the next active target
// and answers 502, 503 or 504 as an ALB does when there is none or it fails.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/lab/netns"
)

type targetKey struct{}

// route is the copy of a target a request travels with, so that reconcile
// may update the target meanwhile.
type route struct{ pod, backend string }

// newProxy returns the reverse proxy that forwards a request to the
// target pick chose for it, and answers for the target when it fails.
func newProxy(b *Balancer, transport http.RoundTripper) *httputil.ReverseProxy {
	p := &httputil.ReverseProxy{
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
	if b.set.NamePods {
		p.ModifyResponse = func(resp *http.Response) error {
			if t, ok := resp.Request.Context().Value(targetKey{}).(route); ok {
				resp.Header.Set(b.targetHeader(), t.pod)
			}
			return nil
		}
	}
	return p
}

// pick chooses the next active target, round robin, and notes when it was
// last routed to (a departure reports it).
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
	p := b.proxy
	if r.ProtoMajor == 2 && b.proxyH2 != nil && b.backendHTTP2() {
		p = b.proxyH2
	}
	p.ServeHTTP(w, r.WithContext(ctx))
}

// backendHTTP2 reports whether the Service asks for HTTP/2 to its targets
// (BackendProtocolAnnotation HTTP2 or GRPC), read live.
func (b *Balancer) backendHTTP2() bool {
	if b.services == nil {
		return false
	}
	s, err := b.services.Services(b.svc.Namespace).Get(b.svc.Name)
	if err != nil {
		return false
	}
	switch strings.ToUpper(strings.TrimSpace(s.Annotations[BackendProtocolAnnotation])) {
	case "HTTP2", "GRPC":
		return true
	}
	return false
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
			w.Header().Set(b.targetHeader(), t.pod)
		}
		b.logf("%d pod=%s backend=%s %s %s: %v", code, t.pod, t.backend, r.Method, r.URL.Path, err)
	}
	writeError(w, code)
}

// targetHeader is the header that names a target: its pod, or in instance
// mode its node.
func (b *Balancer) targetHeader() string {
	if b.set.Instance {
		return NodeHeader
	}
	return TargetHeader
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
