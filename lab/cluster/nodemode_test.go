package cluster

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/lab/node"
)

// Each node mode fills lab.json's node fields and lb's flags its own way;
// startAll's common part (targets, ingress, lags, --lb-arg last) is the
// same for all.
func TestNodeModesFillStateAndLBFlags(t *testing.T) {
	dir := t.TempDir()
	layout := node.NewLayout(dir)
	o := &upOptions{
		dir:      dir,
		nodeName: "lab-node",
		targets:  []lbTarget{{service: "default/demo", port: 8081, tlsPort: 8443}},
		lbArgs:   []string{"--name-pods"},
	}
	pt := ports{etcdClient: 2379, apiserver: 6443}
	tests := []struct {
		name     string
		mode     string
		nd       nodeRunner
		wantNode string
		wantNS   string
		wantLB   []string
	}{
		{
			name:     "the process kubelet names its Node and lb reaches pods on 127.0.0.1",
			mode:     nodeProcess,
			nd:       &processNode{name: "lab-node"},
			wantNode: "lab-node",
			wantLB:   []string{"--kubeconfig", "kc", "--service", "default/demo=127.0.0.1:8081", "--tls-service", "default/demo=127.0.0.1:8443", "--tls-cert", filepath.Join(dir, "front.crt"), "--tls-key", filepath.Join(dir, "front.key"), "--name-pods"},
		},
		{
			name:   "without a kubelet there is no Node",
			mode:   nodeProcess,
			nd:     &processNode{noKubelet: true, name: "lab-node"},
			wantLB: []string{"--kubeconfig", "kc", "--service", "default/demo=127.0.0.1:8081", "--tls-service", "default/demo=127.0.0.1:8443", "--tls-cert", filepath.Join(dir, "front.crt"), "--tls-key", filepath.Join(dir, "front.key"), "--name-pods"},
		},
		{
			name:     "the real node gives its namespace, and lb dials pod IPs inside it",
			mode:     nodeReal,
			nd:       realRunnerOf(pt.apiserver, &realNode{layout: layout, cfg: node.Config{NodeName: "lab-node", ProxyMode: node.ProxyNFTables}}),
			wantNode: "lab-node",
			wantNS:   layout.Namespace,
			wantLB:   []string{"--kubeconfig", "kc", "--service", "default/demo=127.0.0.1:8081", "--tls-service", "default/demo=127.0.0.1:8443", "--tls-cert", filepath.Join(dir, "front.crt"), "--tls-key", filepath.Join(dir, "front.key"), "--netns", layout.NetnsPath(), "--name-pods"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o.nodeMode = tt.mode
			s := o.newState("kc", "127.0.0.1:2379", pt, tt.nd)
			if s.NodeMode != tt.mode || s.NodeName != tt.wantNode || s.Netns != tt.wantNS {
				t.Errorf("state node fields = mode %q name %q netns %q, want %q %q %q", s.NodeMode, s.NodeName, s.Netns, tt.mode, tt.wantNode, tt.wantNS)
			}
			if s.LBURL != "http://127.0.0.1:8081" || s.APIServer != "https://127.0.0.1:6443" {
				t.Errorf("state URLs = lb %q apiserver %q", s.LBURL, s.APIServer)
			}
			if s.LBTLSURL != "https://127.0.0.1:8443" || s.LBTLS["default/demo"] != s.LBTLSURL || s.FrontCA != filepath.Join(dir, "front-ca.crt") {
				t.Errorf("state TLS front = %q %v, CA %q", s.LBTLSURL, s.LBTLS, s.FrontCA)
			}
			if tt.mode == nodeReal && (s.NodeIP != node.NodeIP || s.ProxyMode != node.ProxyNFTables || s.NetnsPath != layout.NetnsPath() ||
				len(s.RealNodes) != 1 || s.RealNodes[0].PodCIDR != node.PodCIDR || !slices.Equal(s.Nodes, []string{"lab-node"})) {
				t.Errorf("real node state = ip %q proxy %q netns path %q nodes %v %+v", s.NodeIP, s.ProxyMode, s.NetnsPath, s.Nodes, s.RealNodes)
			}
			if got := o.lbCommandArgs("kc", tt.nd); !slices.Equal(got, tt.wantLB) {
				t.Errorf("lb args = %q, want %q", got, tt.wantLB)
			}
		})
	}
}

