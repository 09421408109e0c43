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
// what a failed request answers) is Traefik's own. The Gateway API front
// (up --gateway, gateway.go) is the same Traefik with its Gateway provider,
// on an entrypoint of its own.
const (
	traefikName = "traefik"
	// traefikPort is the ingress entrypoint's port on the node's address.
	traefikPort = 8000
	// traefikAccessLog is Traefik's access log in DIR/logs: one JSON
	// object a line for each request either front carried, naming the
	// backend server Traefik sent it to (ServiceAddr, the pod's IP:port).
	traefikAccessLog = "traefik-access.ndjson"
)

// The entrypoints inside the namespace: Ingress routers bind to web (the
// default entrypoint), the Gateway's listener to gateway (by its port),
// so that each front's URL serves its own routes only.
var (
	traefikEntrypoint = net.JoinHostPort(node.NodeIP, strconv.Itoa(traefikPort))
	gatewayEntrypoint = net.JoinHostPort(node.NodeIP, strconv.Itoa(gatewayPort))
)

// traefikBinary is bin/traefik next to rollcheck-lab, or an error that
// says how to build it; flag is the option that needs it.
func traefikBinary(exe, flag string) (string, error) {
	bin := filepath.Join(filepath.Dir(exe), traefikName)
	fi, err := os.Stat(bin)
	if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s needs Traefik at %s: run `make lab-traefik` (it builds Traefik v3.5.0 from the Go module proxy)", flag, bin)
	}
	return bin, nil
}

// traefikConfig is what the lab's Traefik serves.
type traefikConfig struct {
	bin        string // Traefik's binary
	kubeconfig string // the admin kubeconfig
	ingress    bool   // the Kubernetes Ingress provider on entrypoint web
	gateway    bool   // the Kubernetes Gateway provider on entrypoint gateway
	accessLog  string // the access log's path
}

// traefikCommand is the argv that runs Traefik in the node's namespace,
// configured by Ingress and Gateway API objects through the admin
// kubeconfig (its server, 127.0.0.1:APIPORT, is node-relay's listener
// there).
func traefikCommand(l node.Layout, c traefikConfig) []string {
	args := []string{"env", "KUBECONFIG=" + c.kubeconfig, c.bin,
		// Nothing may try to leave the machine: no version check, no
		// usage statistics. No dashboard, API, ping or metrics either:
		// the entrypoints are the only listeners.
		"--global.checknewversion=false",
		"--global.sendanonymoususage=false",
		"--log.level=INFO",
		"--log.nocolor=true", // a log file, not a terminal
		// The access log is the front's own record of each request: when
		// it started (StartUTC), how long it took (Duration), the backend
		// server it went to (ServiceURL, ServiceAddr: a pod's IP:port),
		// what the pod answered (OriginStatus) and what the client got
		// (DownstreamStatus: 499 when the client gave up first). Written
		// as each request ends (no buffering), with the pod's own name
		// (X-Pod-Name) where the app sent it.
		"--accesslog=true",
		"--accesslog.format=json",
		"--accesslog.filepath=" + c.accessLog,
		"--accesslog.fields.names.StartLocal=drop",
		"--accesslog.fields.headers.names.X-Pod-Name=keep",
	}
	if c.ingress {
		args = append(args,
			"--entrypoints.web.address="+traefikEntrypoint,
			// Routers that name no entrypoint (every Ingress's) bind to
			// the default ones only: not to the Gateway's.
			"--entrypoints.web.asdefault=true",
			// Traefik waits this long for in-flight requests when it
			// stops (default 10 s); the lab stops it only when the lab
			// stops.
			"--entrypoints.web.transport.lifecycle.gracetimeout=2s",
			"--providers.kubernetesingress=true",
		)
	}
	if c.gateway {
		args = append(args,
			"--entrypoints.gateway.address="+gatewayEntrypoint,
			"--entrypoints.gateway.transport.lifecycle.gracetimeout=2s",
			// The standard channel only (GatewayClass, Gateway,
			// HTTPRoute, GRPCRoute, ReferenceGrant): the CRDs up
			// installs.
			"--providers.kubernetesgateway=true",
		)
	}
	return node.InNamespace(l, args...)
}

// traefikServing reports whether Traefik's entrypoint addr accepts
// connections, dialed from inside the namespace at netnsPath.
func traefikServing(ctx context.Context, netnsPath, addr string) error {
	d := &netns.Dialer{Path: netnsPath, Dialer: net.Dialer{Timeout: time.Second}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}
