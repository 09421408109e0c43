package cluster

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/kubernetes"
)

// processNode is --node process: the lab's own process kubelet, with no
// runtime, images or kube-proxy; with --no-kubelet, no node at all.
type processNode struct {
	noKubelet    bool
	name         string // the Node's
	kubeconfig   string
	clientCA     string // of the kubelet API
	dir          string // the kubelet's data
	statusRelist time.Duration
	extraArgs    []string // --kubelet-arg
	count        int      // Nodes, each its own kubelet (0 is 1)
	extraTaint   string   // the taint of every Node but the first
}

// maxProcessNodes bounds --nodes: the first Node keeps half of the pod IP
// labels, 198.51.100.0/25 (a Deployment of 50 replicas rolls out with a
// surge of 13 on it), and each other takes a /27 of the rest.
const maxProcessNodes = 4

// processKubelet is one Node of a process lab.
type processKubelet struct {
	child, node, dir, podCIDR, zone string
	taint                           string
}

// kubelets are the lab's Nodes: the first is the one a one-Node lab has
// (its name, its directory, the whole /24); with more, it has the /25 and
// each other a /27 after it.
func (n *processNode) kubelets() []processKubelet {
	count := max(n.count, 1)
	out := make([]processKubelet, count)
	for i := range out {
		k := processKubelet{child: "kubelet", node: n.name, dir: n.dir, podCIDR: "198.51.100.0/24", zone: "lab-" + string(rune('a'+i))}
		switch {
		case count > 1 && i == 0:
			k.podCIDR = "198.51.100.0/25"
		case i > 0:
			k.podCIDR = fmt.Sprintf("198.51.100.%d/27", 128+32*(i-1))
		}
		if i > 0 {
			suffix := fmt.Sprintf("-%d", i+1)
			k.child, k.node, k.dir, k.taint = "kubelet"+suffix, n.name+suffix, n.dir+suffix, n.extraTaint
		}
		out[i] = k
	}
	return out
}

func (n *processNode) describe(context.Context) string { return "" }

func (n *processNode) fillState(s *State) {
	if !n.noKubelet {
		s.NodeName = n.name
		for _, k := range n.kubelets() {
			s.Nodes = append(s.Nodes, k.node)
		}
	}
}

func (n *processNode) startRuntime(context.Context, *supervisor) error { return nil }

func (n *processNode) apiserverArgs() []string { return nil }

func (n *processNode) loadImages(context.Context) error { return nil }

func (n *processNode) startNode(sup *supervisor) error {
	if n.noKubelet {
		return nil
	}
	for _, k := range n.kubelets() {
		args := []string{
			"--kubeconfig", n.kubeconfig,
			"--node-name", k.node,
			// Its kubelet API listens on the host's 127.0.0.1: only the
			// API server (a certificate of the lab's CA) may use it.
			"--client-ca-file", n.clientCA,
			"--dir", k.dir,
			"--status-relist", n.statusRelist.String(),
			"--pod-cidr", k.podCIDR,
			"--node-labels", "topology.kubernetes.io/zone=" + k.zone,
		}
		if k.taint != "" {
			args = append(args, "--register-with-taints", k.taint)
		}
		// The kubelet stops its pods on SIGTERM; give their grace
		// periods time.
		// Each is `rollcheck-lab kubelet`, under a name of its own.
		argv := append(append([]string{sup.exe, "kubelet"}, args...), n.extraArgs...)
		if err := sup.start(&child{name: k.child, grace: 40 * time.Second, argv: argv}); err != nil {
			return err
		}
	}
	return nil
}

// lbArgs is none: lb reaches the pods on the 127.0.0.1 ports the kubelet
// publishes.
func (n *processNode) lbArgs() []string { return nil }

func (n *processNode) waitNode(w waiter, cs kubernetes.Interface) error {
	if n.noKubelet {
		return nil
	}
	for _, k := range n.kubelets() {
		if err := w.nodeReady(cs, k.node); err != nil {
			return err
		}
	}
	return nil
}

func (n *processNode) waitFronts(waiter) error { return nil }

func (n *processNode) teardown(io.Writer) {}
