package node

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/lab/netns/netnstest"

	"github.com/rollcheck/rollcheck/lab/netns"
)

// serveLines answers each connection on ln with greeting and then echoes
// one line back.
func serveLines(ln net.Listener, greeting string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.WriteString(c, greeting+"\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			_, _ = io.WriteString(c, "echo "+line)
		}()
	}
}

func TestRelayJoinsTheHostsAPIServerAndTheNamespace(t *testing.T) {
	path := netnstest.Scratch(t)
	// The "API server" on the host's loopback.
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	go serveLines(host, "host")
	// A "kubelet" on the namespace's loopback only.
	inside, err := netns.Listen(path, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inside.Close()
	go serveLines(inside, "inside")

	// The pods' address: another loopback address of the namespace (the
	// node's bridge address in the lab), with the API server's port.
	_, port, _ := net.SplitHostPort(host.Addr().String())
	r := Relay{Netns: path, APIServer: host.Addr().String(), EgressSocket: filepath.Join(t.TempDir(), "egress.sock"),
		PodAddr: net.JoinHostPort("127.0.0.2", port)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	for _, addr := range []string{r.APIServer, r.PodAddr} {
		t.Run("the address "+addr+" inside the namespace reaches the host's API server", func(t *testing.T) {
			d := netns.Dialer{Path: path}
			var c net.Conn
			deadline := time.Now().Add(5 * time.Second)
			for {
				c, err = d.DialContext(ctx, "tcp", addr)
				if err == nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("dial %s inside the namespace: %v", addr, err)
			}
			defer c.Close()
			talk(t, c, "host")
		})
	}

	t.Run("a CONNECT on the egress socket reaches an address inside the namespace", func(t *testing.T) {
		fi, err := os.Stat(r.EgressSocket)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("egress socket mode %v, want 0600", fi.Mode().Perm())
		}
		c, err := net.Dial("unix", r.EgressSocket)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		target := inside.Addr().String()
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT %s: %s", target, resp.Status)
		}
		talk(t, struct {
			io.Reader
			io.Writer
		}{br, c}, "inside")
	})

	t.Run("a CONNECT to an address outside the namespace fails", func(t *testing.T) {
		c, err := net.Dial("unix", r.EgressSocket)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A listener in the host's namespace only (the API server's
		// address is relayed, so take another).
		other, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", other.Addr(), other.Addr())
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("CONNECT to the host's %s: %s, want 502", other.Addr(), resp.Status)
		}
	})
}

// talk reads the greeting want, sends a line and expects it echoed.
func talk(t *testing.T, rw io.ReadWriter, want string) {
	t.Helper()
	br := bufio.NewReader(rw)
	greeting, err := br.ReadString('\n')
	if err != nil || strings.TrimSpace(greeting) != want {
		t.Fatalf("greeting %q (%v), want %q", greeting, err, want)
	}
	if _, err := io.WriteString(rw, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if echo, err := br.ReadString('\n'); err != nil || echo != "echo ping\n" {
		t.Fatalf("echo %q (%v)", echo, err)
	}
}
