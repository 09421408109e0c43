// Package netns opens sockets inside a network namespace the lab created,
// from a process that stays in the host's namespace. A socket belongs to
// the namespace of the thread that created it, for its whole life, so a
// listener on the host's 127.0.0.1 can carry traffic to addresses that
// exist only inside the lab's namespace (pod IPs, ClusterIPs, the node's
// bridge address) without any route between the two.
package netns

import (
	"context"
	"fmt"
	"net"
	"runtime"

	vns "github.com/vishvananda/netns"
)

// Dialer dials TCP connections from inside the network namespace at Path
// (e.g. /run/netns/NAME). The zero Path dials from the caller's namespace.
type Dialer struct {
	Path string
	net.Dialer
}

// DialContext creates the socket inside the namespace and connects it. The
// calling goroutine's OS thread enters the namespace only for the socket's
// creation (net.Dialer creates it synchronously on the calling thread) and
// returns to its own namespace before DialContext returns.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.Path == "" {
		return d.Dialer.DialContext(ctx, network, addr)
	}
	var conn net.Conn
	err := Do(d.Path, func() error {
		var err error
		conn, err = d.Dialer.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// Listen opens a listener inside the namespace at path.
func Listen(path, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := Do(path, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// Do runs fn on an OS thread inside the namespace at path. fn must create
// its sockets on the calling goroutine and start no goroutines that do.
func Do(path string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	home, err := vns.Get()
	if err != nil {
		return fmt.Errorf("netns: own namespace: %w", err)
	}
	defer home.Close()
	target, err := vns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("netns: open %s: %w", path, err)
	}
	defer target.Close()
	if err := vns.Set(target); err != nil {
		return fmt.Errorf("netns: enter %s: %w", path, err)
	}
	fnErr := fn()
	if err := vns.Set(home); err != nil {
		// The thread cannot go home: lock it once more so that it stays
		// with this goroutine and is never handed to another one.
		runtime.LockOSThread()
		return fmt.Errorf("netns: return from %s: %w (%v)", path, err, fnErr)
	}
	return fnErr
}
