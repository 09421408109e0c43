package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/rollcheck/rollcheck/lab/netns"
)

// RelayCommandName is the subcommand NewRelayCommand returns.
const RelayCommandName = "node-relay"

// Relay joins the host's API server and the lab's namespace, which share no
// route: inside the namespace it listens on the API server's own address
// (127.0.0.1:PORT there is the namespace's loopback, so the kubeconfig and
// the serving certificate stay valid) and forwards each connection to the
// host's; on a unix socket it serves the API server's HTTP CONNECT requests
// (its egress selector) by dialing from inside the namespace. With PodAddr
// it listens on the node's address in the namespace too, the kubernetes
// Service's endpoint, so that pods reach the API server as in a cluster.
type Relay struct {
	// Netns is the namespace's path (/run/netns/NAME).
	Netns string
	// APIServer is the API server's address on the host, 127.0.0.1:PORT;
	// the relay listens on the same address in the namespace.
	APIServer string
	// EgressSocket is the unix socket for the API server's CONNECTs.
	EgressSocket string
	// PodAddr, if set, is a second address in the namespace (the node's
	// IP and the API server's port) relayed to the API server, for pods.
	PodAddr string
	// Log gets one line per failed connection.
	Log *log.Logger
}

// RelayArgs are the arguments of the node-relay command for r.
func RelayArgs(r Relay) []string {
	args := []string{"--netns", r.Netns, "--apiserver", r.APIServer, "--egress-socket", r.EgressSocket}
	if r.PodAddr != "" {
		args = append(args, "--pod-address", r.PodAddr)
	}
	return args
}

// NewRelayCommand returns the node-relay command.
func NewRelayCommand() *cobra.Command {
	r := Relay{}
	cmd := &cobra.Command{
		Use:   RelayCommandName + " --netns PATH --apiserver 127.0.0.1:PORT --egress-socket PATH",
		Short: "Relay the API server into the real node's network namespace, and its egress out of it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if r.Netns == "" || r.APIServer == "" || r.EgressSocket == "" {
				return errors.New("--netns, --apiserver and --egress-socket are required")
			}
			cmd.SilenceUsage = true
			r.Log = log.New(cmd.ErrOrStderr(), "", log.LstdFlags|log.Lmicroseconds)
			return r.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&r.Netns, "netns", "", "the network namespace (/run/netns/NAME)")
	f.StringVar(&r.APIServer, "apiserver", "", "the API server's address on the host; also the address listened on in the namespace")
	f.StringVar(&r.EgressSocket, "egress-socket", "", "unix socket for the API server's HTTP CONNECT requests into the namespace")
	f.StringVar(&r.PodAddr, "pod-address", "", "also listen on this address in the namespace (the node's IP:PORT) for pods' API requests")
	return cmd
}

// Run serves until ctx is done.
func (r Relay) Run(ctx context.Context) error {
	if r.Log == nil {
		r.Log = log.New(io.Discard, "", 0)
	}
	inner, err := netns.Listen(r.Netns, "tcp", r.APIServer)
	if err != nil {
		return fmt.Errorf("listen on %s in %s: %w", r.APIServer, r.Netns, err)
	}
	listeners := []net.Listener{inner}
	if r.PodAddr != "" {
		pods, err := netns.Listen(r.Netns, "tcp", r.PodAddr)
		if err != nil {
			inner.Close()
			return fmt.Errorf("listen on %s in %s: %w", r.PodAddr, r.Netns, err)
		}
		listeners = append(listeners, pods)
	}
	closeAll := func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}
	if err := os.Remove(r.EgressSocket); err != nil && !errors.Is(err, os.ErrNotExist) {
		closeAll()
		return err
	}
	egress, err := net.Listen("unix", r.EgressSocket)
	if err != nil {
		closeAll()
		return err
	}
	// A CONNECT reaches anything in the namespace: the API server's (root's)
	// only.
	if err := os.Chmod(r.EgressSocket, 0o600); err != nil {
		closeAll()
		egress.Close()
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(r.connect), ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	for _, ln := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.forward(ln)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = srv.Serve(egress)
	}()
	<-ctx.Done()
	closeAll()
	_ = srv.Close()
	wg.Wait()
	return nil
}

// forward relays each connection accepted in the namespace to the host's
// API server.
func (r Relay) forward(ln net.Listener) {
	var d net.Dialer
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			up, err := d.Dial("tcp", r.APIServer)
			if err != nil {
				r.Log.Printf("relay to %s: %v", r.APIServer, err)
				c.Close()
				return
			}
			pipe(c, up)
		}()
	}
}

// connect serves one HTTP CONNECT from the API server: it dials the target
// from inside the namespace and then carries bytes both ways.
func (r Relay) connect(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodConnect {
		http.Error(w, "only CONNECT", http.StatusMethodNotAllowed)
		return
	}
	d := netns.Dialer{Path: r.Netns}
	d.Timeout = 10 * time.Second
	target, err := d.DialContext(req.Context(), "tcp", req.Host)
	if err != nil {
		r.Log.Printf("egress to %s: %v", req.Host, err)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		target.Close()
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	c, buf, err := hj.Hijack()
	if err != nil {
		target.Close()
		return
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		c.Close()
		target.Close()
		return
	}
	// Bytes the server read ahead belong to the tunnel.
	if n := buf.Reader.Buffered(); n > 0 {
		b, _ := buf.Reader.Peek(n)
		if _, err := target.Write(b); err != nil {
			c.Close()
			target.Close()
			return
		}
	}
	pipe(c, target)
}

// pipe copies both ways until both directions end, passing each end's
// half-close on, then closes both.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	half := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}
	go half(a, b)
	go half(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}
