package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/rollcheck/rollcheck/lab/netns"
	"github.com/rollcheck/rollcheck/lab/node"
)

// TestRealNodesE2E starts a lab of 3 real nodes, spreads 3 agnhost pods
// over them, and checks that every node reaches every pod, that pods reach
// each other across nodes, that the balancer in instance mode reaches them
// through every node, that a kube-proxy front enters through the node
// asked for and that the API server reaches each node's kubelet. Then it kills up with SIGKILL, and down must leave the host as
// it was. It logs up's time and the lab's memory.
func TestRealNodesE2E(t *testing.T) {
	const count = 3
	lab := startRealLab(t, "rclab-n3-", []string{"containerd-2", "kubelet-2", "kube-proxy-3", node.RelayCommandName, node.RelayCommandName + "-3", "lb"},
		"--nodes", strconv.Itoa(count), "--lb-instance", "default/agnhost-spread",
		"--kube-proxy", "default/agnhost-local", "--kube-proxy", "default/agnhost-local@lab-node-3")
	layouts := lab.layouts
	st := lab.wait("240s")
	if len(st.RealNodes) != count || len(st.Nodes) != count {
		t.Fatalf("lab.json: nodes %v, real nodes %+v", st.Nodes, st.RealNodes)
	}
	cs := clientFor(t, st.Kubeconfig)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	zones := map[string]string{}
	for i, rn := range st.RealNodes {
		n, err := cs.CoreV1().Nodes().Get(ctx, rn.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		zones[rn.Name] = n.Labels[corev1.LabelTopologyZone]
		want := "lab-" + string(rune('a'+i))
		if zones[rn.Name] != want || rn.NodeIP != layouts[i].NodeIP() || rn.Netns != layouts[i].Namespace {
			t.Errorf("node %s: zone %q (want %s), ip %s, netns %s", rn.Name, zones[rn.Name], want, rn.NodeIP, rn.Netns)
		}
		var internal string
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				internal = a.Address
			}
		}
		if internal != layouts[i].NodeIP() {
			t.Errorf("node %s: InternalIP %q, want %s", rn.Name, internal, layouts[i].NodeIP())
		}
	}
	memory := labMemory(st.PID, layouts)

	createSpreadAgnhost(ctx, t, cs)
	var pods []corev1.Pod
	waitUntil(ctx, t, "3 agnhost pods Ready, one on each node", func() error {
		var err error
		pods, err = spreadAgnhostReady(ctx, cs, count)
		return err
	})
	byNode := map[string]corev1.Pod{}
	for _, p := range pods {
		byNode[p.Spec.NodeName] = p
	}
	for i, rn := range st.RealNodes {
		p, ok := byNode[rn.Name]
		if !ok {
			t.Fatalf("no pod on %s: %v", rn.Name, byNode)
		}
		_, cidr, _ := net.ParseCIDR(layouts[i].PodCIDR())
		if !cidr.Contains(net.ParseIP(p.Status.PodIP)) {
			t.Errorf("pod %s on %s has IP %s, outside the node's %s", p.Name, rn.Name, p.Status.PodIP, cidr)
		}
	}
	// Every node's namespace reaches every pod (routes to the other nodes'
	// pod ranges).
	for i, l := range layouts {
		for _, p := range pods {
			got, err := getFrom(ctx, l.NetnsPath(), "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/hostname")
			if err != nil || got != p.Name {
				t.Errorf("from node %d's namespace to pod %s on %s: %q, %v", i+1, p.Name, p.Spec.NodeName, got, err)
			}
		}
	}
	// Pods reach pods on other nodes: agnhost's /dial asks one pod to call
	// another.
	for _, from := range pods {
		for _, to := range pods {
			if from.Spec.NodeName == to.Spec.NodeName {
				continue
			}
			q := url.Values{"request": {"hostname"}, "protocol": {"http"}, "host": {to.Status.PodIP}, "port": {"8080"}, "tries": {"1"}}
			body, err := getFrom(ctx, layouts[0].NetnsPath(), "http://"+net.JoinHostPort(from.Status.PodIP, "8080")+"/dial?"+q.Encode())
			var r struct {
				Responses []string `json:"responses"`
			}
			if err == nil {
				err = json.Unmarshal([]byte(body), &r)
			}
			if err != nil || len(r.Responses) != 1 || r.Responses[0] != to.Name {
				t.Errorf("pod %s (%s) to pod %s (%s): %s, %v", from.Name, from.Spec.NodeName, to.Name, to.Spec.NodeName, body, err)
			}
		}
	}
	// The balancer in instance mode: its targets are the three nodes at
	// the Service's NodePort, and kube-proxy on each picks a pod.
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "agnhost-spread", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "agnhost-spread"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	front := st.LBInstance["default/agnhost-spread"]
	// Once a node's kube-proxy has the Service, 2 rounds over the three
	// nodes all succeed (the balancer keeps a connection to each node,
	// which that node's conntrack keeps on one pod).
	waitUntil(ctx, t, "the instance-mode balancer to reach pods through every node", func() error {
		answered := map[string]int{}
		for range 2 * count {
			got, err := getFrom(ctx, "", front+"/hostname")
			if err != nil {
				return err
			}
			answered[got]++
		}
		t.Logf("instance mode: 6 requests answered by %v", answered)
		return nil
	})
	for _, rn := range st.RealNodes {
		if data, _ := os.ReadFile(filepath.Join(lab.dir, logsDir, "lb.log")); !strings.Contains(string(data), "pod="+rn.Name+" target="+rn.NodeIP+":") {
			t.Errorf("the instance-mode balancer did not register node %s at %s", rn.Name, rn.NodeIP)
		}
	}

	// The kube-proxy front enters through the node asked for: with
	// internalTrafficPolicy Local, a node's kube-proxy sends connections
	// that start on the node only to the pod on that node, so the front
	// through the first node reaches the first node's pod alone and the one
	// @lab-node-3 the third node's.
	local := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "agnhost-local", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "agnhost-spread"}, InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyLocal),
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, local, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for key, rn := range map[string]RealNodeState{"default/agnhost-local": st.RealNodes[0], "default/agnhost-local@lab-node-3": st.RealNodes[2]} {
		front, want := st.KubeProxy[key], byNode[rn.Name].Name
		if front == "" {
			t.Fatalf("lab.json has no kube-proxy front %s: %v", key, st.KubeProxy)
		}
		waitUntil(ctx, t, "the kube-proxy front "+key+" to answer from the pod on "+rn.Name, func() error {
			for range 6 {
				got, err := getFrom(ctx, "", front+"/hostname")
				if err != nil {
					return err
				}
				if got != want {
					return fmt.Errorf("answered by %s, want %s (on %s)", got, want, rn.Name)
				}
			}
			return nil
		})
	}

	// The API server reaches each node's kubelet (kubectl logs) through
	// the first node's namespace.
	for _, p := range pods {
		if _, err := cs.CoreV1().Pods("default").GetLogs(p.Name, &corev1.PodLogOptions{}).Do(ctx).Raw(); err != nil {
			t.Errorf("logs of %s on %s through the API server: %v", p.Name, p.Spec.NodeName, err)
		}
	}

	during := lab.processes(st.PID)
	// up dies at once; its components die with it (their parent-death
	// signal), and down removes what they leave.
	if err := lab.up.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lab.upDone:
	case <-time.After(30 * time.Second):
		t.Fatal("up did not die on SIGKILL")
	}
	lab.downed = true // the wait in down is for a live up
	downBegan := time.Now()
	if out, err := exec.Command(lab.bin, "down", "--dir", lab.dir).CombinedOutput(); err != nil {
		t.Errorf("down: %v\n%s", err, out)
	}
	t.Logf("%d real nodes: up to ready %s; lab memory (RSS of up and every component, pods not yet started) %s; down after kill -9 of up %s",
		count, lab.readyAfter.Round(10*time.Millisecond), memory, time.Since(downBegan).Round(10*time.Millisecond))
	t.Logf("up output:\n%s", lab.out.String())
	lab.checkHost(during)
}

