package node

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/serializer"
	apiserverv1beta1 "k8s.io/apiserver/pkg/apis/apiserver/v1beta1"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	kubeletscheme "k8s.io/kubernetes/pkg/kubelet/apis/config/scheme"
	kubeletvalidation "k8s.io/kubernetes/pkg/kubelet/apis/config/validation"
	proxyconfig "k8s.io/kubernetes/pkg/proxy/apis/config"
	proxyscheme "k8s.io/kubernetes/pkg/proxy/apis/config/scheme"
	proxyvalidation "k8s.io/kubernetes/pkg/proxy/apis/config/validation"
	"sigs.k8s.io/yaml"
)

func testConfig(mode string) (Layout, Config) {
	return NewLayout("/tmp/lab"), Config{
		NodeName:     "lab-node",
		Kubeconfig:   "/tmp/lab/kubeconfig",
		ProxyMode:    mode,
		SandboxImage: "registry.k8s.io/pause:3.10",
	}
}

// decodeKubelet decodes a KubeletConfiguration as the kubelet does (strict,
// defaulted) and runs the kubelet's own validation on it.
func decodeKubelet(t *testing.T, data []byte) *kubeletconfig.KubeletConfiguration {
	t.Helper()
	_, codecs, err := kubeletscheme.NewSchemeAndCodecs(serializer.EnableStrict)
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("the kubelet would not load its config: %v\n%s", err, data)
	}
	kc := obj.(*kubeletconfig.KubeletConfiguration)
	if err := kubeletvalidation.ValidateKubeletConfiguration(kc, utilfeature.DefaultFeatureGate); err != nil {
		t.Fatalf("the kubelet rejects its config: %v", err)
	}
	return kc
}

func TestKubeletConfigIsValidAndKeepsTheNodeToItsOwn(t *testing.T) {
	l, c := testConfig(ProxyIPTables)
	data, err := KubeletConfig(l, c)
	if err != nil {
		t.Fatal(err)
	}
	kc := decodeKubelet(t, data)
	checks := []struct {
		name      string
		got, want any
	}{
		{"cgroup v1 accepted", kc.FailCgroupV1, false},
		{"cgroupfs driver", kc.CgroupDriver, "cgroupfs"},
		{"pods' cgroups under the lab's root", kc.CgroupRoot, "/" + l.Namespace},
		{"swap tolerated", kc.FailSwapOn, false},
		{"the lab's containerd", kc.ContainerRuntimeEndpoint, "unix:///tmp/lab/node/containerd.sock"},
		{"empty resolv.conf", kc.ResolverConfig, "/tmp/lab/node/config/resolv.conf"},
		{"anonymous kubelet API", kc.Authentication.Anonymous.Enabled, true},
		{"no webhook authentication", kc.Authentication.Webhook.Enabled, false},
		{"AlwaysAllow", kc.Authorization.Mode, kubeletconfig.KubeletAuthorizationModeAlwaysAllow},
		{"no static pods", kc.StaticPodPath, ""},
		{"parallel image pulls", kc.SerializeImagePulls, false},
		{"image GC off", kc.ImageGCHighThresholdPercent, int32(100)},
		{"serves on the node IP", kc.Address, NodeIP},
		{"pod logs in the lab", kc.PodLogsDir, "/tmp/lab/node/pod-logs"},
		{"volume plugins in the lab", kc.VolumePluginDir, "/tmp/lab/node/volume-plugins"},
		{"no read-only port", kc.ReadOnlyPort, int32(0)},
		{"kubelet never rewrites kernel defaults", kc.ProtectKernelDefaults, false},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	// Hard eviction off: a 0% threshold, the defaults not merged in.
	if len(kc.EvictionHard) != 1 || kc.EvictionHard["memory.available"] != "0%" || kc.MergeDefaultEvictionSettings {
		t.Errorf("eviction: %v (merge defaults %v), want only memory.available=0%%", kc.EvictionHard, kc.MergeDefaultEvictionSettings)
	}
}

func TestKubeletRotatesLogsPastTheLabsSize(t *testing.T) {
	l, c := testConfig(ProxyIPTables)
	kc := decodeKubelet(t, must(KubeletConfig(l, c)))
	if kc.ContainerLogMaxSize != "10Mi" || kc.ContainerLogMonitorInterval.Duration != 10*time.Second {
		t.Errorf("no size given: containerLogMaxSize %s every %s, want the kubelet's defaults 10Mi every 10s", kc.ContainerLogMaxSize, kc.ContainerLogMonitorInterval.Duration)
	}
	c.LogMaxSize = "32Ki"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	kc = decodeKubelet(t, must(KubeletConfig(l, c)))
	if kc.ContainerLogMaxSize != "32Ki" || kc.ContainerLogMonitorInterval.Duration != LogMonitorInterval || kc.ContainerLogMaxFiles < 2 {
		t.Errorf("containerLogMaxSize %s every %s, %d files; want 32Ki every %s", kc.ContainerLogMaxSize, kc.ContainerLogMonitorInterval.Duration, kc.ContainerLogMaxFiles, LogMonitorInterval)
	}
	for _, bad := range []string{"1", "lots", "-4Ki"} {
		c.LogMaxSize = bad
		if err := c.Validate(); err == nil {
			t.Errorf("container log max size %q validated", bad)
		}
	}
}

func must(data []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return data
}

func TestKubeletArgsKeepEveryPathInTheLab(t *testing.T) {
	l, c := testConfig(ProxyIPTables)
	args := KubeletArgs(l, c)
	for _, want := range []string{"--node-ip=10.77.0.1", "--hostname-override=lab-node", "--kubeconfig=/tmp/lab/kubeconfig",
		"--root-dir=/tmp/lab/node/kubelet", "--cert-dir=/tmp/lab/node/kubelet/pki", "--config=/tmp/lab/node/config/kubelet.yaml"} {
		if !slices.Contains(args, want) {
			t.Errorf("kubelet args %q lack %s", args, want)
		}
	}
}

func decodeKubeProxy(t *testing.T, data []byte) *proxyconfig.KubeProxyConfiguration {
	t.Helper()
	codecs := serializer.NewCodecFactory(proxyscheme.Scheme, serializer.EnableStrict)
	obj, _, err := codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("kube-proxy would not load its config: %v\n%s", err, data)
	}
	kc := obj.(*proxyconfig.KubeProxyConfiguration)
	if errs := proxyvalidation.Validate(kc); len(errs) > 0 {
		t.Fatalf("kube-proxy rejects its config: %v", errs.ToAggregate())
	}
	return kc
}

