package kubelet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
)

// ipPool hands out pod IP labels from a prefix.
type ipPool struct {
	mu    sync.Mutex
	free  []netip.Addr
	inUse map[netip.Addr]bool
}

func newIPPool(p netip.Prefix) (*ipPool, error) {
	p = p.Masked()
	if !p.Addr().Is4() || p.Bits() > 29 {
		return nil, fmt.Errorf("pod CIDR %s: need an IPv4 prefix of /29 or larger", p)
	}
	size := 1 << (32 - p.Bits())
	if size > 4096 {
		size = 4096
	}
	// The first address stays free: on a real node it is the pod network's
	// gateway (the CNI bridge). The Node itself is addressed at 127.0.0.1
	// (see nodeIP in server.go).
	a := p.Addr().Next()
	pool := &ipPool{inUse: map[netip.Addr]bool{}}
	for i := 2; i < size-1; i++ {
		a = a.Next()
		pool.free = append(pool.free, a)
	}
	return pool, nil
}

func (p *ipPool) allocate() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.free {
		if !p.inUse[a] {
			p.inUse[a] = true
			return a.String(), nil
		}
	}
	return "", errors.New("pod IP range exhausted")
}

// claim takes a specific address if it is in the pool and free.
func (p *ipPool) claim(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inUse[a] {
		return false
	}
	for _, f := range p.free {
		if f == a {
			p.inUse[a] = true
			return true
		}
	}
	return false
}

func (p *ipPool) release(s string) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return
	}
	p.mu.Lock()
	delete(p.inUse, a)
	p.mu.Unlock()
}

// portPool hands out free 127.0.0.1 TCP ports and remembers which it gave so
// two pods never get the same one.
type portPool struct {
	mu    sync.Mutex
	inUse map[int]bool
}

func newPortPool() *portPool { return &portPool{inUse: map[int]bool{}} }

func (p *portPool) allocate() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find free loopback port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !p.inUse[port] {
			p.inUse[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port")
}

// claim takes a specific port if we have not handed it out and it is free.
func (p *portPool) claim(port int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inUse[port] {
		return false
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	p.inUse[port] = true
	return true
}

func (p *portPool) release(port int) {
	p.mu.Lock()
	delete(p.inUse, port)
	p.mu.Unlock()
}
