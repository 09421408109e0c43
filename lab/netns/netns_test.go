package netns

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// scratch creates a network namespace for the test (root and iproute2
// needed) with its loopback up, and removes it at the end.
func scratch(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	name := fmt.Sprintf("rollcheck-netns-test-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	return "/run/netns/" + name
}

func TestDialReachesOnlyTheNamespace(t *testing.T) {
	path := scratch(t)
	inside, err := Listen(path, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inside.Close()
	go func() {
		for {
			c, err := inside.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "inside\n")
			c.Close()
		}
	}()
	addr := inside.Addr().String()

	d := &Dialer{Path: path, Dialer: net.Dialer{Timeout: 2 * time.Second}}
	for i := 0; i < 20; i++ { // many dials: every one lands inside, the thread goes home each time
		c, err := d.DialContext(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatalf("dial %s inside: %v", addr, err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if strings.TrimSpace(string(b)) != "inside" {
			t.Fatalf("read %q, want inside", b)
		}
	}
	// The same address from the host's namespace is a different loopback:
	// nothing listens there (or, by chance, something else does).
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		b, _ := io.ReadAll(c)
		c.Close()
		if strings.TrimSpace(string(b)) == "inside" {
			t.Fatal("the host's namespace reached the listener made inside the lab's namespace")
		}
	}
	// A host listener is not reachable from inside.
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if c, err := d.DialContext(context.Background(), "tcp", host.Addr().String()); err == nil {
		c.Close()
		t.Fatalf("dialed the host's %s from inside the namespace", host.Addr())
	}
}

func TestDialWithoutPathUsesOwnNamespace(t *testing.T) {
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	d := &Dialer{}
	c, err := d.DialContext(context.Background(), "tcp", host.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestDialMissingNamespace(t *testing.T) {
	d := &Dialer{Path: "/run/netns/rollcheck-does-not-exist"}
	_, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "rollcheck-does-not-exist") {
		t.Fatalf("err %v, want one naming the missing namespace", err)
	}
}
