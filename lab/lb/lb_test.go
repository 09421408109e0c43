package lb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// parseCommand runs the command's flag parsing, Complete and Validate with
// args and returns the options it would run with, or the error it stops at.
func parseCommand(t *testing.T, args ...string) (*Options, error) {
	t.Helper()
	o := &Options{}
	var ran *Options
	cmd := newCommand(o, func(o *Options, _ context.Context) error {
		ran = o
		return nil
	})
	cmd.SetArgs(args)
	cmd.SetOut(&syncBuf{})
	cmd.SetErr(&syncBuf{})
	if err := cmd.Execute(); err != nil {
		return nil, err
	}
	if ran == nil {
		t.Fatal("the command returned no error but did not run")
	}
	return ran, nil
}

// serveCommand parses args as the command would and serves them with
// client until the test ends.
func serveCommand(t *testing.T, client *fake.Clientset, args ...string) {
	t.Helper()
	o, err := parseCommand(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.serve(ctx, client) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
}

func TestCommandServesListenersAndAdmin(t *testing.T) {
	front, admin := freeAddr(t), freeAddr(t)
	client := fake.NewClientset(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}})
	serveCommand(t, client, "--service", "default/web="+front, "--admin", admin, "--deregister-lag", "1s")
	waitFor(t, 5*time.Second, "503 from the front listener", func() bool {
		resp, err := http.Get("http://" + front + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get(TargetHeader) == ""
	})
	resp, err := http.Get("http://" + admin + "/targets")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var targets []TargetStatus
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil || len(targets) != 0 {
		t.Fatalf("/targets: %v %v, want an empty list", targets, err)
	}
}