func TestKubeProxyConfigSyncsFastAndLeavesHostConntrackAlone(t *testing.T) {
	for _, mode := range []string{ProxyIPTables, ProxyNFTables} {
		t.Run(mode, func(t *testing.T) {
			l, c := testConfig(mode)
			data, err := KubeProxyConfig(l, c)
			if err != nil {
				t.Fatal(err)
			}
			kc := decodeKubeProxy(t, data)
			if string(kc.Mode) != mode {
				t.Errorf("mode %q, want %q", kc.Mode, mode)
			}
			// 0 would be defaulted to 1s; the mode's own minSyncPeriod is 1ms.
			if kc.MinSyncPeriod.Duration != time.Millisecond {
				t.Errorf("minSyncPeriod %v, want 1ms", kc.MinSyncPeriod.Duration)
			}
			ct := kc.Linux.Conntrack
			if ct.MaxPerCore == nil || *ct.MaxPerCore != 0 || ct.Min == nil || *ct.Min != 0 {
				t.Errorf("conntrack maxPerCore %v min %v: want both 0 (leave the global nf_conntrack_max alone)", ct.MaxPerCore, ct.Min)
			}
			if kc.DetectLocal.ClusterCIDRs[0] != PodCIDR || kc.HostnameOverride != "lab-node" || kc.BindAddress != NodeIP {
				t.Errorf("clusterCIDRs %v hostname %q bind %q", kc.DetectLocal.ClusterCIDRs, kc.HostnameOverride, kc.BindAddress)
			}
			if kc.ClientConnection.Kubeconfig != c.Kubeconfig {
				t.Errorf("kubeconfig %q", kc.ClientConnection.Kubeconfig)
			}
		})
	}
}

// tomlKeys reads the subset of TOML ContainerdConfig writes: [section]
// headers and key = value lines, into "section.key" → raw value.
func tomlKeys(t *testing.T, data []byte) map[string]string {
	t.Helper()
	keys := map[string]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, " = ")
			if !ok {
				t.Fatalf("unexpected line %q", line)
			}
			if section != "" {
				k = section + "." + k
			}
			keys[k] = v
		}
	}
	return keys
}