func TestNewNodeRunnerPicksTheProcessKubelet(t *testing.T) {
	dir := t.TempDir()
	o := &upOptions{dir: dir, nodeMode: nodeProcess, nodeName: "n1", kubeletArgs: []string{"--x"}}
	nd, err := o.newNodeRunner(&pki{dir: dir}, ports{})
	if err != nil {
		t.Fatal(err)
	}
	p, ok := nd.(*processNode)
	if !ok || p.name != "n1" || !slices.Equal(p.extraArgs, []string{"--x"}) {
		t.Fatalf("newNodeRunner = %#v, want the process kubelet of Node n1", nd)
	}
}

func TestProcessNodesTakeDisjointPodRanges(t *testing.T) {
	one := (&processNode{name: "lab-node", dir: "/lab/kubelet"}).kubelets()
	if len(one) != 1 || one[0].podCIDR != "198.51.100.0/24" || one[0].child != "kubelet" || one[0].taint != "" {
		t.Errorf("one Node: %+v, want lab-node with the whole /24", one)
	}
	ks := (&processNode{name: "lab-node", dir: "/lab/kubelet", count: maxProcessNodes, extraTaint: "spare=true:NoSchedule"}).kubelets()
	var prefixes []netip.Prefix
	for i, k := range ks {
		p := netip.MustParsePrefix(k.podCIDR)
		for _, q := range prefixes {
			if p.Overlaps(q) {
				t.Errorf("%s's %s overlaps %s", k.node, p, q)
			}
		}
		prefixes = append(prefixes, p)
		if !netip.MustParsePrefix("198.51.100.0/24").Contains(p.Addr()) {
			t.Errorf("%s's %s is outside the lab's labels", k.node, p)
		}
		if (i > 0) != (k.taint != "") || (i == 0) != (k.node == "lab-node") {
			t.Errorf("node %d: %+v", i, k)
		}
	}
	// The first Node holds a rollout of 50 replicas with a 25% surge.
	if first := netip.MustParsePrefix(ks[0].podCIDR); 1<<(32-first.Bits())-3 < 63 {
		t.Errorf("the first Node's %s holds fewer than 63 pods", first)
	}
}

func realRunnerOf(apiserverPort int, nodes ...*realNode) *realRunner {
	return &realRunner{n: nodes[0], nodes: nodes, apiserverPort: apiserverPort}
}

// Three real nodes: each its own namespace, address and pods in lab.json,
// the first the one the single-node fields name; their components are
// named apart.
func TestRealNodesAreNamedApart(t *testing.T) {
	dir := t.TempDir()
	var nodes []*realNode
	for i := range 3 {
		nodes = append(nodes, &realNode{layout: node.NodeLayout(dir, i), cfg: node.Config{NodeName: "lab-node" + nodeSuffix(i), ProxyMode: node.ProxyIPTables, Zone: "lab-" + string(rune('a'+i))}})
	}
	var s State
	realRunnerOf(6443, nodes...).fillState(&s)
	if s.NodeName != "lab-node" || s.NodeIP != "10.77.0.1" || !slices.Equal(s.Nodes, []string{"lab-node", "lab-node-2", "lab-node-3"}) || len(s.RealNodes) != 3 {
		t.Fatalf("state: node %s ip %s nodes %v real %+v", s.NodeName, s.NodeIP, s.Nodes, s.RealNodes)
	}
	if r := s.RealNodes[2]; r.NodeIP != "10.77.0.3" || r.PodCIDR != "10.246.0.0/16" || r.Zone != "lab-c" || r.Netns != s.Netns+"-3" {
		t.Errorf("third node %+v", r)
	}
	if got := nodes[1].component("kubelet"); got != "kubelet-2" {
		t.Errorf("second node's kubelet is named %q", got)
	}
}

