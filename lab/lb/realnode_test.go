package lb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/lab/netns/netnstest"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/rollcheck/rollcheck/lab/netns"
)

// listenInside opens a listener on addr inside the namespace at path and
// serves every connection with handle until the test ends.
func listenInside(t *testing.T, path, addr string, handle func(*net.TCPConn)) {
	t.Helper()
	ln, err := netns.Listen(path, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	acceptAll(t, ln, func(c net.Conn) { handle(c.(*net.TCPConn)) })
}

// On a real node the balancer's targets are the pod IPs, reached from
// inside the node's namespace, and it answers exactly as with the process
// kubelet: 200 from a serving pod, 502 from a refusing one, naming no pod.
func TestRealNodeBalancerDialsPodIPsInsideTheNamespace(t *testing.T) {
	path := netnstest.Scratch(t, "10.99.0.5", "10.99.0.6")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Pod-Name", "web-a")
		fmt.Fprint(w, "inside")
	}), ReadHeaderTimeout: 5 * time.Second}
	ln, err := netns.Listen(path, "tcp", "10.99.0.5:8080")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	// The Service's first TCP port is "http" (after a UDP one), and the
	// slice lists another port first: the target port is http's, as
	// kube-proxy picks it, not the slice's first.
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53},
			{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)},
			{Name: "metrics", Protocol: corev1.ProtocolTCP, Port: 9100},
		}},
	}
	f := newFixtureFor(t, 2*time.Second, Settings{Netns: path}, svc)
	f.slicePorts = []discoveryv1.EndpointPort{
		{Name: ptr.To("metrics"), Port: ptr.To[int32](9100), Protocol: ptr.To(corev1.ProtocolTCP)},
		{Name: ptr.To("dns"), Port: ptr.To[int32](53), Protocol: ptr.To(corev1.ProtocolUDP)},
		{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)},
	}
	// No lab.rollcheck.dev/ports annotation: a real node's pods have none.
	f.addEndpoint("web-a", "10.99.0.5", nil)
	waitFor(t, 5*time.Second, "one target", func() bool { return len(f.lb.Targets()) == 1 })
	if got := f.lb.Targets()[0]; got.Address != "10.99.0.5:8080" || got.Backend != "10.99.0.5:8080" {
		t.Fatalf("target %+v, want address and backend 10.99.0.5:8080", got)
	}
	resp, err := f.http.Get(f.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "inside" || resp.Header.Get("X-Pod-Name") != "web-a" || resp.Header.Get(TargetHeader) != "" {
		t.Fatalf("got %d %q %v, want 200 \"inside\" from web-a with no %s", resp.StatusCode, body, resp.Header, TargetHeader)
	}

	// Nothing listens on web-b's IP inside the namespace: refused, a 502.
	f.addEndpoint("web-b", "10.99.0.6", nil)
	waitFor(t, 5*time.Second, "two targets", func() bool { return len(f.lb.Targets()) == 2 })
	codes := map[int]int{}
	for range 10 {
		code, target := f.get()
		if target != "" {
			t.Fatalf("answer %d names pod %q; the balancer names none by default", code, target)
		}
		codes[code]++
	}
	if codes[200] != 5 || codes[http.StatusBadGateway] != 5 {
		t.Fatalf("answers %v, want 5 200s from web-a and 5 502s from web-b", codes)
	}
}

// halfCloser greets, closes its sending half, then reads until the
// client's EOF and reports what it read: it sees the EOF only if the
// forwarder passed the client's half-close on.
func halfCloser(greeting string, read chan<- string) func(*net.TCPConn) {
	return func(c *net.TCPConn) {
		defer c.Close()
		if _, err := io.WriteString(c, greeting); err != nil {
			read <- "write: " + err.Error()
			return
		}
		_ = c.CloseWrite()
		b, err := io.ReadAll(c)
		if err != nil {
			read <- "read: " + err.Error()
			return
		}
		read <- string(b)
	}
}

// exchange connects to addr, reads until EOF, answers reply and closes its
// sending half; it returns what it read.
func exchange(addr, reply string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		return string(b), err
	}
	if _, err := io.WriteString(c, reply); err != nil {
		return string(b), err
	}
	return string(b), c.(*net.TCPConn).CloseWrite()
}

func TestRealNodeForwarderTakesTheClusterIPPath(t *testing.T) {
	path := netnstest.Scratch(t, "10.99.0.10", "10.99.0.11")
	readA, readB := make(chan string, 100), make(chan string, 100)
	listenInside(t, path, "10.99.0.10:80", halfCloser("hello from a", readA))
	listenInside(t, path, "10.99.0.11:80", halfCloser("hello from b", readB))
	svc := func(clusterIP string) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: corev1.ServiceSpec{ClusterIP: clusterIP, Ports: []corev1.ServicePort{
				{Name: "metrics", Port: 9100},
				{Name: "http", Port: 80},
			}},
		}
	}
	client := fake.NewClientset(svc("10.99.0.10"))
	byName, first := freeAddr(t), freeAddr(t)
	serveCommand(t, client, "--netns", path, "--cluster-ip-service", ns+"/web:http="+byName, "--cluster-ip-service", ns+"/web="+first)
	// Both listeners are bound before either serves; probe the one whose
	// backend refuses, so that no probe reaches the servers.
	waitFor(t, 5*time.Second, "the listeners", func() bool {
		c, err := net.Dial("tcp", first)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	t.Run("half-closes pass both ways", func(t *testing.T) {
		got, err := exchange(byName, "bye")
		if err != nil || got != "hello from a" {
			t.Fatalf("read %q, %v; want the greeting of 10.99.0.10:80 and its EOF", got, err)
		}
		select {
		case r := <-readA:
			if r != "bye" {
				t.Fatalf("the server read %q, want bye and the client's EOF", r)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the server never saw the client's half-close")
		}
	})

	t.Run("a refused dial resets the client's connection", func(t *testing.T) {
		// The first TCP port, 9100: nothing listens there.
		_, err := exchange(first, "")
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("err %v, want a connection reset", err)
		}
	})

	t.Run("the Service is followed live", func(t *testing.T) {
		ctx := context.Background()
		if err := client.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "a reset while the Service is gone", func() bool {
			_, err := exchange(byName, "")
			return errors.Is(err, syscall.ECONNRESET)
		})
		if _, err := client.CoreV1().Services(ns).Create(ctx, svc("10.99.0.11"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the new ClusterIP", func() bool {
			got, err := exchange(byName, "again")
			return err == nil && got == "hello from b"
		})
		if r := <-readB; r != "again" {
			t.Fatalf("the new server read %q, want again", r)
		}
	})
}

// Stopping the front closes the connections it carries: the process can
// exit with clients connected.
func TestRealNodeForwarderClosesConnectionsWhenStopped(t *testing.T) {
	path := netnstest.Scratch(t, "10.99.0.20")
	listenInside(t, path, "10.99.0.20:80", func(c *net.TCPConn) {
		defer c.Close()
		_, _ = io.Copy(c, c) // echo until the forwarder goes away
	})
	client := fake.NewClientset(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.99.0.20", Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fw := NewForwarder(client, ServiceRef{ns, "web"}, "", path, 5*time.Second, &syncBuf{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fw.Serve(ctx, ln) }()
	defer cancel()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.WriteString(c, "ping"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q, %v; want ping", buf, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if n, err := c.Read(buf); err == nil {
		t.Fatalf("read %q from a connection the stopped front should have closed", buf[:n])
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the connection stayed open after the front stopped")
	}
}
