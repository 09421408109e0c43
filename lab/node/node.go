// Package node runs the lab's real node: Debian's containerd with runc and
// the CNI plugins, and the upstream kubelet and kube-proxy, all inside a
// network namespace the lab creates, so that pod traffic never reaches the
// host's network. It renders the components' configuration, creates the
// namespace and its bridge, relays the API server into the namespace (and
// the API server's connections to the kubelet out of it), and tears it all
// down again: processes, mounts, cgroups and the namespace.
//
// Nothing here changes the host namespace's iptables/nftables, sysctls,
// conntrack limits or cgroup mounts: sysctls are set only inside the lab's
// namespace, and the kubelet runs in a mount namespace of its own in which
// the global sysctls it would otherwise rewrite already read the values it
// wants (see MaskedSysctls).
package node

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
)

// Fixed addresses inside the lab's namespace. Every lab has its own
// namespace, so two labs use the same addresses without meeting.
const (
	// BridgeName is the node's interface: a bridge with no ports, which
	// carries the node address and the namespace's default route (the
	// kernel here has no dummy, macvlan, ipvlan or vxlan drivers).
	BridgeName = "lab0"
	// NodeIP is the first node's InternalIP, on BridgeName (Layout.NodeIP
	// gives each node's: 10.77.0.1, 10.77.0.2, ...).
	NodeIP = "10.77.0.1"
	// NodePrefix is the prefix length of NodeIP: the lab's node network,
	// which the first node's bridge carries and the others join.
	NodePrefix = 24
	// PodCIDR is the first node's pods' range, handed out by host-local
	// IPAM (Layout.PodCIDR gives each node's: 10.244.0.0/16,
	// 10.245.0.0/16, ...).
	PodCIDR = "10.244.0.0/16"
	// ClusterCIDR holds every node's pod range (MaxNodes of them).
	ClusterCIDR = "10.244.0.0/14"
	// MaxNodes is how many real nodes a lab may have: one /16 of pods
	// each within ClusterCIDR.
	MaxNodes = 4
	// CNIBridge is the bridge the CNI bridge plugin attaches pods to.
	CNIBridge = "cni0"
	// CNIBinDir holds Debian's containernetworking-plugins.
	CNIBinDir = "/usr/lib/cni"
	// KubeletPort is the kubelet API's port on NodeIP.
	KubeletPort = 10250
)

// maxSocketPath is the longest path a unix socket may have (sun_path is 108
// bytes including the terminating NUL).
const maxSocketPath = 107

// NamespaceName returns the name of the network namespace of the lab in
// labDir (an absolute path): "rclab-" and 8 hex digits of its SHA-256, so
// that two labs in different directories get different namespaces and a
// later up or down finds the namespace of a crashed one.
func NamespaceName(labDir string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(labDir)))
	return "rclab-" + hex.EncodeToString(sum[:4])
}

// Layout is where one node of the lab in LabDir keeps its files. Everything
// is under LabDir/node (LabDir/node-2, ... for the other nodes) except the
// namespace's entry in /run/netns and the cgroups under each hierarchy's
// CgroupRoot.
type Layout struct {
	// LabDir is the lab directory (absolute).
	LabDir string
	// Namespace is the network namespace's name.
	Namespace string
	// Index is the node's place in the lab: 0 for the first, whose
	// namespace carries the node network's bridge.
	Index int
}

// NewLayout returns the layout of the first node of the lab in labDir.
func NewLayout(labDir string) Layout { return NodeLayout(labDir, 0) }

// NodeLayout returns the layout of node i (from 0) of the lab in labDir:
// the first node's names, with "-2", "-3", ... for the others.
func NodeLayout(labDir string, i int) Layout {
	l := Layout{LabDir: filepath.Clean(labDir), Namespace: NamespaceName(labDir), Index: i}
	if i > 0 {
		l.Namespace += l.suffix()
	}
	return l
}

// suffix is "" for the first node, "-2", "-3", ... for the others.
func (l Layout) suffix() string {
	if l.Index == 0 {
		return ""
	}
	return "-" + strconv.Itoa(l.Index+1)
}

// Dir is LabDir/node (LabDir/node-2, ...).
func (l Layout) Dir() string { return filepath.Join(l.LabDir, "node"+l.suffix()) }

// NodeIP is the node's InternalIP: 10.77.0.1 for the first node, then
// 10.77.0.2, ...
func (l Layout) NodeIP() string { return fmt.Sprintf("10.77.0.%d", l.Index+1) }

