package attack

// The HTTP side of a load stream: its client and transport, and the
// RoundTripper that learns which requests reused a connection and applies
// the request timeout.

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// newClient builds the stream's HTTP client: vegeta's defaults (keep-alive,
// 10000 idle connections per host, no idle timeout; keep-alive off for the
// new stream) behind a RoundTripper that learns whether each request reused
// a connection, which vegeta does not report.
//
// The request timeout is that RoundTripper's, not http.Client.Timeout: for a
// RoundTripper other than its own *http.Transport, net/http enforces
// Client.Timeout with a goroutine, a timer and two channels per request, which
// made most of rollcheck's CPU per request over bare vegeta's. The tracker
// applies the same deadline the way the client does for its own transport (a
// context deadline over the whole exchange, redirects and body included) and
// words the errors the same.
func (st *loadStream) newClient(cfg Config, tlsConfig *tls.Config) *http.Client {
	keepAlive := st.idx == idxStreamReused
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	if !keepAlive {
		dialer.KeepAlive = 0
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialTracked(dialer),
		TLSClientConfig:     tlsConfig.Clone(),
		MaxIdleConnsPerHost: vegeta.DefaultConnections,
		MaxConnsPerHost:     vegeta.DefaultMaxConnections,
		DisableKeepAlives:   !keepAlive,
		ForceAttemptHTTP2:   cfg.HTTP2,
	}
	switch {
	case !cfg.HTTP2:
		// A non-nil empty map turns off the bundled HTTP/2, as vegeta does.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	case cleartext(cfg.Targets):
		// http:// with --http2 is h2c with prior knowledge: a cleartext
		// HTTP/2 connection from the first byte, as gRPC clients and an
		// ALB with protocol version HTTP2 open one (no Upgrade from
		// HTTP/1.1). Every request of a stream shares one connection per
		// target, as an HTTP/2 client's do.
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	st.reuse.next = tr
	st.reuse.timeout = cfg.Timeout
	st.transport = tr
	return &http.Client{Transport: st.reuse}
}

// cleartext reports whether every target is an http:// URL.
func cleartext(ts []Target) bool {
	for _, t := range ts {
		if !strings.HasPrefix(strings.ToLower(t.URL), "http://") {
			return false
		}
	}
	return len(ts) > 0
}

// dialTracked dials with d and wraps the connection, so that the load can
// tell its connections apart (trackedConn).
func dialTracked(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &trackedConn{Conn: c}, nil
	}
}

// reuseTracker is a RoundTripper recording which requests got a reused
// connection, keyed by vegeta's sequence number (its X-Vegeta-Seq request
// header). The aggregator takes the flag when the result arrives; this works
// for successes and for every kind of error, including ones raised while
// reading the body after vegeta has dropped the response headers. It also
// enforces the request timeout (see newClient).
type reuseTracker struct {
	next    http.RoundTripper
	timeout time.Duration // for the whole exchange, as http.Client.Timeout; 0: none
	mu      sync.Mutex
	seqs    map[uint64]struct{} // requests whose last connection was reused
	// conns are the connections requests went out on, by sequence
	// number, until the result takes it.
	conns map[uint64]*trackedConn
	// http2: a response came over HTTP/2.
	http2 atomic.Bool
}

// noteProto records a response's protocol.
func (t *reuseTracker) noteProto(resp *http.Response) {
	if resp != nil && resp.ProtoMajor == 2 && !t.http2.Load() {
		t.http2.Store(true)
	}
}

const seqHeader = "X-Vegeta-Seq"

// exchange is one request through the tracker, in one allocation: its trace
// hook and, with a timeout, its deadline and the response body it guards.
type exchange struct {
	trace    httptrace.ClientTrace
	tracker  *reuseTracker
	seq      uint64
	deadline time.Time
	cancel   context.CancelFunc
	body     io.ReadCloser
}

func (t *reuseTracker) RoundTrip(req *http.Request) (*http.Response, error) {
	seq, err := strconv.ParseUint(req.Header.Get(seqHeader), 10, 64)
	tracked := err == nil
	if !tracked && t.timeout <= 0 {
		resp, err := t.next.RoundTrip(req)
		t.noteProto(resp)
		return resp, err
	}
	x := &exchange{tracker: t, seq: seq}
	ctx := req.Context()
	if tracked {
		// The transport may retry on a new connection; the last one counts.
		x.trace.GotConn = x.gotConn
		ctx = httptrace.WithClientTrace(ctx, &x.trace)
	}
	if t.timeout <= 0 {
		resp, err := t.next.RoundTrip(req.WithContext(ctx))
		t.noteProto(resp)
		return resp, err
	}
	x.deadline = t.deadline(req)
	ctx, x.cancel = context.WithDeadline(ctx, x.deadline)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	t.noteProto(resp)
	if err != nil {
		x.cancel()
		if x.timedOut() {
			err = &timeoutError{err.Error() + " (Client.Timeout exceeded while awaiting headers)"}
		}
		return nil, err
	}
	if resp.Body == nil {
		// The client fills in an empty body; nothing left to time out.
		x.cancel()
		return resp, nil
	}
	x.body = resp.Body
	resp.Body = x
	return resp, nil
}

// deadline is when req must be done: timeout from now, or, for a redirect
// the client follows, the deadline of the request that got the redirect
// (the one this tracker passed on), so that the timeout covers the chain.
func (t *reuseTracker) deadline(req *http.Request) time.Time {
	if r := req.Response; r != nil && r.Request != nil {
		if d, ok := r.Request.Context().Deadline(); ok {
			return d
		}
	}
	return time.Now().Add(t.timeout)
}

func (x *exchange) gotConn(info httptrace.GotConnInfo) {
	t := x.tracker
	c := connOf(info.Conn)
	t.mu.Lock()
	if c != nil {
		if t.conns == nil {
			t.conns = map[uint64]*trackedConn{}
		}
		t.conns[x.seq] = c
	} else {
		delete(t.conns, x.seq)
	}
	if info.Reused {
		t.seqs[x.seq] = struct{}{}
	} else {
		delete(t.seqs, x.seq)
	}
	t.mu.Unlock()
}

func (x *exchange) timedOut() bool { return time.Now().After(x.deadline) }

// Read and Close guard the response body as http.Client does with its
// timeout: the deadline holds until the body is read or closed, and a read
// that fails after it says so.
func (x *exchange) Read(p []byte) (int, error) {
	n, err := x.body.Read(p)
	switch {
	case err == nil || err == io.EOF:
		return n, err
	case x.timedOut():
		err = &timeoutError{err.Error() + " (Client.Timeout or context cancellation while reading body)"}
	}
	return n, err
}

func (x *exchange) Close() error {
	err := x.body.Close()
	x.cancel()
	return err
}

// timeoutError is net/http's error for a request that exceeded the client's
// timeout: a net.Error that is a timeout and matches
// context.DeadlineExceeded.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string     { return e.msg }
func (e *timeoutError) Timeout() bool     { return true }
func (e *timeoutError) Temporary() bool   { return true }
func (e *timeoutError) Is(err error) bool { return err == context.DeadlineExceeded }

// take reports whether request seq reused a connection, and which
// connection it went out on (nil: none seen), and forgets both.
func (t *reuseTracker) take(seq uint64) (bool, *trackedConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.seqs[seq]
	if ok {
		delete(t.seqs, seq)
	}
	c := t.conns[seq]
	if c != nil {
		delete(t.conns, seq)
	}
	return ok, c
}
