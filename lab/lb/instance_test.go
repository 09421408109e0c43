package lb

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// readyNode is a Ready Node at InternalIP 127.0.0.1.
func readyNode(name string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

// instanceFixture balances default/web in instance mode; the Service's
// NodePort is the port of a local server standing for kube-proxy on every
// node (all of them at 127.0.0.1), whose /healthz answers with health.
func instanceFixture(t *testing.T, annotations map[string]string, health *atomic.Int32) (*fixture, *httptest.Server) {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(int(health.Load()))
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(backend.Close)
	_, port, _ := net.SplitHostPort(backend.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", Annotations: annotations},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80, NodePort: int32(p)}}},
	}
	f := newFixtureFor(t, 2*time.Second, Settings{Instance: true, NamePods: true}, svc)
	return f, backend
}

func (f *fixture) nodeTargets() map[string]TargetStatus {
	out := map[string]TargetStatus{}
	for _, ts := range f.lb.Targets() {
		out[ts.Pod] = ts
	}
	return out
}

func (f *fixture) waitTargets(what string, cond func(map[string]TargetStatus) bool) map[string]TargetStatus {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ts := f.nodeTargets()
		if cond(ts) {
			return ts
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: targets %+v", what, ts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The targets are the suitable Nodes at the NodePort, as the AWS Load
// Balancer Controller registers them: a cordoned node stays, a NotReady
// or excluded one goes.
func TestInstanceModeTargetsTheNodes(t *testing.T) {
	var health atomic.Int32
	health.Store(http.StatusOK)
	f, backend := instanceFixture(t, nil, &health)
	ctx := context.Background()
	nodes := f.client.CoreV1().Nodes()
	for _, name := range []string{"node-a", "node-b", "node-c"} {
		if _, err := nodes.Create(ctx, readyNode(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ts := f.waitTargets("three nodes registered", func(ts map[string]TargetStatus) bool { return len(ts) == 3 })
	if a := ts["node-a"]; a.Address != backend.Listener.Addr().String() || a.State != StateHealthy {
		t.Errorf("node-a's target %+v, want the NodePort at its InternalIP, healthy", a)
	}
	seen := map[string]bool{}
	for range 6 {
		resp, err := f.http.Get(f.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get(TargetHeader) != "" {
			t.Errorf("instance mode named a pod: %s: %s", TargetHeader, resp.Header.Get(TargetHeader))
		}
		seen[resp.Header.Get(NodeHeader)] = true
	}
	if len(seen) != 3 {
		t.Errorf("requests went through %v, want all three nodes", seen)
	}

	cordoned := readyNode("node-a")
	cordoned.Spec.Unschedulable = true
	notReady := readyNode("node-b")
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	excluded := readyNode("node-c")
	excluded.Labels = map[string]string{excludeFromLoadBalancersLabel: ""}
	for _, n := range []*corev1.Node{cordoned, notReady, excluded} {
		if _, err := nodes.Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	f.waitTargets("only the cordoned node left", func(ts map[string]TargetStatus) bool {
		_, a := ts["node-a"]
		return a && len(ts) == 1
	})
}

// A node that fails its health checks gets no requests; when every node
// fails them, the balancer fails open and routes to all.
func TestInstanceModeHealthChecksFailOpen(t *testing.T) {
	var health atomic.Int32
	health.Store(http.StatusOK)
	f, _ := instanceFixture(t, map[string]string{HealthCheckPathAnnotation: "/healthz", HealthCheckIntervalAnnotation: "1",
		UnhealthyThresholdAnnotation: "2", HealthyThresholdAnnotation: "2"}, &health)
	if _, err := f.client.CoreV1().Nodes().Create(context.Background(), readyNode("node-a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitTargets("node-a registered", func(ts map[string]TargetStatus) bool { return len(ts) == 1 })
	health.Store(http.StatusServiceUnavailable)
	f.waitTargets("node-a unhealthy after 2 failed checks", func(ts map[string]TargetStatus) bool { return ts["node-a"].Unhealthy })
	resp, err := f.http.Get(f.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with every node unhealthy: %s, want the request routed anyway (fail open)", resp.Status)
	}
	health.Store(http.StatusOK)
	f.waitTargets("node-a healthy again after 2 checks", func(ts map[string]TargetStatus) bool { return !ts["node-a"].Unhealthy })
}

func TestHealthCheckThresholds(t *testing.T) {
	hc := healthCheck{healthy: 3, unhealthy: 2}
	tg := &target{}
	steps := []struct {
		ok               bool
		changed, unhealt bool
	}{{false, false, false}, {false, true, true}, {false, false, true}, {true, false, true}, {true, false, true}, {false, false, true}, {true, false, true}, {true, false, true}, {true, true, false}}
	for i, s := range steps {
		if changed := tg.observe(s.ok, hc); changed != s.changed || tg.unhealthy != s.unhealt {
			t.Errorf("check %d (ok %v): changed %v unhealthy %v, want %v %v", i+1, s.ok, changed, tg.unhealthy, s.changed, s.unhealt)
		}
	}
}

// A Service without a NodePort has no instance targets: the balancer
// answers 503 as an ALB with an empty target group does.
func TestInstanceModeWithoutNodePortAnswers503(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	// The node is there before the balancer's first reconcile.
	f := newFixtureFor(t, 2*time.Second, Settings{Instance: true}, svc, readyNode("node-a"))
	resp, err := f.http.Get(f.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || len(f.lb.Targets()) != 0 {
		t.Errorf("%s with targets %+v, want 503 and none", resp.Status, f.lb.Targets())
	}
}
