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
	"syscall"

	vns "github.com/vishvananda/netns"
)

// Dialer dials TCP connections from inside the network namespace at Path
// (e.g. /run/netns/NAME). The zero Path dials from the caller's namespace.
type Dialer struct {
	Path string
	net.Dialer
}

// DialContext creates the socket inside the namespace and connects it. A
// socket belongs to the namespace it was created in, so the calling
// goroutine's OS thread enters the namespace only for socket(2): the
// dialer's control hook, which runs between socket(2) and connect(2),
// takes the thread home and unlocks it, and the connect then waits in Go's
// poller like any other dial. A dial to a gone pod, which may wait until
// its timeout, holds no OS thread meanwhile. addr must be an IP literal:
// a name could resolve to several addresses, and the sockets of later
// attempts would be made outside the namespace.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.Path == "" {
		return d.Dialer.DialContext(ctx, network, addr)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("netns: dial %s: want an IP address, not a name", addr)
	}
	goHome, err := enter(d.Path)
	if err != nil {
		return nil, err
	}
	dialer := d.Dialer
	user := dialer.ControlContext
	if user == nil && dialer.Control != nil {
		control := dialer.Control
		user = func(_ context.Context, network, address string, c syscall.RawConn) error {
			return control(network, address, c)
		}
	}
	dialer.Control = nil
	dialer.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := goHome(); err != nil {
			return err
		}
		if user != nil {
			return user(ctx, network, address, c)
		}
		return nil
	}
	conn, dialErr := dialer.DialContext(ctx, network, addr)
	if err := goHome(); err != nil { // socket(2) failed before the hook ran
		if conn != nil {
			conn.Close()
		}
		return nil, err
	}
	return conn, dialErr
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
	goHome, err := enter(path)
	if err != nil {
		return err
	}
	fnErr := fn()
	if err := goHome(); err != nil {
		return fmt.Errorf("%w (%v)", err, fnErr)
	}
	return fnErr
}

// enter locks the calling goroutine to its OS thread and moves the thread
// into the namespace at path. goHome, idempotent, moves it back and unlocks
// it; if the thread cannot go back it stays locked to the goroutine (one
// lock more than unlocks) so that the runtime never hands it to another.
func enter(path string) (goHome func() error, err error) {
	runtime.LockOSThread()
	home, err := vns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("netns: own namespace: %w", err)
	}
	target, err := vns.GetFromPath(path)
	if err != nil {
		home.Close()
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("netns: open %s: %w", path, err)
	}
	defer target.Close()
	if err := vns.Set(target); err != nil {
		home.Close()
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("netns: enter %s: %w", path, err)
	}
	inside := true
	return func() error {
		if !inside {
			return nil
		}
		inside = false
		defer home.Close()
		if err := vns.Set(home); err != nil {
			return fmt.Errorf("netns: return from %s: %w", path, err)
		}
		runtime.UnlockOSThread()
		return nil
	}, nil
}