func TestContainerdConfigKeepsEverythingInTheLab(t *testing.T) {
	l, c := testConfig(ProxyIPTables)
	data, err := ContainerdConfig(l, c)
	if err != nil {
		t.Fatal(err)
	}
	keys := tomlKeys(t, data)
	const cri = `plugins."io.containerd.grpc.v1.cri"`
	want := map[string]string{
		"version":                             "2",
		"root":                                `"/tmp/lab/node/containerd/root"`,
		"state":                               `"/tmp/lab/node/containerd/state"`,
		"grpc.address":                        `"/tmp/lab/node/containerd.sock"`,
		cri + ".sandbox_image":                `"registry.k8s.io/pause:3.10"`,
		cri + ".restrict_oom_score_adj":       "true",
		cri + ".netns_mounts_under_state_dir": "true",
		cri + ".containerd.snapshotter":       `"overlayfs"`,
		cri + ".containerd.runtimes.runc.options.SystemdCgroup": "false",
		cri + ".containerd.runtimes.runc.options.Root":          `"/tmp/lab/node/runc"`,
		cri + ".cni.bin_dir":           `"/usr/lib/cni"`,
		cri + ".cni.conf_dir":          `"/tmp/lab/node/cni/net.d"`,
		cri + ".stream_server_address": `"127.0.0.1"`,
	}
	for k, v := range want {
		if keys[k] != v {
			t.Errorf("%s = %q, want %q", k, keys[k], v)
		}
	}
	if !strings.Contains(keys["disabled_plugins"], `"io.containerd.internal.v1.opt"`) {
		t.Errorf("the opt plugin (it creates /opt/containerd) is not disabled: %s", keys["disabled_plugins"])
	}
}

