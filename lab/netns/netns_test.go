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

	"github.com/rollcheck/rollcheck/lab/netns/netnstest"
)

func TestDialReachesOnlyTheNamespace(t *testing.T) {
	path := netnstest.Scratch(t)
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

// TestDialToNowhereHoldsNoThread: dials that wait for their timeout (an
// address on a bridge with no ports, as a gone pod's IP is) hold no OS
// thread each: the connect waits in Go's poller.
func TestDialToNowhereHoldsNoThread(t *testing.T) {
	path := netnstest.Scratch(t)
	name := strings.TrimPrefix(path, "/run/netns/")
	for _, args := range [][]string{
		{"link", "add", "nowhere0", "type", "bridge"},
		{"addr", "add", "10.98.0.1/24", "dev", "nowhere0"},
		{"link", "set", "nowhere0", "up"},
	} {
		if out, err := exec.Command("ip", append([]string{"-n", name}, args...)...).CombinedOutput(); err != nil {
			t.Skipf("ip %v: %v: %s", args, err, out)
		}
	}
	before := threads(t)
	const dials = 100
	d := &Dialer{Path: path, Dialer: net.Dialer{Timeout: 2 * time.Second}}
	errs := make(chan error, dials)
	for i := 0; i < dials; i++ {
		go func() {
			c, err := d.DialContext(context.Background(), "tcp", "10.98.0.77:80")
			if c != nil {
				c.Close()
			}
			errs <- err
		}()
	}
	time.Sleep(500 * time.Millisecond) // all dials started and waiting
	during := threads(t)
	for i := 0; i < dials; i++ {
		if err := <-errs; err == nil {
			t.Error("a dial to an address nobody has succeeded")
		}
	}
	t.Logf("threads: %d before, %d with %d dials waiting", before, during, dials)
	if during-before > dials/4 {
		t.Errorf("threads rose from %d to %d with %d dials waiting: each dial holds a thread", before, during, dials)
	}
}

func TestDialRefusesNames(t *testing.T) {
	d := &Dialer{Path: "/run/netns/whatever"}
	if _, err := d.DialContext(context.Background(), "tcp", "localhost:80"); err == nil || !strings.Contains(err.Error(), "IP address") {
		t.Fatalf("err %v, want a refusal of the name", err)
	}
}

func threads(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			var n int
			fmt.Sscan(strings.TrimSpace(v), &n)
			return n
		}
	}
	t.Skip("no Threads line in /proc/self/status")
	return 0
}
