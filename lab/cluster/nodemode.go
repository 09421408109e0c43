package cluster

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
)

// nodeRunner is one node mode of up (--node): the node's part of each step
// of startAll, which takes the steps in the same order for every mode. A
// new mode implements them; startAll does not change. A mode with nothing
// to do at a step does nothing there.
type nodeRunner interface {
	// describe is up's line about the node before it starts; "" for none.
	describe(ctx context.Context) string
	// fillState writes the node's fields of lab.json.
	fillState(s *State)
	// startRuntime starts, before etcd, what must already serve while the
	// control plane starts.
	startRuntime(ctx context.Context, sup *supervisor) error
	// apiserverArgs are the API server flags the node needs.
	apiserverArgs() []string
	// loadImages makes the lab's images available to the node. It runs
	// while the rest starts; up is not ready before it returns.
	loadImages(ctx context.Context) error
	// startNode starts the node's components once the control plane
	// serves, before lb.
	startNode(sup *supervisor) error
	// lbArgs are lb's flags for reaching the node's pods.
	lbArgs() []string
	// waitNode waits, once the default ServiceAccount exists, until the
	// node can run the lab's pods.
	waitNode(w waiter, cs kubernetes.Interface) error
	// waitFronts waits, last, for the fronts that run on the node.
	waitFronts(w waiter) error
	// teardown removes what the node left on the host once every
	// component has stopped, and reports on out.
	teardown(out io.Writer)
}

// newNodeRunner returns the runner of --node, chosen once for the whole run.
func (o *upOptions) newNodeRunner(pk *pki, pt ports) (nodeRunner, error) {
	kubeconfig := pk.path(kubeconfigFile)
	switch o.nodeMode {
	case nodeProcess:
		return &processNode{
			noKubelet:    o.noKubelet,
			name:         o.nodeName,
			kubeconfig:   kubeconfig,
			clientCA:     pk.path(caCertFile),
			dir:          filepath.Join(o.dir, "kubelet"),
			statusRelist: o.statusRelist,
			extraArgs:    o.kubeletArgs,
			count:        o.nodes,
			extraTaint:   o.extraTaint,
		}, nil
	case nodeReal:
		nodes, err := newRealNodes(o, kubeconfig)
		if err != nil {
			return nil, err
		}
		r := &realRunner{n: nodes[0], nodes: nodes, apiserverPort: pt.apiserver, kubeconfig: kubeconfig, out: o.out}
		if o.ingress || o.gateway {
			r.traefik = traefikConfig{bin: o.traefik, kubeconfig: kubeconfig, ingress: o.ingress, gateway: o.gateway,
				accessLog: filepath.Join(o.dir, logsDir, traefikAccessLog)}
		}
		return r, nil
	default:
		return nil, fmt.Errorf("--node %q: want %s or %s", o.nodeMode, nodeProcess, nodeReal)
	}
}