func TestCNIConfigUsesTheLabsBridgeAndStore(t *testing.T) {
	l := NewLayout("/tmp/lab")
	data, err := CNIConfig(l)
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Name    string `json:"name"`
		Plugins []struct {
			Type   string `json:"type"`
			Bridge string `json:"bridge"`
			IPAM   struct {
				Type    string                `json:"type"`
				Ranges  [][]map[string]string `json:"ranges"`
				DataDir string                `json:"dataDir"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		t.Fatal(err)
	}
	if conf.Name != l.CNINetwork() || len(conf.Plugins) != 2 || conf.Plugins[1].Type != "portmap" {
		t.Fatalf("network %+v", conf)
	}
	br := conf.Plugins[0]
	if br.Type != "bridge" || br.Bridge != CNIBridge || br.IPAM.Type != "host-local" ||
		br.IPAM.Ranges[0][0]["subnet"] != PodCIDR || br.IPAM.DataDir != "/tmp/lab/node/cni/networks" {
		t.Errorf("bridge plugin %+v", br)
	}
}

func TestEgressSelectorSendsClusterTrafficThroughTheRelay(t *testing.T) {
	l := NewLayout("/tmp/lab")
	data, err := EgressSelectorConfig(l)
	if err != nil {
		t.Fatal(err)
	}
	var ec apiserverv1beta1.EgressSelectorConfiguration
	if err := yaml.UnmarshalStrict(data, &ec); err != nil {
		t.Fatal(err)
	}
	if ec.Kind != "EgressSelectorConfiguration" || ec.APIVersion != "apiserver.k8s.io/v1beta1" || len(ec.EgressSelections) != 1 {
		t.Fatalf("%s", data)
	}
	s := ec.EgressSelections[0]
	if s.Name != "cluster" || s.Connection.ProxyProtocol != apiserverv1beta1.ProtocolHTTPConnect ||
		s.Connection.Transport.UDS.UDSName != "/tmp/lab/node/egress.sock" {
		t.Errorf("%s", data)
	}
}

func TestKubeletRunsWithMaskedSysctlsInItsOwnMountNamespace(t *testing.T) {
	l, c := testConfig(ProxyIPTables)
	argv := KubeletCommand(l, c, "/bin/rollcheck-lab", "/bin/kubelet")
	prefix := []string{"unshare", "--mount", "--propagation", "unchanged", "--", "/bin/rollcheck-lab", ExecCommandName}
	if !slices.Equal(argv[:len(prefix)], prefix) {
		t.Fatalf("argv %q: want prefix %q", argv, prefix)
	}
	joined := strings.Join(argv, " ")
	for _, s := range MaskedSysctls {
		if !strings.Contains(joined, "=/proc/sys/"+s.Path+" ") {
			t.Errorf("sysctl %s is not masked: %s", s.Path, joined)
		}
	}
	if !strings.Contains(joined, "-- nsenter --net=/run/netns/"+l.Namespace+" -- /bin/kubelet --config=") {
		t.Errorf("kubelet not run in the namespace: %s", joined)
	}
}

func TestWriteConfigsMasksEachSysctlWithTheKubeletsValue(t *testing.T) {
	l, c := testConfig(ProxyIPTables)
	l.LabDir = t.TempDir()
	for _, d := range []string{l.ConfigDir(), l.CNIConfDir(), l.SysctlDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeConfigs(l, c); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range MaskedSysctls {
		f := sysctlFile(l, s)
		if seen[f] {
			t.Errorf("two sysctls share %s", f)
		}
		seen[f] = true
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(data)); got != strconv.Itoa(s.Value) {
			t.Errorf("%s holds %q, want %d", s.Path, got, s.Value)
		}
	}
	if fi, err := os.Stat(l.ResolvConf()); err != nil || fi.Size() != 0 {
		t.Errorf("resolv.conf: %v, %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(l.CNIConfDir(), CNIConfigFile)); err != nil {
		t.Error(err)
	}
}

// Every node but the first has names, an address and a pod range of its
// own; its kube-proxy knows every node's pods as the cluster's, and its
// kubelet keeps no copy of another node's mounts.
func TestOtherNodesTakeTheirOwnNamesAddressAndPods(t *testing.T) {
	first := NewLayout("/tmp/lab")
	l := NodeLayout("/tmp/lab", 2)
	if l.Namespace != first.Namespace+"-3" || l.Dir() != "/tmp/lab/node-3" || l.NodeIP() != "10.77.0.3" ||
		l.PodCIDR() != "10.246.0.0/16" || l.Link() != "lab0-n3" || l.CgroupRoot() != "/"+first.Namespace+"-3" {
		t.Errorf("node 3: namespace %s dir %s ip %s pods %s link %s cgroup %s", l.Namespace, l.Dir(), l.NodeIP(), l.PodCIDR(), l.Link(), l.CgroupRoot())
	}
	if first.Dir() != "/tmp/lab/node" || first.NodeIP() != NodeIP || first.PodCIDR() != PodCIDR || first.Link() != "" {
		t.Errorf("the first node changed: dir %s ip %s pods %s link %q", first.Dir(), first.NodeIP(), first.PodCIDR(), first.Link())
	}
	_, c := testConfig(ProxyIPTables)
	c.NodeName, c.Nodes, c.Zone, c.ProxyMinSync = "lab-node-3", 3, "lab-c", 2*time.Second
	c.Taint = "lab.rollcheck.dev/spare=true:NoSchedule"
	args := KubeletArgs(l, c)
	for _, want := range []string{"--node-ip=10.77.0.3", "--hostname-override=lab-node-3", "--node-labels=topology.kubernetes.io/zone=lab-c", "--root-dir=/tmp/lab/node-3/kubelet", "--register-with-taints=lab.rollcheck.dev/spare=true:NoSchedule"} {
		if !slices.Contains(args, want) {
			t.Errorf("kubelet args %q lack %s", args, want)
		}
	}
	data, err := KubeletConfig(l, c)
	if err != nil {
		t.Fatal(err)
	}
	kc := decodeKubelet(t, data)
	if kc.Address != "10.77.0.3" {
		t.Errorf("kubelet address %s", kc.Address)
	}
	data, err = KubeProxyConfig(l, c)
	if err != nil {
		t.Fatal(err)
	}
	kp := decodeKubeProxy(t, data)
	if kp.DetectLocal.ClusterCIDRs[0] != ClusterCIDR || kp.BindAddress != "10.77.0.3" || kp.MinSyncPeriod.Duration != 2*time.Second {
		t.Errorf("kube-proxy cluster CIDRs %v bind %s minSyncPeriod %s", kp.DetectLocal.ClusterCIDRs, kp.BindAddress, kp.MinSyncPeriod.Duration)
	}
	cni, err := CNIConfig(l)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cni), `"subnet": "10.246.0.0/16"`) {
		t.Errorf("CNI config without the node's pod range:\n%s", cni)
	}
	argv := strings.Join(KubeletCommand(l, c, "/bin/rollcheck-lab", "/bin/kubelet"), " ")
	for _, want := range []string{"--detach-under /tmp/lab/node-3/containerd", "--detach-under /tmp/lab/node ", "--detach-under /tmp/lab/node-2 ", "--detach-under /tmp/lab/node-4 "} {
		if !strings.Contains(argv, want) {
			t.Errorf("kubelet command lacks %q: %s", want, argv)
		}
	}
	if strings.Contains(argv, "--detach-under /tmp/lab/node-3 ") {
		t.Errorf("the kubelet detaches its own node's mounts: %s", argv)
	}
	c.Nodes = MaxNodes + 1
	if err := c.Validate(); err == nil {
		t.Errorf("%d nodes validated", c.Nodes)
	}
}
