package attack

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestPortShortage(t *testing.T) {
	// The kernel's default range, 32768-60999, is 28,232 ports: half of
	// them in TIME_WAIT (14,116, where an attacker pod's count stopped
	// before it asked for the wider range; docs/benchmarks.md) hold 235
	// closes a second from this side, half of 470.
	def := SourcePorts{Low: 32768, High: 60999, TWReuse: 2}
	service := targets("http://10.96.0.10:80", "/")
	cases := []struct {
		name      string
		cfg       Config
		sp        SourcePorts
		processes int
		want      string // a part of the warning; "" for none
	}{
		{"under the ceiling", Config{Targets: service, Rate: Rate{470, time.Second}, Connections: ConnectionsNew}, def, 1, ""},
		{"over the ceiling, slow from 14 s", Config{Targets: service, Rate: Rate{2000, time.Second}, Connections: ConnectionsNew}, def, 1,
			"2000 new connections a second to 10.96.0.10:80 may run short of source ports: each one closed from this side first holds its port 1m0s (TIME_WAIT), and once half of the 28232 ports (32768-60999) are held, connects slow down; that takes more than 12% of them closing from this side (about 40% did against a Go server), from about 14s into the load if half do; with every port held, connects fail (\"cannot assign requested address\")"},
		{"keep-alive off is new connections", Config{Targets: service, Rate: Rate{2000, time.Second}}, def, 1, "2000 new connections"},
		{"both opens half", Config{Targets: service, Rate: Rate{2000, time.Second}, Connections: ConnectionsBoth}, def, 1, "1000 new connections"},
		{"both under the ceiling", Config{Targets: service, Rate: Rate{900, time.Second}, Connections: ConnectionsBoth}, def, 1, ""},
		{"kept connections", Config{Targets: service, Rate: Rate{5000, time.Second}, Connections: ConnectionsReused}, def, 1, ""},
		{"kept connections by keep-alive", Config{Targets: service, Rate: Rate{5000, time.Second}, KeepAlive: true}, def, 1, ""},
		// An attacker pod's range: 1,000 a second ran for 54 s without a
		// failed connect, 1,500 for 94 s with its TIME_WAIT count stopped at
		// half the range from +55 s and the p99 at 226 ms.
		{"an attacker pod at 1,000/s", Config{Targets: service, Rate: Rate{1000, time.Second}, Connections: ConnectionsNew}, AttackerSourcePorts, 1, ""},
		{"one attacker pod at 3,000/s", Config{Targets: service, Rate: Rate{3000, time.Second}, Connections: ConnectionsNew}, AttackerSourcePorts, 1, "more than 18% of them closing from this side"},
		{"three share 3,000/s", Config{Targets: service, Rate: Rate{3000, time.Second}, Connections: ConnectionsNew}, AttackerSourcePorts, 3, ""},
		{"three share 4,500/s", Config{Targets: service, Rate: Rate{4500, time.Second}, Connections: ConnectionsNew}, AttackerSourcePorts, 3, "1500 new connections a second to 10.96.0.10:80 from each of 3 generators"},
		{"each destination has its ports", Config{Targets: append(targets("http://10.96.0.10", "/"), targets("http://10.96.0.11", "/")...), Rate: Rate{900, time.Second}, Connections: ConnectionsNew}, def, 1, ""},
		{"paths of one destination share them", Config{Targets: targets("http://10.96.0.10", "/", "/a"), Rate: Rate{900, time.Second}, Connections: ConnectionsNew}, def, 1, "900 new connections a second to 10.96.0.10:80"},
		{"loopback reuses TIME_WAIT by default", Config{Targets: targets("http://127.0.0.1:8080", "/"), Rate: Rate{5000, time.Second}, Connections: ConnectionsNew}, def, 1, ""},
		{"localhost too", Config{Targets: targets("http://localhost:8080", "/"), Rate: Rate{5000, time.Second}, Connections: ConnectionsNew}, def, 1, ""},
		{"loopback without reuse", Config{Targets: targets("http://127.0.0.1:8080", "/"), Rate: Rate{5000, time.Second}, Connections: ConnectionsNew}, SourcePorts{32768, 60999, 0}, 1, "127.0.0.1:8080"},
		{"reuse everywhere", Config{Targets: service, Rate: Rate{5000, time.Second}, Connections: ConnectionsNew}, SourcePorts{32768, 60999, 1}, 1, ""},
		{"https's port", Config{Targets: targets("https://shop.example", "/"), Rate: Rate{600, time.Second}, Connections: ConnectionsNew}, def, 1, "to shop.example:443"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := PortShortage(tc.cfg, tc.sp, tc.processes)
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("PortShortage = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHostSourcePorts(t *testing.T) {
	sp, err := HostSourcePorts()
	if err != nil {
		t.Skipf("no /proc/sys/net here: %v", err)
	}
	if sp.Low < 1 || sp.High > 65535 || sp.Low > sp.High || sp.TWReuse < 0 || sp.TWReuse > 2 {
		t.Errorf("this machine's source ports %+v", sp)
	}
	if c := sp.Ceiling(false); sp.TWReuse != 1 && (math.IsInf(c, 1) || c != float64(sp.Ports())/2/60) {
		t.Errorf("ceiling %v for %+v", c, sp)
	}
}