func TestCommandWritesDeparturesToFileAndAdmin(t *testing.T) {
	front, admin := freeAddr(t), freeAddr(t)
	file := filepath.Join(t.TempDir(), "departures.ndjson")
	backend := app(t, "web-a")
	_, port, _ := net.SplitHostPort(backend)
	client := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-a", Annotations: map[string]string{PortsAnnotation: `{"8080": ` + port + `}`}}},
	)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "web-x", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"198.51.100.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-a"}}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
	}
	serveCommand(t, client, "--service", "default/web="+front, "--admin", admin, "--departures", file, "--deregister-lag", "100ms")
	if _, err := client.DiscoveryV1().EndpointSlices("default").Create(context.Background(), slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "200 from web-a", func() bool {
		resp, err := http.Get("http://" + front + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err := client.DiscoveryV1().EndpointSlices("default").Delete(context.Background(), "web-x", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var fromFile Departure
	waitFor(t, 5*time.Second, "a line in --departures", func() bool {
		data, err := os.ReadFile(file)
		return err == nil && json.Unmarshal(data, &fromFile) == nil
	})
	if fromFile.Pod != "web-a" || fromFile.LastRoutedAt == nil || fromFile.RemovedAt.Sub(fromFile.LeftAt) < 100*time.Millisecond {
		t.Errorf("--departures line %+v, want web-a, routed, removed at least 100ms after it left", fromFile)
	}
	resp, err := http.Get("http://" + admin + "/departures")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var deps []Departure
	if err := json.NewDecoder(resp.Body).Decode(&deps); err != nil || len(deps) != 1 || !deps[0].RemovedAt.Equal(fromFile.RemovedAt) {
		t.Fatalf("/departures: %+v %v, want the file's record", deps, err)
	}
}

func TestCommandFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(*Options) error
	}{
		{
			name:    "no front at all is refused",
			args:    []string{"--register-lag", "1s"},
			wantErr: "at least one --service, --tls-service, --instance-service, --cluster-ip-service or --tcp-forward",
		},
		{
			name:    "a TCP forward without --netns is refused",
			args:    []string{"--tcp-forward", "127.0.0.1:8081=10.77.0.1:8000"},
			wantErr: "--tcp-forward needs --netns",
		},
		{
			name:    "a TCP forward off the host's loopback is refused",
			args:    []string{"--netns", "/run/netns/x", "--tcp-forward", "0.0.0.0:8081=10.77.0.1:8000"},
			wantErr: "must be 127.0.0.1:PORT",
		},
		{
			name:    "a TCP forward to a name is refused",
			args:    []string{"--netns", "/run/netns/x", "--tcp-forward", "127.0.0.1:8081=lab-node:8000"},
			wantErr: "the destination must be IP:PORT",
		},
		{
			name:    "a TCP forward on a front's address is refused",
			args:    []string{"--netns", "/run/netns/x", "--service", "default/web=127.0.0.1:8081", "--tcp-forward", "127.0.0.1:8081=10.77.0.1:8000"},
			wantErr: "127.0.0.1:8081 is given twice",
		},
		{
			name: "a TCP forward parses",
			args: []string{"--netns", "/run/netns/x", "--tcp-forward", "127.0.0.1:8081=10.77.0.1:8000"},
			check: func(o *Options) error {
				if len(o.tcpFwds) != 1 || o.tcpFwds[0] != (tcpForward{addr: "127.0.0.1:8081", to: "10.77.0.1:8000"}) {
					return fmt.Errorf("tcp forwards %v, want 127.0.0.1:8081 to 10.77.0.1:8000", o.tcpFwds)
				}
				return nil
			},
		},
		{
			name:    "a kube-proxy front without --netns is refused",
			args:    []string{"--cluster-ip-service", "default/web=127.0.0.1:8081"},
			wantErr: "--cluster-ip-service needs --netns",
		},
		{
			name:    "a relative --netns is refused",
			args:    []string{"--service", "default/web=127.0.0.1:8081", "--netns", "lab-node"},
			wantErr: "absolute path",
		},
		{
			name:    "a kube-proxy front off the host's loopback is refused",
			args:    []string{"--netns", "/run/netns/x", "--cluster-ip-service", "default/web=0.0.0.0:8081"},
			wantErr: "must be 127.0.0.1:PORT",
		},
		{
			name: "a kube-proxy front through another node's namespace parses",
			args: []string{"--netns", "/run/netns/lab", "--cluster-ip-service", "shop/web=127.0.0.1:8082@/run/netns/lab-2"},
			check: func(o *Options) error {
				want := listener{svc: ServiceRef{"shop", "web"}, addr: "127.0.0.1:8082", netns: "/run/netns/lab-2"}
				if len(o.clusterIPs) != 1 || o.clusterIPs[0] != want {
					return fmt.Errorf("kube-proxy fronts %+v, want %+v", o.clusterIPs, want)
				}
				return nil
			},
		},
		{
			name:    "a kube-proxy front through a relative namespace is refused",
			args:    []string{"--netns", "/run/netns/lab", "--cluster-ip-service", "shop/web=127.0.0.1:8082@lab-2"},
			wantErr: "the path of a network namespace",
		},
		{
			name:    "one address for two fronts is refused",
			args:    []string{"--netns", "/run/netns/x", "--service", "default/web=127.0.0.1:8081", "--cluster-ip-service", "default/web=127.0.0.1:8081"},
			wantErr: "127.0.0.1:8081 is given twice",
		},
		{
			name:    "a zero dial timeout is refused",
			args:    []string{"--netns", "/run/netns/x", "--cluster-ip-service", "default/web=127.0.0.1:8081", "--cluster-ip-dial-timeout", "0s"},
			wantErr: "timeouts > 0",
		},
		{
			name: "by default the balancer names no pod and dials the process kubelet's ports",
			args: []string{"--service", "default/web=127.0.0.1:8081"},
			check: func(o *Options) error {
				if o.NamePods || o.Netns != "" || len(o.services) != 1 || len(o.clusterIPs) != 0 {
					return errors.New("want one balancer, no naming, no namespace")
				}
				return nil
			},
		},
		{
			name: "a real node's fronts parse with their port names",
			args: []string{"--netns", "/run/netns/lab", "--name-pods",
				"--service", "shop/web=127.0.0.1:8081",
				"--cluster-ip-service", "shop/web:http=127.0.0.1:8082", "--cluster-ip-service", "shop/api=127.0.0.1:8083"},
			check: func(o *Options) error {
				want := []listener{
					{svc: ServiceRef{"shop", "web"}, portName: "http", addr: "127.0.0.1:8082"},
					{svc: ServiceRef{"shop", "api"}, addr: "127.0.0.1:8083"},
				}
				if !o.NamePods || o.Netns != "/run/netns/lab" || len(o.services) != 1 || len(o.clusterIPs) != 2 ||
					o.clusterIPs[0] != want[0] || o.clusterIPs[1] != want[1] || o.DialTimeout != 10*time.Second {
					return errors.New("options differ")
				}
				return nil
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseCommand(t, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.check(o); err != nil {
				t.Fatalf("%v: %+v", err, o)
			}
		})
	}
}

func TestServeRefusesAMissingNamespace(t *testing.T) {
	o, err := parseCommand(t, "--netns", "/run/netns/rollcheck-lb-does-not-exist", "--service", "default/web="+freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	err = o.serve(context.Background(), fake.NewClientset())
	if err == nil || !strings.Contains(err.Error(), "rollcheck-lb-does-not-exist") {
		t.Fatalf("serve: %v, want an error naming the missing namespace", err)
	}
}

// TestTCPForwarderCarriesBytesBothWaysToItsFixedAddress: the ingress front's
// forwarder passes a request and its answer, and a half-close, to its fixed
// address (here in the caller's own namespace) and resets a client whose
// destination refuses.
func TestTCPForwarderCarriesBytesBothWaysToItsFixedAddress(t *testing.T) {
	dst, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	go func() {
		for {
			c, err := dst.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				in, _ := io.ReadAll(c) // until the client's half-close
				_, _ = c.Write(append([]byte("echo:"), in...))
			}()
		}
	}()
	front := func(to string) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		fw := NewTCPForwarder(to, "", time.Second, nil)
		done := make(chan error, 1)
		go func() { done <- fw.Serve(ctx, ln) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
		<-fw.Synced()
		return ln.Addr().String()
	}

	c, err := net.Dial("tcp", front(dst.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "echo:hello" {
		t.Fatalf("read %q, %v; want echo:hello", got, err)
	}

	refused := freeAddr(t) // nothing listens there
	c2, err := net.Dial("tcp", front(refused))
	if errors.Is(err, syscall.ECONNRESET) {
		return // the reset came before the dial had returned
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := c2.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read %d bytes, %v; want the connection reset", n, err)
	}
}
