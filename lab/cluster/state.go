package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Files written in the lab directory besides the credentials (see pki.go).
const (
	labFile   = "lab.json" // State, written when the lab is ready and on every component restart
	readyFile = "ready"    // exists while the lab is ready
	upPIDFile = "up.pid"   // "PID STARTTIME" of the running `up`, written at its start
	logsDir   = "logs"     // logs/NAME.log: stdout and stderr of each component
	holdDir   = "hold"     // hold/NAME: `up` does not restart NAME while this exists
)

// State is the content of DIR/lab.json, for tests and scripts that drive the
// lab.
type State struct {
	// Dir is the absolute lab directory.
	Dir string `json:"dir"`
	// Kubeconfig is the admin kubeconfig, usable by kubectl and client-go.
	Kubeconfig string `json:"kubeconfig"`
	// LBURL is the URL of the first load-balanced Service ("" without a load balancer).
	LBURL string `json:"lb_url"`
	// LB maps each load-balanced Service (namespace/name) to its URL.
	LB map[string]string `json:"lb"`
	// LBTLSURL is the HTTPS URL of the first load-balanced Service, the
	// same balancer behind a TLS listener; LBTLS maps each Service to its
	// HTTPS URL. FrontCA is the CA that signed their certificate (for
	// rollcheck's --target-ca); "" without a load balancer.
	LBTLSURL string            `json:"lb_tls_url,omitempty"`
	LBTLS    map[string]string `json:"lb_tls,omitempty"`
	FrontCA  string            `json:"front_ca,omitempty"`
	// KubeProxy maps each Service with a kube-proxy front (up --kube-proxy,
	// real node only) to its URL on 127.0.0.1; NAMESPACE/NAME@NODE for a
	// front that enters through that Node's kube-proxy.
	KubeProxy map[string]string `json:"kube_proxy,omitempty"`
	// LBInstance maps each Service with an instance-mode balancer (up
	// --lb-instance, real node only) to its URL on 127.0.0.1.
	LBInstance map[string]string `json:"lb_instance,omitempty"`
	// IngressURL is the ingress front's URL on 127.0.0.1 (up --ingress,
	// real node only): Traefik, configured by Ingress objects.
	IngressURL string `json:"ingress_url,omitempty"`
	// GatewayURL is the Gateway API front's URL on 127.0.0.1 (up
	// --gateway, real node only): the same Traefik, configured by
	// Gateway API objects, on an entrypoint of its own (port 8001 in the
	// node's namespace, which a Gateway's listener must name).
	GatewayURL string `json:"gateway_url,omitempty"`
	// TraefikAccessLog is Traefik's access log (with --ingress or
	// --gateway): JSON, one line a request, with the backend server
	// (ServiceAddr, a pod's IP:port) and the statuses.
	TraefikAccessLog string `json:"traefik_access_log,omitempty"`
	// APIServer is the API server's URL.
	APIServer string `json:"apiserver"`
	// Etcd is etcd's client URL.
	Etcd string `json:"etcd"`
	// NodeName is the name of the kubelet's Node ("" without a kubelet).
	NodeName string `json:"node_name,omitempty"`
	// Nodes names every Node of the lab, the first NodeName.
	Nodes []string `json:"nodes,omitempty"`
	// NodeMode is the node up runs: "process" (the lab's process kubelet)
	// or "real" (upstream kubelet, containerd and kube-proxy).
	NodeMode string `json:"node_mode,omitempty"`
	// Netns is the real node's network namespace (name), NetnsPath its
	// path (/run/netns/NAME) for nsenter --net or netns.Dialer.
	Netns     string `json:"netns,omitempty"`
	NetnsPath string `json:"netns_path,omitempty"`
	// NodeIP is the real node's InternalIP, inside Netns.
	NodeIP string `json:"node_ip,omitempty"`
	// ContainerdSocket is the real node's containerd socket.
	ContainerdSocket string `json:"containerd_socket,omitempty"`
	// ProxyMode is kube-proxy's mode on the real node: iptables or nftables.
	ProxyMode string `json:"proxy_mode,omitempty"`
	// RealNodes are the real nodes, the first the one Netns and NodeIP
	// name.
	RealNodes []RealNodeState `json:"real_nodes,omitempty"`
	// PID is the process id of `up`.
	PID int `json:"pid"`
	// PIDStart is the start time of PID in clock ticks since boot
	// (/proc/PID/stat field 22), to tell it from a reused pid.
	PIDStart uint64 `json:"pid_start"`
	// Components maps each component (etcd, apiserver, controller-manager,
	// scheduler, kubelet, lb) to the pid of its current process.
	Components map[string]int `json:"components"`
	// ComponentStarts holds the start times of the Components pids.
	ComponentStarts map[string]uint64 `json:"component_starts"`
	// ReadyAfter is the time `up` took from start to ready.
	ReadyAfter string `json:"ready_after"`
}