// PodCIDR is the node's pod range: 10.244.0.0/16 for the first node, then
// 10.245.0.0/16, ...
func (l Layout) PodCIDR() string { return fmt.Sprintf("10.%d.0.0/16", 244+l.Index) }

// Link is the name, in the first node's namespace, of the veth that joins
// this node to the node network's bridge ("" for the first node).
func (l Layout) Link() string {
	if l.Index == 0 {
		return ""
	}
	return "lab0-n" + strconv.Itoa(l.Index+1)
}

func (l Layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.Dir()}, elem...)...)
}

// NetnsPath is the namespace's bind mount, which nsenter --net enters.
func (l Layout) NetnsPath() string { return filepath.Join("/run/netns", l.Namespace) }

// ContainerdSocket is containerd's gRPC socket, LabDir/node/containerd.sock
// (a contract with lab/image, whose Socket returns the same path).
func (l Layout) ContainerdSocket() string { return l.path("containerd.sock") }

// EgressSocket is the relay's unix socket for the API server's HTTP CONNECT
// requests into the namespace.
func (l Layout) EgressSocket() string { return l.path("egress.sock") }

// ContainerdRoot and ContainerdState are containerd's root and state
// directories.
func (l Layout) ContainerdRoot() string  { return l.path("containerd", "root") }
func (l Layout) ContainerdState() string { return l.path("containerd", "state") }

// RuncRoot is runc's state directory (instead of /run/containerd/runc).
func (l Layout) RuncRoot() string { return l.path("runc") }

// ConfigDir holds the rendered configuration files.
func (l Layout) ConfigDir() string { return l.path("config") }

// ContainerdConfig, KubeletConfig, KubeProxyConfig, EgressConfig and
// ResolvConf are the rendered files.
func (l Layout) ContainerdConfig() string { return l.path("config", "containerd.toml") }
func (l Layout) KubeletConfig() string    { return l.path("config", "kubelet.yaml") }
func (l Layout) KubeProxyConfig() string  { return l.path("config", "kube-proxy.yaml") }
func (l Layout) EgressConfig() string     { return l.path("config", "egress-selector.yaml") }
func (l Layout) ResolvConf() string       { return l.path("config", "resolv.conf") }

// CNIConfDir holds the lab's CNI network list; CNIDataDir is host-local's
// store of allocated addresses (instead of /var/lib/cni/networks).
func (l Layout) CNIConfDir() string { return l.path("cni", "net.d") }
func (l Layout) CNIDataDir() string { return l.path("cni", "networks") }

// CNINetwork is the name of the lab's CNI network: unique per lab, so that
// libcni's cached results in /var/lib/cni/results can be told apart.
func (l Layout) CNINetwork() string { return l.Namespace }

// KubeletRoot is the kubelet's --root-dir; PodLogsDir its podLogsDir;
// DevicePluginsDir is mounted over /var/lib/kubelet/device-plugins (a path
// built into the kubelet) in the kubelet's own mount namespace.
func (l Layout) KubeletRoot() string      { return l.path("kubelet") }
func (l Layout) PodLogsDir() string       { return l.path("pod-logs") }
func (l Layout) DevicePluginsDir() string { return l.path("device-plugins") }
func (l Layout) VolumePluginDir() string  { return l.path("volume-plugins") }

// SysctlDir holds one file per masked sysctl (see MaskedSysctls).
func (l Layout) SysctlDir() string { return l.path("sysctl") }

// ImagesDir holds the image archives imported into containerd.
func (l Layout) ImagesDir() string { return l.path("images") }

// RecordFile is written when the node is prepared, before anything else is
// created, so that down can tear down a node whose up crashed.
func (l Layout) RecordFile() string { return l.path("node.json") }

// CgroupRoot is the kubelet's cgroupRoot: pods' cgroups live below it in
// every hierarchy, apart from the host's and from any other lab's.
func (l Layout) CgroupRoot() string { return "/" + l.Namespace }

// Validate fails if a socket path of the layout is too long for a unix
// socket (containerd also listens on its socket path + ".ttrpc").
func (l Layout) Validate() error {
	for _, p := range []string{l.ContainerdSocket() + ".ttrpc", l.EgressSocket(),
		filepath.Join(l.KubeletRoot(), "pod-resources", "kubelet.sock")} {
		if len(p) > maxSocketPath {
			return fmt.Errorf("lab directory %s is too long for the real node: the unix socket %s would be %d bytes, at most %d fit; use a shorter --dir", l.LabDir, p, len(p), maxSocketPath)
		}
	}
	return nil
}
