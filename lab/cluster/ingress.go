package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rollcheck/rollcheck/lab/netns"
	"github.com/rollcheck/rollcheck/lab/node"
)

// The ingress front (up --ingress, real node only): Traefik, an upstream
// ingress controller built from its own Go module (make lab-traefik), runs
// in the node's network namespace with its Kubernetes Ingress provider, so
// that a standard Ingress object configures it; lb's --tcp-forward carries
// the host's 127.0.0.1:PORT to its entrypoint on the node's address. Every
// decision on the path (which pod, when an endpoint stops getting requests,
// what a failed request answers) is Traefik's own.
const (
	traefikName = "traefik"
	// traefikPort is the entrypoint's port on the node's address.
	traefikPort = 8000
)

// traefikEntrypoint is Traefik's entrypoint inside the namespace.
var traefikEntrypoint = net.JoinHostPort(node.NodeIP, strconv.Itoa(traefikPort))

// traefikBinary is bin/traefik next to rollcheck-lab, or an error that
// says how to build it.
func traefikBinary(exe string) (string, error) {
	bin := filepath.Join(filepath.Dir(exe), traefikName)
	fi, err := os.Stat(bin)
	if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("--ingress needs Traefik at %s: run `make lab-traefik` (it builds Traefik v3.5.0 from the Go module proxy)", bin)
	}
	return bin, nil
}

// traefikCommand is the argv that runs Traefik (binary bin) in the node's
// namespace, configured by Ingress objects through the admin kubeconfig
// (its server, 127.0.0.1:APIPORT, is node-relay's listener there).
func traefikCommand(l node.Layout, bin, kubeconfig string) []string {
	return node.InNamespace(l, "env", "KUBECONFIG="+kubeconfig, bin,
		// Nothing may try to leave the machine: no version check, no
		// usage statistics. No dashboard, API, ping or metrics either:
		// the entrypoint is the only listener.
		"--global.checknewversion=false",
		"--global.sendanonymoususage=false",
		"--entrypoints.web.address="+traefikEntrypoint,
		// Traefik waits this long for in-flight requests when it stops
		// (default 10 s); the lab stops it only when the lab stops.
		"--entrypoints.web.transport.lifecycle.gracetimeout=2s",
		"--providers.kubernetesingress=true",
		"--log.level=INFO",
		"--log.nocolor=true", // a log file, not a terminal
	)
}

// traefikServing reports whether Traefik's entrypoint accepts connections,
// dialed from inside the namespace at netnsPath.
func traefikServing(ctx context.Context, netnsPath string) error {
	d := &netns.Dialer{Path: netnsPath, Dialer: net.Dialer{Timeout: time.Second}}
	c, err := d.DialContext(ctx, "tcp", traefikEntrypoint)
	if err != nil {
		return err
	}
	return c.Close()
}
