package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// hostDirs are directories outside the lab directory that the node's
// components create whatever their configuration says: the kubelet's
// device-plugin socket directory (a constant in the kubelet), libcni's
// result cache (containerd 1.6 sets no cache directory) and the shims'
// socket directory (a constant in containerd 1.6). Those absent before up
// are recorded and removed by down once empty.
var hostDirs = []string{"/var/lib/kubelet", "/var/lib/cni", "/run/containerd"}

// devicePluginsHostDir is where the kubelet puts its device-plugin socket;
// the lab mounts DevicePluginsDir over it in the kubelet's mount namespace.
const devicePluginsHostDir = "/var/lib/kubelet/device-plugins"

// Record is what down needs to tear the node down, written to RecordFile
// before anything is created.
type Record struct {
	// Namespace is the network namespace's name.
	Namespace string `json:"namespace"`
	// CgroupRoot is the cgroup (under every hierarchy) holding the pods.
	CgroupRoot string `json:"cgroup_root"`
	// AbsentHostDirs were missing before up; down removes them once empty.
	AbsentHostDirs []string `json:"absent_host_dirs,omitempty"`
}

// binaries the real node runs, besides the kubelet and kube-proxy.
var hostBinaries = []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "nsenter", "unshare", "ip"}

// CheckHost fails unless this machine can run the real node: root, the
// Debian packages' binaries, the CNI plugins, and the kubelet and
// kube-proxy in binDir.
func CheckHost(binDir string) error {
	if os.Geteuid() != 0 {
		return errNotRoot
	}
	var missing []string
	for _, b := range hostBinaries {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join(CNIBinDir, p)); err != nil {
			missing = append(missing, filepath.Join(CNIBinDir, p))
		}
	}
	for _, b := range []string{"kubelet", "kube-proxy"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			missing = append(missing, filepath.Join(binDir, b)+" (make lab-node)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the real node needs %v (Debian packages containerd, runc, containernetworking-plugins, iproute2, util-linux)", missing)
	}
	return nil
}

// Prepare readies the host for the node of the lab in l: it tears down
// whatever a crashed earlier run left, then writes the configuration,
// creates the network namespace, the cgroup root and the kubelet's root
// directory (a shared mount, so that the volumes the kubelet mounts in its
// own mount namespace are seen by runc in the host's).
func Prepare(ctx context.Context, l Layout, c Config) error {
	if err := l.Validate(); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if err := Teardown(ctx, l); err != nil {
		return fmt.Errorf("clean up the previous node: %w", err)
	}
	if err := os.RemoveAll(l.Dir()); err != nil {
		return err
	}
	rec := Record{Namespace: l.Namespace, CgroupRoot: l.CgroupRoot()}
	for _, d := range hostDirs {
		if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
			rec.AbsentHostDirs = append(rec.AbsentHostDirs, d)
		}
	}
	for _, d := range []string{l.Dir(), l.ConfigDir(), l.CNIConfDir(), l.CNIDataDir(), l.KubeletRoot(),
		l.PodLogsDir(), l.DevicePluginsDir(), l.VolumePluginDir(), l.SysctlDir(), l.ImagesDir(), l.RuncRoot()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := writeRecord(l, rec); err != nil {
		return err
	}
	if err := writeConfigs(l, c); err != nil {
		return err
	}
	if err := createNamespace(ctx, l); err != nil {
		return err
	}
	if err := createCgroupRoot(l.CgroupRoot()); err != nil {
		return err
	}
	if err := os.MkdirAll(devicePluginsHostDir, 0o755); err != nil {
		return err
	}
	// The kubelet makes its root directory a shared mount itself, but in
	// its own mount namespace that would not reach the host's.
	if err := unix.Mount(l.KubeletRoot(), l.KubeletRoot(), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount %s: %w", l.KubeletRoot(), err)
	}
	if err := unix.Mount("", l.KubeletRoot(), "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", l.KubeletRoot(), err)
	}
	return nil
}

func writeConfigs(l Layout, c Config) error {
	files := map[string]func() ([]byte, error){
		l.ContainerdConfig():                         func() ([]byte, error) { return ContainerdConfig(l, c) },
		filepath.Join(l.CNIConfDir(), CNIConfigFile): func() ([]byte, error) { return CNIConfig(l) },
		l.KubeletConfig():                            func() ([]byte, error) { return KubeletConfig(l, c) },
		l.KubeProxyConfig():                          func() ([]byte, error) { return KubeProxyConfig(l, c) },
		l.EgressConfig():                             func() ([]byte, error) { return EgressSelectorConfig(l) },
		// No DNS server: pods resolve nothing (and ask no one off the machine).
		l.ResolvConf(): func() ([]byte, error) { return nil, nil },
	}
	for _, s := range MaskedSysctls {
		v := strconv.Itoa(s.Value) + "\n"
		files[sysctlFile(l, s)] = func() ([]byte, error) { return []byte(v), nil }
	}
	for path, render := range files {
		data, err := render()
		if err != nil {
			return fmt.Errorf("render %s: %w", path, err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func sysctlFile(l Layout, s MaskedSysctl) string {
	return filepath.Join(l.SysctlDir(), filepath.Base(filepath.Dir(s.Path))+"."+filepath.Base(s.Path))
}

func writeRecord(l Layout, r Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(l.RecordFile(), append(data, '\n'), 0o644)
}

// readRecord reads RecordFile; without one, it returns what the layout
// implies (the namespace and cgroup names derive from the lab directory).
func readRecord(l Layout) Record {
	r := Record{Namespace: l.Namespace, CgroupRoot: l.CgroupRoot()}
	if data, err := os.ReadFile(l.RecordFile()); err == nil {
		_ = json.Unmarshal(data, &r)
	}
	return r
}
