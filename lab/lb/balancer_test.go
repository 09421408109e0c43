package lb

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

const ns = "default"

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// fixture is a fake cluster with one Service "web" and an LB in front of it.
type fixture struct {
	t      *testing.T
	client *fake.Clientset
	lb     *Balancer
	url    string
	http   *http.Client
	eps    []discoveryv1.Endpoint
	nextIP int
	// slicePorts are the ports of the Service's EndpointSlice; nil: one
	// port "http" 8080.
	slicePorts []discoveryv1.EndpointPort
}

func newFixture(t *testing.T, set Settings, svcAnnotations map[string]string) *fixture {
	t.Helper()
	return newFixtureTimeout(t, 2*time.Second, set, svcAnnotations)
}

func newFixtureTimeout(t *testing.T, targetTimeout time.Duration, set Settings, svcAnnotations map[string]string) *fixture {
	t.Helper()
	return newFixtureFor(t, targetTimeout, set, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", Annotations: svcAnnotations}})
}

// newFixtureFor balances svc, which must be default/web, in a cluster that
// also holds objs.
func newFixtureFor(t *testing.T, targetTimeout time.Duration, set Settings, svc *corev1.Service, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(append([]runtime.Object{svc}, objs...)...)
	set.Log = &syncBuf{}
	tr := NewTransport(60*time.Second, targetTimeout, set.Netns)
	b := NewBalancer(client, ServiceRef{Namespace: ns, Name: "web"}, set, tr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		tr.CloseIdleConnections()
	})
	select {
	case <-b.Synced():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("informers did not sync")
	}
	front := httptest.NewServer(b)
	t.Cleanup(front.Close)
	return &fixture{t: t, client: client, lb: b, url: front.URL, http: &http.Client{Timeout: 10 * time.Second}, nextIP: 1}
}

// addPod creates a pod whose container port 8080 maps to backend (host:port
// on 127.0.0.1) and adds it to the slice as ready.
func (f *fixture) addPod(name, backend string) {
	f.t.Helper()
	_, port, err := net.SplitHostPort(backend)
	if err != nil {
		f.t.Fatal(err)
	}
	ip := fmt.Sprintf("198.51.100.%d", f.nextIP)
	f.nextIP++
	f.addEndpoint(name, ip, map[string]string{PortsAnnotation: `{"8080": ` + port + `}`})
}

// addEndpoint creates a pod with IP ip and adds it to the slice as ready.
func (f *fixture) addEndpoint(name, ip string, annotations map[string]string) {
	f.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Status:     corev1.PodStatus{PodIP: ip},
	}
	if _, err := f.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.eps = append(f.eps, discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: name},
	})
	f.writeSlice()
}

// terminate marks the pod's endpoint ready=false, serving=true,
// terminating=true, as the EndpointSlice controller does on delete.
func (f *fixture) terminate(name string) {
	f.t.Helper()
	for i := range f.eps {
		if f.eps[i].TargetRef.Name == name {
			f.eps[i].Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
		}
	}
	f.writeSlice()
}

