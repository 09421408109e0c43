package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	// libcni caches each attachment's result as NETWORK-CONTAINERID-IFNAME.
	if rec.CNINetwork != "" {
		cached, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", rec.CNINetwork+"-*"))
		for _, f := range cached {
			_ = os.Remove(f)
		}
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
