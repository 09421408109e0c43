package kubelet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/kubelet/pkg/cri/streaming/portforward"
)

// servePortForward answers /portForward/{namespace}/{pod}[/{uid}] through
// the real kubelet's stream server code. A forwarded pod port reaches the
// 127.0.0.1 port the pod's container port maps to (see sandbox.go).
func (k *Kubelet) servePortForward(rw http.ResponseWriter, r *http.Request) {
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		statusError(rw, http.StatusBadRequest, err)
		return
	}
	w, err := k.findPod(r.PathValue("namespace"), r.PathValue("pod"), types.UID(r.PathValue("uid")))
	if err != nil {
		statusError(rw, http.StatusNotFound, err)
		return
	}
	portforward.ServePortForward(rw, r, podForwarder{w}, w.name, w.uid, opts,
		streamIdleTimeout, remotecommandconsts.DefaultStreamCreationTimeout, portforward.SupportedProtocols)
}

// portForwardDrain is how long a forwarded connection waits for the client
// to finish once the pod's side has closed.
const portForwardDrain = 5 * time.Second

// podForwarder connects forwarded streams to a pod's loopback ports.
type podForwarder struct{ w *podWorker }

// PortForward copies between stream and the pod's port until both sides
// are done; a half-close is passed on.
func (f podForwarder) PortForward(ctx context.Context, _ string, _ types.UID, port int32, stream io.ReadWriteCloser) error {
	w := f.w
	w.mu.Lock()
	lp, ok := w.ports[port]
	w.mu.Unlock()
	if !ok {
		return fmt.Errorf("pod %s/%s has no port %d: the process kubelet forwards only the pod's container, probe and hook ports", w.ns, w.name, port)
	}
	d := net.Dialer{Timeout: portForwardDialTimeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(nodeIP, strconv.Itoa(lp)))
	if err != nil {
		return fmt.Errorf("pod %s/%s port %d (127.0.0.1:%d): %w", w.ns, w.name, port, lp, err)
	}
	defer func() { _ = conn.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		_, _ = io.Copy(conn, stream)
		_ = conn.(*net.TCPConn).CloseWrite()
	}()
	_, err = io.Copy(stream, conn)
	// The pod's side is done: closing the stream for writing tells the
	// client, which then closes its side too. One that does not is cut off.
	_ = stream.Close()
	t := time.NewTimer(portForwardDrain)
	select {
	case <-clientDone:
	case <-t.C:
		if r, ok := stream.(interface{ Reset() error }); ok {
			_ = r.Reset()
		}
		_ = conn.Close()
	}
	t.Stop()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("pod %s/%s port %d: %w", w.ns, w.name, port, err)
	}
	return nil
}