func (f *fixture) writeSlice() {
	f.t.Helper()
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "web-abcde", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   append([]discoveryv1.Endpoint(nil), f.eps...),
		Ports:       f.slicePorts,
	}
	if s.Ports == nil {
		s.Ports = []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}}
	}
	ctx := context.Background()
	slices := f.client.DiscoveryV1().EndpointSlices(ns)
	if _, err := slices.Get(ctx, s.Name, metav1.GetOptions{}); err == nil {
		_, err = slices.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			f.t.Fatal(err)
		}
		return
	}
	if _, err := slices.Create(ctx, s, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// get sends one request through the LB and returns status and X-Lab-Target.
func (f *fixture) get() (int, string) {
	f.t.Helper()
	resp, err := f.http.Get(f.url + "/")
	if err != nil {
		f.t.Fatalf("GET via lb: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(TargetHeader)
}

// waitFor polls until cond holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// app returns an httptest server on 127.0.0.1 that names itself.
func app(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Pod-Name", name)
		fmt.Fprintln(w, name)
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// acceptAll serves every connection ln accepts with handle, each on its
// own goroutine, and closes ln when the test ends.
func acceptAll(t *testing.T, ln net.Listener, handle func(net.Conn)) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
}

// rawTarget accepts connections, reads the request and then runs act.
func rawTarget(t *testing.T, act func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	acceptAll(t, ln, func(c net.Conn) {
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		act(c)
	})
	return ln.Addr().String()
}

func TestNoTargetsAnswers503NamingNoPod(t *testing.T) {
	for _, namePods := range []bool{false, true} {
		f := newFixture(t, Settings{NamePods: namePods}, nil)
		if code, target := f.get(); code != http.StatusServiceUnavailable || target != "" {
			t.Fatalf("NamePods=%v: got %d naming %q, want 503 naming no pod", namePods, code, target)
		}
	}
}

func TestRoundRobinOverTwoReadyTargets(t *testing.T) {
	f := newFixture(t, Settings{NamePods: true}, nil)
	f.addPod("web-a", app(t, "web-a"))
	f.addPod("web-b", app(t, "web-b"))
	waitFor(t, 5*time.Second, "two targets", func() bool { return len(f.lb.Targets()) == 2 })
	seen := map[string]int{}
	for range 10 {
		code, target := f.get()
		if code != 200 {
			t.Fatalf("got %d, want 200", code)
		}
		seen[target]++
	}
	if seen["web-a"] != 5 || seen["web-b"] != 5 {
		t.Fatalf("distribution %v, want 5 each", seen)
	}
}

func TestPassesAppHeadersThroughAndNamesThePodOnlyWhenAsked(t *testing.T) {
	for _, tc := range []struct {
		name     string
		namePods bool
		want     string
	}{
		{"by default the proxied response carries no pod name of the balancer's", false, ""},
		{"with NamePods the proxied response names the pod", true, "web-a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Settings{NamePods: tc.namePods}, nil)
			f.addPod("web-a", app(t, "web-a"))
			waitFor(t, 5*time.Second, "target", func() bool { return len(f.lb.Targets()) == 1 })
			resp, err := f.http.Get(f.url + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.Header.Get("X-Pod-Name") != "web-a" {
				t.Fatalf("the app's X-Pod-Name did not pass through: %v", resp.Header)
			}
			var want []string
			if tc.want != "" {
				want = []string{tc.want}
			}
			if got := resp.Header.Values(TargetHeader); !slices.Equal(got, want) {
				t.Fatalf("%s: %q, want %q", TargetHeader, got, want)
			}
		})
	}
}

func TestTargetFailuresAnswerLikeAnALB(t *testing.T) {
	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	tests := []struct {
		name    string
		backend func() string
		want    int
	}{
		{"a refused connection is a 502", closedPort, http.StatusBadGateway},
		{"a close without response is a 502", func() string {
			return rawTarget(t, func(c net.Conn) { c.Close() })
		}, http.StatusBadGateway},
		{"a reset is a 502", func() string {
			return rawTarget(t, func(c net.Conn) {
				_ = c.(*net.TCPConn).SetLinger(0)
				c.Close()
			})
		}, http.StatusBadGateway},
		{"a garbage response is a 502", func() string {
			return rawTarget(t, func(c net.Conn) {
				_, _ = io.WriteString(c, "SSH-2.0-OpenSSH\r\n\r\n")
				c.Close()
			})
		}, http.StatusBadGateway},
		{"a target that hangs past the timeout is a 504", func() string {
			return rawTarget(t, func(c net.Conn) {
				time.Sleep(2 * time.Second)
				c.Close()
			})
		}, http.StatusGatewayTimeout},
	}
	for _, tc := range tests {
		// A real ALB does not name the target on its own answers; the lab's
		// does only when asked (NamePods, for debugging).
		for _, namePods := range []bool{false, true} {
			name, wantTarget := tc.name+", naming no pod", ""
			if namePods {
				name, wantTarget = tc.name+", naming the pod when asked", "web-a"
			}
			t.Run(name, func(t *testing.T) {
				f := newFixtureTimeout(t, 300*time.Millisecond, Settings{NamePods: namePods}, nil)
				f.addPod("web-a", tc.backend())
				waitFor(t, 5*time.Second, "target", func() bool { return len(f.lb.Targets()) == 1 })
				began := time.Now()
				code, target := f.get()
				if code != tc.want {
					t.Fatalf("got %d, want %d", code, tc.want)
				}
				if target != wantTarget {
					t.Fatalf("X-Lab-Target %q, want %q", target, wantTarget)
				}
				if tc.want == http.StatusGatewayTimeout && time.Since(began) > 1500*time.Millisecond {
					t.Fatalf("504 after %s, want about the 300ms target timeout", time.Since(began))
				}
			})
		}
	}
}

// A keep-alive connection the target closes while idle must not be retried
// silently: the second request on it fails as the ALB's would.
func TestNoSilentRetryOnReusedConnection(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	backend := rawTarget(t, func(c net.Conn) {
		mu.Lock()
		conns++
		mu.Unlock()
		// Answer the first request with keep-alive, then read the second
		// and close without answering.
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		c.Close()
	})
	f := newFixture(t, Settings{}, nil)
	f.addPod("web-a", backend)
	waitFor(t, 5*time.Second, "target", func() bool { return len(f.lb.Targets()) == 1 })
	if code, _ := f.get(); code != 200 {
		t.Fatalf("first request: %d", code)
	}
	if code, _ := f.get(); code != http.StatusBadGateway {
		t.Fatalf("second request on the reused connection: %d, want 502 (not retried)", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Fatalf("target saw %d connections, want 1 (no retry on a new connection)", conns)
	}
}

// deregistration measures how long a terminated pod keeps receiving new
// requests after its endpoint turns ready=false.
func deregistration(t *testing.T, f *fixture) time.Duration {
	t.Helper()
	began := terminateOneOfTwo(t, f)
	var last time.Duration
	for time.Since(began) < 3*time.Second {
		if _, target := f.get(); target == "web-a" {
			last = time.Since(began)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return last
}

// terminateOneOfTwo registers web-a and web-b, then terminates web-a and
// returns when.
func terminateOneOfTwo(t *testing.T, f *fixture) time.Time {
	t.Helper()
	f.addPod("web-a", app(t, "web-a"))
	f.addPod("web-b", app(t, "web-b"))
	waitFor(t, 5*time.Second, "two targets", func() bool { return len(f.lb.Targets()) == 2 })
	began := time.Now()
	f.terminate("web-a")
	return began
}

func TestDeregisterLagKeepsSendingThenStops(t *testing.T) {
	f := newFixture(t, Settings{DeregisterLag: time.Second, NamePods: true}, nil)
	last := deregistration(t, f)
	if last < 700*time.Millisecond || last > 1800*time.Millisecond {
		t.Fatalf("terminated target got its last request %s after ready=false, want about 1s", last)
	}
}

func TestDepartureRecordsWhenTheFrontReallyStoppedRouting(t *testing.T) {
	var (
		mu  sync.Mutex
		got []Departure
	)
	f := newFixture(t, Settings{DeregisterLag: 600 * time.Millisecond, NamePods: true, OnDeparture: func(d Departure) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, d)
	}}, nil)
	began := terminateOneOfTwo(t, f)
	var lastA time.Time
	for time.Since(began) < 1500*time.Millisecond {
		sent := time.Now()
		if _, target := f.get(); target == "web-a" {
			lastA = sent
		}
		time.Sleep(5 * time.Millisecond)
	}
	deps := f.lb.Departures()
	if len(deps) != 1 || deps[0].Pod != "web-a" || deps[0].Service != "default/web" {
		t.Fatalf("departures %+v, want web-a only", deps)
	}
	d := deps[0]
	if d.LeftAt.Before(began) || d.LeftAt.Sub(began) > 500*time.Millisecond {
		t.Errorf("left_at %s after the endpoint turned not ready, want at once", d.LeftAt.Sub(began))
	}
	if lag := d.RemovedAt.Sub(d.LeftAt); lag < 600*time.Millisecond || lag > 900*time.Millisecond {
		t.Errorf("removed_at − left_at = %s, want the 600ms lag", lag)
	}
	if d.DeregisterLag != 0.6 {
		t.Errorf("deregister_lag_seconds %v, want 0.6", d.DeregisterLag)
	}
	if lastA.IsZero() || d.LastRoutedAt == nil {
		t.Fatalf("last request to web-a: sent %v, recorded %v", lastA, d.LastRoutedAt)
	}
	// The balancer picks the target after the client sent the request,
	// and before it was removed.
	if d.LastRoutedAt.Before(lastA) || d.LastRoutedAt.After(d.RemovedAt) || d.LastRoutedAt.Sub(lastA) > 200*time.Millisecond {
		t.Errorf("last_routed_at %s, the last request to web-a was sent at %s, removed at %s", d.LastRoutedAt.Format(time.StampMicro), lastA.Format(time.StampMicro), d.RemovedAt.Format(time.StampMicro))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Pod != "web-a" {
		t.Errorf("OnDeparture got %+v, want web-a once", got)
	}
}

func TestServiceAnnotationOverridesDeregisterLag(t *testing.T) {
	f := newFixture(t, Settings{DeregisterLag: 10 * time.Second, NamePods: true}, map[string]string{DeregisterLagAnnotation: "500ms"})
	last := deregistration(t, f)
	if last < 300*time.Millisecond || last > 1300*time.Millisecond {
		t.Fatalf("terminated target got its last request %s after ready=false, want about 500ms", last)
	}
}

func TestAnnotationChangeTakesEffectLive(t *testing.T) {
	f := newFixture(t, Settings{}, nil)
	svc, err := f.client.CoreV1().Services(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Annotations = map[string]string{RegisterLagAnnotation: "800ms"}
	if _, err := f.client.CoreV1().Services(ns).Update(context.Background(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "annotation seen", func() bool { reg, _ := f.lagsLocked(); return reg == 800*time.Millisecond })
	began := time.Now()
	f.addPod("web-a", app(t, "web-a"))
	waitFor(t, 5*time.Second, "first 200", func() bool { code, _ := f.get(); return code == 200 })
	if d := time.Since(began); d < 600*time.Millisecond || d > 2*time.Second {
		t.Fatalf("first request served %s after ready, want about the 800ms register lag", d)
	}
}

func (f *fixture) lagsLocked() (time.Duration, time.Duration) {
	f.lb.mu.Lock()
	defer f.lb.mu.Unlock()
	return f.lb.lags()
}

func TestReadinessGateSetAfterRegistration(t *testing.T) {
	f := newFixture(t, Settings{RegisterLag: 200 * time.Millisecond, NamePods: true}, nil)
	gate := corev1.PodConditionType("target-health.elbv2.k8s.aws/k8s-default-web-123")
	backend := app(t, "web-a")
	_, port, _ := net.SplitHostPort(backend)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-a", Annotations: map[string]string{PortsAnnotation: `{"8080": "` + port + `"}`}},
		Spec:       corev1.PodSpec{ReadinessGates: []corev1.PodReadinessGate{{ConditionType: gate}}},
		Status: corev1.PodStatus{PodIP: "198.51.100.9", Conditions: []corev1.PodCondition{
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse},
		}},
	}
	if _, err := f.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Pod not Ready (gate pending) → endpoint ready=false.
	f.eps = append(f.eps, discoveryv1.Endpoint{
		Addresses:  []string{"198.51.100.9"},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(false)},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "web-a"},
	})
	f.writeSlice()
	waitFor(t, 5*time.Second, "gate condition True", func() bool {
		p, err := f.client.CoreV1().Pods(ns).Get(context.Background(), "web-a", metav1.GetOptions{})
		if err != nil {
			return false
		}
		hasGate, kept := false, false
		for _, c := range p.Status.Conditions {
			if c.Type == gate && c.Status == corev1.ConditionTrue {
				hasGate = true
			}
			if c.Type == corev1.ContainersReady && c.Status == corev1.ConditionTrue {
				kept = true
			}
		}
		return hasGate && kept
	})
	if code, target := f.get(); code != 200 || target != "web-a" {
		t.Fatalf("got %d from %q, want 200 from web-a", code, target)
	}
}

func TestParseFronts(t *testing.T) {
	tests := []struct {
		flag, in string
		want     listener
		wantErr  string
	}{
		{"--service", "shop/web=127.0.0.1:8080", listener{svc: ServiceRef{"shop", "web"}, addr: "127.0.0.1:8080"}, ""},
		{"--service", "web=127.0.0.1:8080", listener{svc: ServiceRef{"default", "web"}, addr: "127.0.0.1:8080"}, ""},
		{"--service", "shop/web=0.0.0.0:8080", listener{}, "must be 127.0.0.1:PORT"},
		{"--service", "shop/web", listener{}, "want NS/NAME=127.0.0.1:PORT"},
		{"--service", "shop/web:http=127.0.0.1:8080", listener{}, "NAME:PORTNAME is for --cluster-ip-service"},
		{"--tls-service", "shop/web:http=127.0.0.1:8443", listener{}, "--tls-service \"shop/web:http=127.0.0.1:8443\": the balancer serves the Service's first TCP port"},
		{"--cluster-ip-service", "shop/web:http=127.0.0.1:8080", listener{svc: ServiceRef{"shop", "web"}, portName: "http", addr: "127.0.0.1:8080"}, ""},
		{"--cluster-ip-service", "web=127.0.0.1:8080", listener{svc: ServiceRef{"default", "web"}, addr: "127.0.0.1:8080"}, ""},
		{"--cluster-ip-service", "shop/web:=127.0.0.1:8080", listener{}, "want NS/NAME=127.0.0.1:PORT"},
		{"--cluster-ip-service", "/web=127.0.0.1:8080", listener{}, "want NS/NAME=127.0.0.1:PORT"},
	}
	for _, tc := range tests {
		parse := func(s string) (listener, error) { return parseFront(tc.flag, s) }
		if tc.flag == "--service" || tc.flag == "--tls-service" {
			parse = func(s string) (listener, error) { return parseService(tc.flag, s) }
		}
		got, err := parse(tc.in)
		if got != tc.want || (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s %q = %+v, %v; want %+v, an error with %q", tc.flag, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// With the AWS Load Balancer Controller's backend-protocol-version HTTP2
// (or GRPC) the balancer speaks HTTP/2 to the targets, as an ALB with that
// target group protocol version does, for requests that came over HTTP/2;
// an HTTP/1.1 request, or a Service without the annotation, reaches the
// target as HTTP/1.1.
func TestBackendProtocolVersionHTTP2SpeaksHTTP2ToTargets(t *testing.T) {
	h2c := func() *http.Protocols {
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		return p
	}
	target := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Target-Proto", r.Proto)
	}))
	target.Config.Protocols = h2c()
	target.Start()
	t.Cleanup(target.Close)
	for _, tc := range []struct {
		name, annotation string
		clientH2         bool
		want             string
	}{
		{"HTTP2 target group, an HTTP/2 client", "HTTP2", true, "HTTP/2.0"},
		{"GRPC target group, an HTTP/2 client", "GRPC", true, "HTTP/2.0"},
		{"HTTP2 target group, an HTTP/1.1 client", "HTTP2", false, "HTTP/1.1"},
		{"the default target group, an HTTP/2 client", "", true, "HTTP/1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ann := map[string]string{}
			if tc.annotation != "" {
				ann[BackendProtocolAnnotation] = tc.annotation
			}
			f := newFixture(t, Settings{}, ann)
			f.addPod("web-a", target.Listener.Addr().String())
			waitFor(t, 5*time.Second, "a target", func() bool { return len(f.lb.Targets()) == 1 })
			front := httptest.NewUnstartedServer(f.lb)
			front.Config.Protocols = h2c()
			front.Start()
			t.Cleanup(front.Close)
			tr := &http.Transport{Protocols: new(http.Protocols)}
			if tc.clientH2 {
				tr.Protocols.SetUnencryptedHTTP2(true)
			} else {
				tr.Protocols.SetHTTP1(true)
			}
			t.Cleanup(tr.CloseIdleConnections)
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(front.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("X-Target-Proto"); resp.StatusCode != 200 || got != tc.want {
				t.Errorf("status %d, the target saw %q; want 200 and %s", resp.StatusCode, got, tc.want)
			}
		})
	}
}