// An --lb-instance target is lb's --instance-service, with no HTTPS
// listener, and lab.json's lb_instance.
func TestInstanceFrontFlagsAndState(t *testing.T) {
	dir := t.TempDir()
	o := &upOptions{dir: dir, nodeName: "lab-node", nodeMode: nodeReal, targets: []lbTarget{
		{service: "default/demo", port: 8081, tlsPort: 8443},
		{service: "default/web", port: 8082, instance: true},
	}}
	nd := realRunnerOf(6443, &realNode{layout: node.NewLayout(dir), cfg: node.Config{NodeName: "lab-node", ProxyMode: node.ProxyIPTables}})
	args := strings.Join(o.lbCommandArgs("kc", nd), " ")
	if !strings.Contains(args, "--instance-service default/web=127.0.0.1:8082") || strings.Contains(args, "--tls-service default/web") {
		t.Errorf("lb args %s", args)
	}
	s := o.newState("kc", "127.0.0.1:2379", ports{etcdClient: 2379, apiserver: 6443}, nd)
	if s.LBInstance["default/web"] != "http://127.0.0.1:8082" || s.LB["default/web"] != "" || s.LBURL != "http://127.0.0.1:8081" {
		t.Errorf("state: lb_instance %v, lb %v, lb_url %s", s.LBInstance, s.LB, s.LBURL)
	}
	if (lbTarget{instance: true}).tls() || (lbTarget{kubeProxy: true}).tls() || !(lbTarget{}).tls() {
		t.Error("only the IP-mode balancer has an HTTPS listener")
	}
}

// --kube-proxy NS/NAME@NODE enters through that Node's namespace: lb's
// --cluster-ip-service carries its path, lab.json names the front by
// Service and Node, and a Node the lab does not have, or @NODE on another
// kind of front, is refused.
func TestKubeProxyFrontThroughAChosenNode(t *testing.T) {
	dir := t.TempDir()
	o := &upOptions{dir: dir, nodeName: "lab-node", nodeMode: nodeReal, nodes: 3}
	if err := o.addTargets("--kube-proxy", []string{"default/demo=8081", "default/demo=8082@lab-node-3"}, func(t *lbTarget) { t.kubeProxy = true }); err != nil {
		t.Fatal(err)
	}
	nd := realRunnerOf(6443, &realNode{layout: node.NewLayout(dir), cfg: node.Config{NodeName: "lab-node", ProxyMode: node.ProxyIPTables}})
	args := strings.Join(o.lbCommandArgs("kc", nd), " ")
	want := "--cluster-ip-service default/demo=127.0.0.1:8082@" + node.NodeLayout(dir, 2).NetnsPath()
	if !strings.Contains(args, want) || !strings.Contains(args, "--cluster-ip-service default/demo=127.0.0.1:8081 ") {
		t.Errorf("lb args %s, want %s and the first node's front", args, want)
	}
	s := o.newState("kc", "127.0.0.1:2379", ports{etcdClient: 2379, apiserver: 6443}, nd)
	if s.KubeProxy["default/demo"] != "http://127.0.0.1:8081" || s.KubeProxy["default/demo@lab-node-3"] != "http://127.0.0.1:8082" {
		t.Errorf("state: kube_proxy %v", s.KubeProxy)
	}
	for _, bad := range []struct {
		flag, value string
		kind        func(*lbTarget)
		want        string
	}{
		{"--kube-proxy", "default/demo@lab-node-4", func(t *lbTarget) { t.kubeProxy = true }, "no Node lab-node-4 in a lab of 3"},
		{"--kube-proxy", "default/demo@lab-node-2", func(t *lbTarget) { t.kubeProxy = true }, ""},
		{"--lb-instance", "default/demo@lab-node-2", func(t *lbTarget) { t.instance = true }, "only a kube-proxy front"},
	} {
		o := &upOptions{dir: dir, nodeName: "lab-node", nodeMode: nodeReal, nodes: 3}
		err := o.addTargets(bad.flag, []string{bad.value, "default/demo@lab-node-2"}, bad.kind)
		if bad.want == "" {
			bad.want = "given twice"
		}
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s %s: %v, want an error with %q", bad.flag, bad.value, err, bad.want)
		}
	}
}
