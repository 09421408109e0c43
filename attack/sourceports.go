package attack

import (
	"fmt"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TimeWait is how long Linux holds the source port of a connection the
// client closed first (TCP_TIMEWAIT_LEN, fixed at 60 s in the kernel). With
// keep-alive off the client closes every connection, so each one's port
// stays taken that long.
const TimeWait = 60 * time.Second

// SourcePorts is what decides how many new connections a second one
// network namespace can open to one destination (address and port): its
// ephemeral port range (net.ipv4.ip_local_port_range) and whether a port in
// TIME_WAIT may be taken again (net.ipv4.tcp_tw_reuse: 0 never, 1 always,
// 2, the default, for loopback connections only).
type SourcePorts struct {
	Low, High int
	TWReuse   int
}

// AttackerSourcePorts is an attacker pod's: the widest range, which the
// pod asks for (a safe sysctl), and the kernel's default reuse, which a pod
// cannot change.
var AttackerSourcePorts = SourcePorts{Low: 1024, High: 65535, TWReuse: 2}

// HostSourcePorts reads this machine's from /proc (Linux only).
func HostSourcePorts() (SourcePorts, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return SourcePorts{}, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return SourcePorts{}, fmt.Errorf("ip_local_port_range %q: want two ports", b)
	}
	var sp SourcePorts
	if sp.Low, err = strconv.Atoi(f[0]); err == nil {
		sp.High, err = strconv.Atoi(f[1])
	}
	if err != nil {
		return SourcePorts{}, fmt.Errorf("ip_local_port_range %q: %w", b, err)
	}
	b, err = os.ReadFile("/proc/sys/net/ipv4/tcp_tw_reuse")
	if err != nil {
		return SourcePorts{}, err
	}
	if sp.TWReuse, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		return SourcePorts{}, fmt.Errorf("tcp_tw_reuse %q: %w", b, err)
	}
	return sp, nil
}

// Ports is the size of the range.
func (s SourcePorts) Ports() int { return s.High - s.Low + 1 }

// Ceiling is the most connections a second, closed from this side first,
// that one destination can take before connect slows down: each holds its
// port for TimeWait, and once half of the range is held, connect scans it
// for a free port (Linux tries the ports of one parity first; measured in
// an attacker pod, its TIME_WAIT count stopped at half the range, and the
// load's p99 rose from 2.5 ms to 226 ms). It is +Inf when a port in
// TIME_WAIT is taken again for that destination (tcp_tw_reuse 1, or 2 and
// a loopback destination).
func (s SourcePorts) Ceiling(loopback bool) float64 {
	if s.TWReuse == 1 || (s.TWReuse == 2 && loopback) {
		return math.Inf(1)
	}
	return float64(s.Ports()) / 2 / TimeWait.Seconds()
}

// ClosingShare is the share of its new connections that PortShortage
// takes a client to close first. With keep-alive off, a Go client and a Go
// server race to close: measured through kube-proxy, the client closed
// about 40% first at 1,500/s and 37.5% at 2,000/s, and the server the
// others (its side then holds their TIME_WAIT). It is that, rounded up.
const ClosingShare = 0.5

// NewConnectionRate is the rate, in connections a second, at which a load
// of cfg opens connections it closes itself: the whole rate with
// --connections new, half with both, none with reused (a kept connection
// is closed by the server or at the end).
func NewConnectionRate(cfg Config) float64 {
	r := cfg.Rate.PerSecond()
	switch cfg.Connections {
	case ConnectionsNew:
		return r
	case ConnectionsBoth:
		return r / 2
	case "":
		if !cfg.KeepAlive {
			return r
		}
	}
	return 0
}

// PortShortage says whether processes load generators, each in its own
// network namespace with ports sp, sending cfg's load between them, may
// run short of source ports: "" when fewer than ClosingShare of their new
// connections would have to close from their side first for half of the
// ports to be held, else what would happen and when. The targets share the
// rate equally; each destination has its own ports.
func PortShortage(cfg Config, sp SourcePorts, processes int) string {
	rate := NewConnectionRate(cfg)
	if rate <= 0 || processes < 1 || len(cfg.Targets) == 0 || sp.Ports() <= 1 {
		return ""
	}
	dests := map[string]bool{} // host:port → loopback
	for _, t := range cfg.Targets {
		if hp, loop, ok := destination(t.URL); ok {
			dests[hp] = loop
		}
	}
	if len(dests) == 0 {
		return ""
	}
	per := rate / float64(processes) / float64(len(dests))
	for _, hp := range slices.Sorted(maps.Keys(dests)) {
		share := sp.Ceiling(dests[hp]) / per // of the connections, closing first, that half the ports hold
		if share >= ClosingShare {
			continue
		}
		from := ""
		if processes > 1 {
			from = fmt.Sprintf(" from each of %d generators", processes)
		}
		half := time.Duration(float64(sp.Ports()/2) / (per * ClosingShare) * float64(time.Second)).Round(time.Second)
		return fmt.Sprintf("%.0f new connections a second to %s%s may run short of source ports: each one closed from this side first holds its port %s (TIME_WAIT), and once half of the %d ports (%d-%d) are held, connects slow down; that takes more than %.0f%% of them closing from this side (about 40%% did against a Go server), from about %s into the load if half do; with every port held, connects fail (\"cannot assign requested address\")",
			per, hp, from, TimeWait, sp.Ports(), sp.Low, sp.High, 100*share, half)
	}
	return ""
}

// destination is the address a target's connections go to, and whether it
// is a loopback one (an IP, or localhost).
func destination(raw string) (hostPort string, loopback, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", false, false
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	loopback = (ip != nil && ip.IsLoopback()) || strings.EqualFold(host, "localhost")
	return dialAddr(u), loopback, true
}

// dialAddr is the host:port a URL's connections dial: its port, else its
// scheme's (443 for https, 80 otherwise).
func dialAddr(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}
