package cluster

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rollcheck/rollcheck/lab/node"
)

// realRunner is --node real: the real node (realNode) at up's steps, with
// Traefik in its namespace when --ingress or --gateway.
type realRunner struct {
	n             *realNode
	apiserverPort int
	kubeconfig    string
	// traefik is what Traefik serves; its bin is "" without --ingress
	// and --gateway.
	traefik traefikConfig
	out     io.Writer
}

func (r *realRunner) describe(ctx context.Context) string { return r.n.describe(ctx) }

func (r *realRunner) fillState(s *State) {
	s.NodeName = r.n.cfg.NodeName
	s.Netns = r.n.layout.Namespace
	s.NetnsPath = r.n.layout.NetnsPath()
	s.NodeIP = node.NodeIP
	s.ContainerdSocket = r.n.layout.ContainerdSocket()
	s.ProxyMode = r.n.cfg.ProxyMode
}

// startRuntime starts containerd first: it serves while the control plane
// starts.
func (r *realRunner) startRuntime(ctx context.Context, sup *supervisor) error {
	return r.n.startRuntime(ctx, sup)
}

func (r *realRunner) apiserverArgs() []string { return node.APIServerArgs(r.n.layout) }

// loadImages writes the lab's images and imports them into containerd; no
// pod runs before up is ready.
func (r *realRunner) loadImages(ctx context.Context) error { return r.n.importImages(ctx, r.out) }

func (r *realRunner) startNode(sup *supervisor) error {
	if err := r.n.startNode(sup, fmt.Sprintf("127.0.0.1:%d", r.apiserverPort)); err != nil {
		return err
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
	return w.nodeReady(cs, r.n.cfg.NodeName)
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
	if err := r.n.teardown(); err != nil {
		fmt.Fprintf(out, "real node teardown: %v\n", err)
		return
	}
	fmt.Fprintf(out, "real node torn down in %s\n", time.Since(began).Round(10*time.Millisecond))
}
