package kubelet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	certutil "k8s.io/client-go/util/cert"
)

// The kubelet API: the part of the real kubelet's server the API server
// calls for `kubectl logs`, `exec` and `port-forward`. It listens on
// 127.0.0.1 only (the Node's InternalIP, see nodeIP) over HTTPS with a
// certificate made at start, as a kubelet without --tls-cert-file does; the
// API server does not verify it unless given --kubelet-certificate-authority.
//
// Timeouts are the real kubelet's: the HTTP server's (90 s idle keep-alive,
// 4 h read and write) and the streaming ones (4 h streamingConnectionIdleTimeout,
// 30 s to create the streams of an exec or port-forward).
const (
	streamIdleTimeout      = 4 * time.Hour
	serverIdleTimeout      = 90 * time.Second
	serverRWTimeout        = 4 * time.Hour
	serverHeaderTimeout    = 30 * time.Second
	serverMaxHeaderBytes   = 1 << 20
	portForwardDialTimeout = 5 * time.Second
)

// nodeIP is the Node's InternalIP and every pod's hostIP. The API server
// dials the kubelet at the InternalIP (--kubelet-preferred-address-types=
// InternalIP), so it must be an address reachable on this machine, and the
// only one the lab may listen on is 127.0.0.1. The pod CIDR's addresses are
// labels that are never dialed, so none of them can be the node's. A real
// node's hostIP is its InternalIP too, so status.hostIP and a fieldRef to it
// say 127.0.0.1 as well: a process dialing its hostIP reaches this kubelet,
// as on a real node.
const nodeIP = "127.0.0.1"

// listenAPI opens the kubelet API's listener: TLS on 127.0.0.1:cfg.Port (a
// free port when 0) with a fresh self-signed certificate.
func (k *Kubelet) listenAPI() (net.Listener, error) {
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(k.cfg.NodeName, []net.IP{net.ParseIP(nodeIP)}, nil)
	if err != nil {
		return nil, fmt.Errorf("kubelet API certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("kubelet API certificate: %w", err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if k.cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(k.cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s: no PEM certificate", k.cfg.ClientCAFile)
		}
		tlsCfg.ClientCAs, tlsCfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(nodeIP, strconv.Itoa(k.cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("kubelet API: %w", err)
	}
	return tls.NewListener(ln, tlsCfg), nil
}

// serveAPI serves the kubelet API on ln until ctx is done. Requests get
// contexts derived from ctx, so an exec'd command is killed when the
// kubelet stops.
func (k *Kubelet) serveAPI(ctx context.Context, ln net.Listener) (stop func()) {
	srv := &http.Server{
		Handler:           k.apiHandler(),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		IdleTimeout:       serverIdleTimeout,
		ReadHeaderTimeout: serverHeaderTimeout,
		ReadTimeout:       serverRWTimeout,
		WriteTimeout:      serverRWTimeout,
		MaxHeaderBytes:    serverMaxHeaderBytes,
		ErrorLog:          log.New(logfWriter(k.cfg.Logf), "kubelet API: ", 0),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			k.cfg.Logf("kubelet API: %v", err)
		}
	}()
	k.cfg.Logf("kubelet API on https://%s", ln.Addr())
	return func() {
		_ = srv.Close() // hijacked exec and port-forward streams end with ctx
		<-done
	}
}

func (k *Kubelet) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) { _, _ = rw.Write([]byte("ok")) })
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", k.serveContainerLogs)
	for _, method := range []string{"GET ", "POST "} {
		mux.HandleFunc(method+"/exec/{namespace}/{pod}/{container}", k.serveExec)
		mux.HandleFunc(method+"/exec/{namespace}/{pod}/{uid}/{container}", k.serveExec)
		mux.HandleFunc(method+"/portForward/{namespace}/{pod}", k.servePortForward)
		mux.HandleFunc(method+"/portForward/{namespace}/{pod}/{uid}", k.servePortForward)
	}
	return mux
}

// findPod returns the worker of a pod this kubelet runs. A pod name may
// have two workers for a moment (a terminating pod and its successor of the
// same name): the one not being deleted wins.
func (k *Kubelet) findPod(ns, name string, uid types.UID) (*podWorker, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var found *podWorker
	for _, w := range k.workers {
		if w.ns != ns || w.name != name || (uid != "" && w.uid != uid) {
			continue
		}
		if found == nil || w.latest().DeletionTimestamp == nil {
			found = w
		}
	}
	if found == nil {
		return nil, fmt.Errorf("pod %s/%s not found on node %s", ns, name, k.cfg.NodeName)
	}
	return found, nil
}

// findContainer returns a container of a pod this kubelet runs, or the HTTP
// status and error to answer with.
func (k *Kubelet) findContainer(ns, pod string, uid types.UID, name string) (*container, int, error) {
	w, err := k.findPod(ns, pod, uid)
	if err != nil {
		return nil, http.StatusNotFound, err
	}
	var names []string
	for _, c := range w.containers {
		if c.spec.Name == name {
			return c, 0, nil
		}
		names = append(names, c.spec.Name)
	}
	return nil, http.StatusNotFound, fmt.Errorf("container %q not found in pod %s/%s (its containers: %s)", name, ns, pod, strings.Join(names, ", "))
}

// desiredEndpoints is the Node's daemonEndpoints: where the API server finds
// the kubelet API.
func (k *Kubelet) desiredEndpoints() v1.NodeDaemonEndpoints {
	return v1.NodeDaemonEndpoints{KubeletEndpoint: v1.DaemonEndpoint{Port: int32(k.apiPort)}}
}

// httpError answers a plain GET (containerLogs) with a text error, which
// the API server passes on as the error's message.
func httpError(rw http.ResponseWriter, code int, format string, args ...any) {
	http.Error(rw, fmt.Sprintf(format, args...), code)
}

// statusError answers a request that was to be upgraded to a stream (exec,
// port-forward) with a Status: client-go decodes a refused upgrade's body
// as one (YAML included, so plain text with a colon would come out empty)
// and shows its message.
func statusError(rw http.ResponseWriter, code int, err error) {
	st := apierrors.NewGenericServerResponse(code, "", schema.GroupResource{}, "", "", 0, false).ErrStatus
	st.Message, st.Details = err.Error(), nil
	body, _ := json.Marshal(st)
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	_, _ = rw.Write(body)
}

// logfWriter turns Logf into an io.Writer for log.Logger.
type logfWriter func(format string, args ...any)

func (f logfWriter) Write(p []byte) (int, error) {
	f("%s", strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
