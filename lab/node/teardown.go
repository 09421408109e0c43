package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Teardown removes everything the node of the lab in l left on the host,
// whether its up stopped cleanly or crashed half-way: processes still in
// the namespace or the pods' cgroups (SIGKILL), mounts under LabDir/node,
// the cgroups, the network namespace, libcni's cache entries, and the host
// directories the components created. It needs no component running and
// does nothing if there is nothing to remove.
func Teardown(ctx context.Context, l Layout) error {
	rec := readRecord(l)
	rl := l
	rl.Namespace = rec.Namespace
	var errs []error

	// Processes: the node's components and shims (in the namespace) and the
	// containers (in the pods' cgroups, in namespaces of their own).
	left := killUntilGone(10*time.Second, func() []int {
		dirs, _ := cgroupDirs(rec.CgroupRoot)
		return append(netnsProcs(rl.NetnsPath()), cgroupProcs(dirs)...)
	})
	if len(left) > 0 {
		errs = append(errs, fmt.Errorf("processes %v of the node would not die", left))
	}
	// What killed shims leave outside the lab directory (a clean stop
	// removes both): their sockets, and libcni's cached results.
	removeRuntimeLeftovers(l)
	// Mounts: the kubelet's root and its volumes, containerd's rootfs and
	// shm mounts, the pods' network namespaces.
	if err := unmountUnder(l.Dir()); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroups(rec.CgroupRoot); err != nil {
		errs = append(errs, err)
	}
	if err := deleteNamespace(ctx, rl); err != nil {
		errs = append(errs, err)
	}
	if len(otherLabNamespaces(rl)) == 0 {
		for _, d := range rec.AbsentHostDirs {
			removeEmptyDirs(d)
		}
	}
	if len(errs) == 0 {
		// Runtime state goes; configuration and logs stay for a look.
		for _, d := range []string{filepath.Dir(l.ContainerdRoot()), l.RuncRoot(), l.KubeletRoot(), l.CNIDataDir(), l.ImagesDir()} {
			if err := os.RemoveAll(d); err != nil {
				errs = append(errs, err)
			}
		}
		for _, f := range []string{l.ContainerdSocket(), l.ContainerdSocket() + ".ttrpc", l.EgressSocket(), l.RecordFile()} {
			_ = os.Remove(f)
		}
	}
	return errors.Join(errs...)
}

// Leftover reports whether the lab in l has a node to tear down: its record
// or its namespace exists.
func Leftover(l Layout) bool {
	_, err := os.Stat(l.RecordFile())
	return err == nil || namespaceExists(l)
}

// cniResultsDir is libcni's cache of attachment results (containerd 1.6
// does not move it), NETWORK-CONTAINERID-IFNAME for each pod network and
// for containerd's own loopback network.
const cniResultsDir = "/var/lib/cni/results"

// removeRuntimeLeftovers removes, for each pod sandbox containerd's state
// directory still knows, the shim's socket (its bundle's address file names
// it; containerd 1.6 keeps them in /run/containerd/s) and libcni's cached
// results.
func removeRuntimeLeftovers(l Layout) {
	bundles, _ := filepath.Glob(filepath.Join(l.ContainerdState(), "io.containerd.runtime.v2.task", "*", "*"))
	sandboxes, _ := filepath.Glob(filepath.Join(l.ContainerdState(), "io.containerd.grpc.v1.cri", "sandboxes", "*"))
	for _, b := range bundles {
		if addr, err := os.ReadFile(filepath.Join(b, "address")); err == nil {
			sock := strings.TrimPrefix(strings.TrimSpace(string(addr)), "unix://")
			if strings.HasPrefix(sock, "/run/containerd/s/") {
				_ = os.Remove(sock)
			}
		}
	}
	for _, d := range append(bundles, sandboxes...) {
		cached, _ := filepath.Glob(filepath.Join(cniResultsDir, "*-"+filepath.Base(d)+"-*"))
		for _, f := range cached {
			_ = os.Remove(f)
		}
	}
}
