package node

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// nsenter prefixes argv so that it runs in the lab's network namespace.
// `ip netns exec` would also remount /sys, hiding the cgroup mounts runc
// needs; nsenter --net changes nothing but the network namespace.
func nsenter(l Layout, argv ...string) []string {
	return append([]string{"nsenter", "--net=" + l.NetnsPath(), "--"}, argv...)
}

// InNamespace is argv run in the lab's network namespace (and nothing
// else changed), as the node's own components are.
func InNamespace(l Layout, argv ...string) []string { return nsenter(l, argv...) }

// ContainerdCommand is the argv that runs the node's containerd.
func ContainerdCommand(l Layout) []string {
	return nsenter(l, "containerd", "--config", l.ContainerdConfig())
}

// KubeletCommand is the argv that runs the kubelet (binary kubelet) in the
// namespace and in a mount namespace of its own, made by unshare with the
// host's propagation kept (so that its volume mounts under the shared
// kubelet root reach the host), in which exe's node-exec first masks
// MaskedSysctls and gives it its own device-plugin directory.
func KubeletCommand(l Layout, c Config, exe, kubelet string) []string {
	argv := []string{"unshare", "--mount", "--propagation", "unchanged", "--", exe, ExecCommandName}
	for _, s := range MaskedSysctls {
		argv = append(argv, "--bind", sysctlFile(l, s)+"="+filepath.Join("/proc/sys", s.Path))
	}
	argv = append(argv, "--bind", l.DevicePluginsDir()+"="+devicePluginsHostDir)
	// A kubelet started while pods run would otherwise hold copies of
	// their rootfs and network-namespace mounts for its whole life.
	argv = append(argv, "--detach-under", filepath.Dir(l.ContainerdRoot()))
	// Nor of the other nodes' (started before it, or after it and seen
	// through the shared kubelet roots).
	for i := range MaxNodes {
		if i != l.Index {
			argv = append(argv, "--detach-under", NodeLayout(l.LabDir, i).Dir())
		}
	}
	argv = append(argv, "--")
	return append(argv, nsenter(l, append([]string{kubelet}, KubeletArgs(l, c)...)...)...)
}

// KubeProxyCommand is the argv that runs kube-proxy (binary kubeProxy).
func KubeProxyCommand(l Layout, kubeProxy string) []string {
	return nsenter(l, append([]string{kubeProxy}, KubeProxyArgs(l)...)...)
}

// ExecCommandName is the subcommand NewExecCommand returns.
const ExecCommandName = "node-exec"

// NewExecCommand returns node-exec, which bind-mounts files over others in
// its own mount namespace and then executes a command.
func NewExecCommand() *cobra.Command {
	var binds, detach []string
	cmd := &cobra.Command{
		Use:    ExecCommandName + " [--bind SRC=DST]... [--detach-under DIR]... -- COMMAND [ARGS]",
		Short:  "Mount SRC over DST and detach the mounts under DIR in this process's own mount namespace, then exec COMMAND (run under unshare --mount)",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return execWithBinds(binds, detach, args)
		},
	}
	cmd.Flags().StringArrayVar(&binds, "bind", nil, "SRC=DST: bind-mount SRC over DST; repeatable")
	cmd.Flags().StringArrayVar(&detach, "detach-under", nil, "DIR: detach every mount at or under DIR (made private first, so the host keeps them); repeatable")
	return cmd
}

func execWithBinds(binds, detach []string, argv []string) error {
	// The mounts below must never land in the host's mount namespace.
	own, err1 := os.Readlink("/proc/self/ns/mnt")
	parent, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid()))
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if len(binds)+len(detach) > 0 && own == parent {
		return errors.New(ExecCommandName + " must run in a mount namespace of its own (under unshare --mount)")
	}
	for _, b := range binds {
		src, dst, ok := strings.Cut(b, "=")
		if !ok || !filepath.IsAbs(src) || !filepath.IsAbs(dst) {
			return fmt.Errorf("--bind %q: want SRC=DST, absolute paths", b)
		}
		ms, err := readMounts()
		if err != nil {
			return err
		}
		// A bind under a shared mount would propagate to its peers (the
		// host's copy): make the mount holding DST private, here only.
		if err := unix.Mount("", mountContaining(ms, dst), "", unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make the mount holding %s private: %w", dst, err)
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mount %s over %s: %w", src, dst, err)
		}
	}
	for _, dir := range detach {
		ms, err := readMounts()
		if err != nil {
			return err
		}
		for _, p := range mountsUnder(ms, filepath.Clean(dir)) {
			// Private first: unmounting a copy that is a peer of the
			// host's mount would unmount the host's too.
			if err := unix.Mount("", p, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("make %s private: %w", p, err)
			}
			_ = unix.Unmount(p, unix.MNT_DETACH)
		}
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	// The parent-death signal up set belongs to this process's first
	// thread; an exec from another thread would drop it (and the kubelet
	// would outlive a killed up). Set it again on the thread that execs.
	runtime.LockOSThread()
	ppid := os.Getppid()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return err
	}
	if os.Getppid() != ppid || ppid == 1 {
		return errors.New("the parent is gone")
	}
	return syscall.Exec(path, argv, os.Environ())
}
