package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rollcheck/rollcheck/lab/netns"
)

// nsSysctls are set inside the lab's namespace (they are per network
// namespace; the host's stay as they are). Forwarding lets pods reach
// ClusterIPs through kube-proxy's DNAT; bridge-nf-call-iptables makes
// bridged pod-to-pod traffic pass through those rules too.
var nsSysctls = []struct {
	path, value string
}{
	{"net/ipv4/ip_forward", "1"},
	{"net/bridge/bridge-nf-call-iptables", "1"},
	{"net/bridge/bridge-nf-call-ip6tables", "1"},
}

// createNamespace creates the network namespace and the node's interface in
// it: lo up, and the bridge BridgeName (no ports) with NodeIP and the
// namespace's default route. Nothing is added to the host's namespace.
//
// Every other node joins the first's bridge by a veth pair (its end is
// BridgeName in its own namespace, the other end Link in the first's, a
// port of the bridge), and each node routes every other node's pod range
// to that node's address, as kindnet does: pods reach pods on any node,
// and still nothing leaves the namespaces. Nodes are created in order.
func createNamespace(ctx context.Context, l Layout) error {
	if err := run(ctx, "ip", "netns", "add", l.Namespace); err != nil {
		return err
	}
	addr := l.NodeIP() + "/" + strconv.Itoa(NodePrefix)
	ipIn := func(ns string, cmds ...[]string) error {
		for _, args := range cmds {
			if err := run(ctx, "ip", append([]string{"-n", ns}, args...)...); err != nil {
				return err
			}
		}
		return nil
	}
	if err := ipIn(l.Namespace, []string{"link", "set", "lo", "up"}); err != nil {
		return err
	}
	if l.Index == 0 {
		if err := ipIn(l.Namespace, []string{"link", "add", BridgeName, "type", "bridge"}); err != nil {
			return err
		}
	} else {
		first := NodeLayout(l.LabDir, 0)
		if err := ipIn(first.Namespace,
			[]string{"link", "add", l.Link(), "type", "veth", "peer", "name", BridgeName, "netns", l.Namespace},
			[]string{"link", "set", l.Link(), "master", BridgeName},
			[]string{"link", "set", l.Link(), "up"}); err != nil {
			return err
		}
	}
	if err := ipIn(l.Namespace,
		[]string{"addr", "add", addr, "dev", BridgeName},
		[]string{"link", "set", BridgeName, "up"},
		// A black hole: nothing leaves the namespaces, yet every address
		// (ClusterIPs included) has a route, as kube-proxy's DNAT needs.
		[]string{"route", "add", "default", "dev", BridgeName}); err != nil {
		return err
	}
	for i := range l.Index {
		o := NodeLayout(l.LabDir, i)
		if err := ipIn(l.Namespace, []string{"route", "add", o.PodCIDR(), "via", o.NodeIP(), "dev", BridgeName}); err != nil {
			return err
		}
		if err := ipIn(o.Namespace, []string{"route", "add", l.PodCIDR(), "via", l.NodeIP(), "dev", BridgeName}); err != nil {
			return err
		}
	}
	// /proc/sys/net belongs to the network namespace of the thread that
	// opens it.
	return netns.Do(l.NetnsPath(), func() error {
		for _, s := range nsSysctls {
			if err := os.WriteFile(filepath.Join("/proc/sys", s.path), []byte(s.value), 0o644); err != nil {
				return fmt.Errorf("sysctl %s in namespace %s: %w", s.path, l.Namespace, err)
			}
		}
		return nil
	})
}

// namespaceExists reports whether /run/netns/NAME exists.
func namespaceExists(l Layout) bool {
	_, err := os.Stat(l.NetnsPath())
	return err == nil
}

// deleteNamespace removes the namespace's entry; the namespace itself goes
// when no process and no mount hold it any more.
func deleteNamespace(ctx context.Context, l Layout) error {
	if !namespaceExists(l) {
		return nil
	}
	return run(ctx, "ip", "netns", "delete", l.Namespace)
}

// otherLabNamespaces returns the names of other labs' namespaces.
func otherLabNamespaces(l Layout) []string {
	entries, _ := os.ReadDir("/run/netns")
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "rclab-") && e.Name() != l.Namespace {
			names = append(names, e.Name())
		}
	}
	return names
}

// run runs a command, returning its output in the error if it fails.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s %s: %s", name, strings.Join(args, " "), msg)
	}
	return nil
}

// errNotRoot is returned when the real node is asked for without root.
var errNotRoot = errors.New("the real node needs root (network namespace, mounts, cgroups)")