// labMemory sums the resident memory of up's process tree and of every
// process in the nodes' namespaces and pods' cgroups, in all and for the
// main components by name (all nodes' together).
func labMemory(upPID int, layouts []node.Layout) string {
	pids := map[int]bool{}
	for _, l := range layouts {
		for pid := range labProcesses(upPID, l) {
			pids[pid] = true
		}
	}
	byName := map[string]int{}
	total := 0
	for pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		name, kb := "", 0
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "Name:"); ok {
				name = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ = strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			}
		}
		byName[name] += kb
		total += kb
	}
	var parts []string
	for _, name := range []string{"kube-apiserver", "rollcheck-lab", "kubelet", "kube-proxy", "containerd"} {
		if kb := byName[name]; kb > 0 {
			parts = append(parts, fmt.Sprintf("%s %d MB", name, kb/1024))
		}
	}
	return fmt.Sprintf("%d MB in %d processes (%s)", total/1024, len(pids), strings.Join(parts, ", "))
}

// getFrom GETs u from inside the network namespace at path (the host's:
// "") and returns the body.
func ptrTo[T any](v T) *T { return &v }

func getFrom(ctx context.Context, path, u string) (string, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	if path != "" {
		d := &netns.Dialer{Path: path}
		d.Timeout = 5 * time.Second
		tr.DialContext = d.DialContext
	}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %s", resp.Status)
	}
	return strings.TrimSpace(string(b)), err
}

// createSpreadAgnhost runs 3 agnhost pods, at most one on each Node.
func createSpreadAgnhost(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	d := agnhostDeployment("agnhost-spread")
	d.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
		MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule,
		LabelSelector: d.Spec.Selector,
	}}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func spreadAgnhostReady(ctx context.Context, cs kubernetes.Interface, want int) ([]corev1.Pod, error) {
	pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agnhost-spread"})
	if err != nil {
		return nil, err
	}
	var ready []corev1.Pod
	nodes := map[string]bool{}
	for _, p := range pods.Items {
		if podReady(&p) && p.Status.PodIP != "" {
			ready = append(ready, p)
			nodes[p.Spec.NodeName] = true
		}
	}
	if len(ready) != want || len(nodes) != want {
		return nil, fmt.Errorf("%d of %d pods Ready, on %d nodes", len(ready), len(pods.Items), len(nodes))
	}
	return ready, nil
}
