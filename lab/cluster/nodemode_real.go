package cluster

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rollcheck/rollcheck/lab/node"
)

// realRunner is --node real: the real nodes (realNode) at up's steps, with
// Traefik in the first node's namespace when --ingress or --gateway.
type realRunner struct {
	// n is the first node, whose namespace holds the node network's
	// bridge, the fronts and the API server's egress; nodes are all of
	// them, n first.
	n             *realNode
	nodes         []*realNode
	apiserverPort int
	kubeconfig    string
	// traefik is what Traefik serves; its bin is "" without --ingress
	// and --gateway.
	traefik traefikConfig
	out     io.Writer
}

func (r *realRunner) describe(ctx context.Context) string {
	line := r.n.describe(ctx)
	if len(r.nodes) < 2 {
		return line
	}
	names := make([]string, len(r.nodes))
	for i, n := range r.nodes {
		names[i] = n.cfg.NodeName + " " + n.layout.NodeIP()
	}
	return fmt.Sprintf("%s, and %d more nodes in their own (%s; pods of each routed to each)", line, len(r.nodes)-1, strings.Join(names[1:], ", "))
}

func (r *realRunner) fillState(s *State) {
	s.NodeName = r.n.cfg.NodeName
	s.Netns = r.n.layout.Namespace
	s.NetnsPath = r.n.layout.NetnsPath()
	s.NodeIP = r.n.layout.NodeIP()
	s.ContainerdSocket = r.n.layout.ContainerdSocket()
	s.ProxyMode = r.n.cfg.ProxyMode
	for _, n := range r.nodes {
		s.Nodes = append(s.Nodes, n.cfg.NodeName)
		s.RealNodes = append(s.RealNodes, RealNodeState{Name: n.cfg.NodeName, Netns: n.layout.Namespace, NetnsPath: n.layout.NetnsPath(),
			NodeIP: n.layout.NodeIP(), PodCIDR: n.layout.PodCIDR(), Zone: n.cfg.Zone, ContainerdSocket: n.layout.ContainerdSocket(),
			ProxyMinSync: n.cfg.ProxyMinSync.String(), PodLogsDir: n.layout.PodLogsDir(), LogMaxSize: n.cfg.LogMaxSize})
	}
}

// startRuntime starts containerd first: it serves while the control plane
// starts. What a crashed earlier lab left of any node goes first, the
// last node first (the first node's namespace holds the others' links).
func (r *realRunner) startRuntime(ctx context.Context, sup *supervisor) error {
	for i := node.MaxNodes - 1; i >= 0; i-- {
		if l := node.NodeLayout(r.n.layout.LabDir, i); node.Leftover(l) {
			if err := node.Teardown(ctx, l); err != nil {
				return fmt.Errorf("clean up the previous node %s: %w", l.Dir(), err)
			}
		}
	}
	for _, n := range r.nodes {
		if err := n.startRuntime(ctx, sup); err != nil {
			return err
		}
	}
	return nil
}

func (r *realRunner) apiserverArgs() []string { return node.APIServerArgs(r.n.layout) }

// loadImages writes the lab's images and imports them into each node's
// containerd; no pod runs before up is ready.
func (r *realRunner) loadImages(ctx context.Context) error {
	for _, n := range r.nodes {
		if err := n.importImages(ctx, r.out); err != nil {
			return err
		}
	}
	return nil
}

func (r *realRunner) startNode(sup *supervisor) error {
	for _, n := range r.nodes {
		if err := n.startNode(sup, fmt.Sprintf("127.0.0.1:%d", r.apiserverPort)); err != nil {
			return err
		}
	}
	if r.traefik.bin == "" {
		return nil
	}
	return sup.start(&child{name: traefikName, grace: 10 * time.Second, argv: traefikCommand(r.n.layout, r.traefik)})
}

// lbArgs: the targets are pod IPs, inside the namespace.
func (r *realRunner) lbArgs() []string { return []string{"--netns", r.n.layout.NetnsPath()} }

func (r *realRunner) waitNode(w waiter, cs kubernetes.Interface) error {
	if err := w.until("the kubernetes Service's endpoint for pods", func(ctx context.Context) error {
		return publishAPIServer(ctx, cs, int32(r.apiserverPort))
	}); err != nil {
		return err
	}
	for _, n := range r.nodes {
		if err := w.nodeReady(cs, n.cfg.NodeName); err != nil {
			return err
		}
	}
	return nil
}

func (r *realRunner) waitFronts(w waiter) error {
	var entrypoints []string
	if r.traefik.ingress {
		entrypoints = append(entrypoints, traefikEntrypoint)
	}
	if r.traefik.gateway {
		entrypoints = append(entrypoints, gatewayEntrypoint)
	}
	for _, addr := range entrypoints {
		if err := w.until("Traefik's entrypoint "+addr+" inside the namespace", func(ctx context.Context) error {
			return traefikServing(ctx, r.n.layout.NetnsPath(), addr)
		}); err != nil {
			return err
		}
	}
	return nil
}

// teardown: after the components stop, the node's mounts, cgroups and
// namespace go too.
func (r *realRunner) teardown(out io.Writer) {
	began := time.Now()
	for i := len(r.nodes) - 1; i >= 0; i-- {
		if err := r.nodes[i].teardown(); err != nil {
			fmt.Fprintf(out, "real node %s teardown: %v\n", r.nodes[i].cfg.NodeName, err)
			return
		}
	}
	what := "real node"
	if len(r.nodes) > 1 {
		what = fmt.Sprintf("%d real nodes", len(r.nodes))
	}
	fmt.Fprintf(out, "%s torn down in %s\n", what, time.Since(began).Round(10*time.Millisecond))
}
