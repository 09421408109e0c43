package kubelet

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestImageLookup(t *testing.T) {
	m := DefaultImageMap("/bin/rollcheck-lab", "/bin/agnhost", "/bin/rollcheck")
	tests := []struct {
		image string
		want  []string
	}{
		{"rollcheck/demo-app:v2", []string{"/bin/rollcheck-lab", "app"}},
		{"docker.io/rollcheck/demo-app:latest", []string{"/bin/rollcheck-lab", "app"}},
		{"rollcheck/demo-app", []string{"/bin/rollcheck-lab", "app"}},
		{"registry.k8s.io/e2e-test-images/agnhost:2.53", []string{"/bin/agnhost"}},
		{"rollcheck/rollcheck:v0.4.0", []string{"/bin/rollcheck"}},
		{"rollcheck/rollcheck:dev", []string{"/bin/rollcheck"}},
		{"rollcheck/other:v1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			r, ok := m.Lookup(tt.image)
			if !ok {
				r.Command = nil
			}
			if !reflect.DeepEqual(r.Command, tt.want) {
				t.Errorf("Lookup(%q) = %v, want %v", tt.image, r.Command, tt.want)
			}
		})
	}
}

func TestImageMapFileEntriesWinOverBuiltins(t *testing.T) {
	m := DefaultImageMap("/bin/rollcheck-lab", "/bin/agnhost", "/bin/rollcheck")
	file := filepath.Join(t.TempDir(), "images.yaml")
	data := "- image: rollcheck/demo-app:*\n  command: [/usr/local/bin/demo]\n- image: nginx:*\n  command: [/bin/sleep, infinity]\n"
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	if r, _ := m.Lookup("rollcheck/demo-app:v1"); !reflect.DeepEqual(r.Command, []string{"/usr/local/bin/demo"}) {
		t.Errorf("demo-app -> %v", r.Command)
	}
	if r, _ := m.Lookup("docker.io/library/nginx:1.27"); !reflect.DeepEqual(r.Command, []string{"/bin/sleep", "infinity"}) {
		t.Errorf("nginx -> %v", r.Command)
	}
}

func TestAgnhostNetexecArgsStayOnLoopbackPorts(t *testing.T) {
	ports := map[int32]int{8080: 40001, 9000: 40002}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"an explicit http port is mapped", []string{"netexec", "--http-port=9000"}, []string{"netexec", "--http-port=40002", "--udp-port=-1"}},
		{"the default http port gets the 8080 mapping", []string{"netexec"}, []string{"netexec", "--http-port=40001", "--udp-port=-1"}},
		{"a separate flag value is mapped", []string{"netexec", "--http-port", "8080", "--udp-port=-1"}, []string{"netexec", "--http-port", "40001", "--udp-port=-1"}},
		{"other subcommands are untouched", []string{"pause"}, []string{"pause"}},
	}
	rule, _ := DefaultImageMap("x", "y", "z").Lookup("registry.k8s.io/e2e-test-images/agnhost:2.53")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rule.fixArgs(rewritePortFlags(tt.args, rule.PortFlags, ports), ports)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if got := portFlagPorts([]string{"netexec", "--http-port=9000", "--udp-port", "8081"}, rule.PortFlags); !reflect.DeepEqual(got, []int32{9000, 8081}) {
		t.Errorf("portFlagPorts = %v", got)
	}
}

func TestIPPoolSkipsGatewayAndBroadcast(t *testing.T) {
	p, err := newIPPool(mustPrefix("198.51.100.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.free) != 253 || p.free[0].String() != "198.51.100.2" || p.free[252].String() != "198.51.100.254" {
		t.Fatalf("pool %d from %s to %s", len(p.free), p.free[0], p.free[len(p.free)-1])
	}
	a, _ := p.allocate()
	b, _ := p.allocate()
	p.release(a)
	c, _ := p.allocate()
	if a != "198.51.100.2" || b != "198.51.100.3" || c != a {
		t.Errorf("allocations %s %s %s", a, b, c)
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestRollcheckClockListenStaysOnLoopback(t *testing.T) {
	ports := map[int32]int{9090: 40003}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"a declared port is mapped to loopback", []string{"attack", "--clock-listen", ":9090", "http://x/"}, []string{"attack", "--clock-listen", "127.0.0.1:40003", "http://x/"}},
		{"the = form too", []string{"attack", "--clock-listen=0.0.0.0:9090"}, []string{"attack", "--clock-listen=127.0.0.1:40003"}},
		{"an undeclared port stays, on loopback", []string{"attack", "--clock-listen=:7000"}, []string{"attack", "--clock-listen=127.0.0.1:7000"}},
		{"no clock, no change", []string{"attack", "--duration", "3s", "http://x/"}, []string{"attack", "--duration", "3s", "http://x/"}},
		{"a value rollcheck refuses is left to it", []string{"attack", "--clock-listen", "nope"}, []string{"attack", "--clock-listen", "nope"}},
	}
	rule, _ := DefaultImageMap("x", "y", "z").Lookup("rollcheck/rollcheck:dev")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rule.fixArgs(tt.args, ports); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// The demo app as a proxy sidecar: its --port and its --upstream (the app
// container's port in the same pod), declared container ports, are the
// pod's loopback mappings.
func TestDemoAppProxyArgsStayOnThePodsLoopbackPorts(t *testing.T) {
	ports := map[int32]int{8080: 40004, 8081: 40005}
	rule, _ := DefaultImageMap("x", "y", "z").Lookup("rollcheck/demo-app:v1")
	args := []string{"--port=8080", "--upstream", "127.0.0.1:8081", "--shutdown=immediate"}
	want := []string{"--port=40004", "--upstream", "127.0.0.1:40005", "--shutdown=immediate"}
	if got := rule.fixArgs(rewritePortFlags(args, rule.PortFlags, ports), ports); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// A port no container declares is a host port chosen on purpose (a
	// test that reaches the app straight on its socket): kept.
	if got := rule.fixArgs([]string{"--port", "45678"}, ports); !reflect.DeepEqual(got, []string{"--port", "45678"}) {
		t.Errorf("an undeclared --port: got %q", got)
	}
}

// TestDemoAppRuleTakesTheBuiltBinary: the demo app's own binary next to
// rollcheck-lab replaces `rollcheck-lab app`; without it (or not
// executable) the built-in rule stays.
func TestDemoAppRuleTakesTheBuiltBinary(t *testing.T) {
	dir := t.TempDir()
	if _, ok := DemoAppRule(dir); ok {
		t.Fatal("a rule without a demo-app binary")
	}
	bin := filepath.Join(dir, "demo-app")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := DemoAppRule(dir); ok {
		t.Fatal("a rule for a demo-app that is not executable")
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	m := DefaultImageMap("/bin/rollcheck-lab", "/bin/agnhost", "/bin/rollcheck")
	r, ok := DemoAppRule(dir)
	if !ok {
		t.Fatal("no rule for an executable demo-app")
	}
	m.Add(r)
	got, _ := m.Lookup("rollcheck/demo-app:v2")
	if !reflect.DeepEqual(got.Command, []string{bin}) {
		t.Errorf("rollcheck/demo-app:v2 runs %v, want %v", got.Command, []string{bin})
	}
}
