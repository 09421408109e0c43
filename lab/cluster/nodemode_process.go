package cluster

import (
	"context"
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
}

func (n *processNode) describe(context.Context) string { return "" }

func (n *processNode) fillState(s *State) {
	if !n.noKubelet {
		s.NodeName = n.name
	}
}

func (n *processNode) startRuntime(context.Context, *supervisor) error { return nil }

func (n *processNode) apiserverArgs() []string { return nil }

func (n *processNode) loadImages(context.Context) error { return nil }

func (n *processNode) startNode(sup *supervisor) error {
	if n.noKubelet {
		return nil
	}
	args := append([]string{
		"--kubeconfig", n.kubeconfig,
		"--node-name", n.name,
		// Its kubelet API listens on the host's 127.0.0.1: only the
		// API server (a certificate of the lab's CA) may use it.
		"--client-ca-file", n.clientCA,
		"--dir", n.dir,
		"--status-relist", n.statusRelist.String(),
	}, n.extraArgs...)
	// The kubelet stops its pods on SIGTERM; give their grace periods time.
	return sup.start(&child{name: "kubelet", grace: 40 * time.Second, args: args})
}

// lbArgs is none: lb reaches the pods on the 127.0.0.1 ports the kubelet
// publishes.
func (n *processNode) lbArgs() []string { return nil }

func (n *processNode) waitNode(w waiter, cs kubernetes.Interface) error {
	if n.noKubelet {
		return nil
	}
	return w.nodeReady(cs, n.name)
}

func (n *processNode) waitFronts(waiter) error { return nil }

func (n *processNode) teardown(io.Writer) {}