// ReadState reads DIR/lab.json.
func ReadState(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, labFile))
	if err != nil {
		return nil, err
	}
	s := &State{}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, labFile), err)
	}
	return s, nil
}

func writeState(dir string, s *State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, labFile), append(data, '\n'), 0o644)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// proc identifies a process by pid and start time, so that a pid reused by
// an unrelated process is not mistaken for a lab process.
type proc struct {
	PID   int
	Start uint64
}

func selfProc() proc {
	pid := os.Getpid()
	start, _ := procStart(pid)
	return proc{PID: pid, Start: start}
}

// alive reports whether p still runs (zombies count as gone).
func (p proc) alive() bool {
	if p.PID <= 0 {
		return false
	}
	state, start, err := procStat(p.PID)
	if err != nil || state == "Z" || state == "X" {
		return false
	}
	return p.Start == 0 || p.Start == start
}

func procStart(pid int) (uint64, error) {
	_, start, err := procStat(pid)
	return start, err
}

// procStat returns the state and start time fields of /proc/PID/stat.
func procStat(pid int) (string, uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", 0, errors.New("malformed /proc stat")
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	return f[0], start, err
}

func readUpPID(dir string) (proc, error) {
	data, err := os.ReadFile(filepath.Join(dir, upPIDFile))
	if err != nil {
		return proc{}, err
	}
	var p proc
	if _, err := fmt.Sscan(string(data), &p.PID, &p.Start); err != nil {
		return proc{}, fmt.Errorf("%s: %w", upPIDFile, err)
	}
	return p, nil
}

func writeUpPID(dir string, p proc) error {
	return writeFileAtomic(filepath.Join(dir, upPIDFile), fmt.Appendf(nil, "%d %d\n", p.PID, p.Start), 0o644)
}

// terminate sends SIGTERM to p, waits up to grace for it to exit, then kills
// its whole process group. It returns once p is gone or after a further 5s.
func terminate(p proc, grace time.Duration) {
	if !p.alive() {
		return
	}
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	if waitGone(grace, p) {
		return
	}
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	_ = syscall.Kill(p.PID, syscall.SIGKILL)
	waitGone(5*time.Second, p)
}

// waitGone polls until none of ps is alive or the timeout passes.
func waitGone(timeout time.Duration, ps ...proc) bool {
	deadline := time.Now().Add(timeout)
	for {
		gone := true
		for _, p := range ps {
			if p.alive() {
				gone = false
				break
			}
		}
		if gone {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. They are free when
// picked; a component binds them a moment later. They are picked below the
// kernel's ephemeral range (pickPort), so that no outgoing connection (the
// end-to-end suite opens thousands a second beside a starting lab) takes
// one in that moment.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := pickPort("127.0.0.1", ports)
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func freePort(host string) (int, error) {
	l, err := pickPort(host, nil)
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// pickPort listens on a free port of host that is not in taken: a random
// one below the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range, from which connect picks its
// source ports) and at or above minPickedPort, or, failing that, one the
// kernel picks (port 0, in the ephemeral range).
func pickPort(host string, taken []int) (net.Listener, error) {
	if low := ephemeralLow(); low-minPickedPort >= 1000 {
		for range 50 {
			p := minPickedPort + rand.IntN(low-minPickedPort)
			if slices.Contains(taken, p) {
				continue
			}
			if l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p))); err == nil {
				return l, nil
			}
		}
	}
	return net.Listen("tcp", net.JoinHostPort(host, "0"))
}

// minPickedPort is the lowest port pickPort picks: above the well-known
// and the usual registered ports of local services.
const minPickedPort = 20000

// ephemeralLow is the lowest source port connect picks (0: unknown).
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0
	}
	low, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return low
}

func splitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	return host, p, err
}

// RealNodeState is one real node in lab.json.
type RealNodeState struct {
	Name      string `json:"name"`
	Netns     string `json:"netns"`
	NetnsPath string `json:"netns_path"`
	NodeIP    string `json:"node_ip"`
	PodCIDR   string `json:"pod_cidr"`
	Zone      string `json:"zone"`
	// ContainerdSocket is the node's containerd socket.
	ContainerdSocket string `json:"containerd_socket"`
	// ProxyMinSync is its kube-proxy's minSyncPeriod when up set one
	// (--kube-proxy-min-sync), else "0s" (1ms).
	ProxyMinSync string `json:"proxy_min_sync"`
	// PodLogsDir holds its containers' logs, POD_DIR/CONTAINER/N.log, and
	// those the kubelet rotated beside them.
	PodLogsDir string `json:"pod_logs_dir"`
	// LogMaxSize is its kubelet's containerLogMaxSize when up set one
	// (--container-log-max-size), else "" (10Mi).
	LogMaxSize string `json:"log_max_size,omitempty"`
}
