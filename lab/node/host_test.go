package node

import (
	"bufio"
	"slices"
	"strings"
	"testing"
)

const sampleMountInfo = `26 1 254:0 / / rw,relatime - ext4 /dev/vda rw
33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
41 26 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw
43 26 254:0 /tmp/my\040lab/node/kubelet /tmp/my\040lab/node/kubelet rw shared:3 - ext4 /dev/vda rw
50 43 0:50 / /tmp/my\040lab/node/kubelet/pods/x/volumes/token rw - tmpfs tmpfs rw
51 26 0:51 / /tmp/my\040lab/node/containerd/state/rootfs rw - overlay overlay rw
52 26 0:52 / /tmp/my\040lab/node-other rw - tmpfs tmpfs rw
`

func TestParseMountInfo(t *testing.T) {
	ms, err := parseMountInfo(bufio.NewScanner(strings.NewReader(sampleMountInfo)))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 8 {
		t.Fatalf("%d mounts", len(ms))
	}
	if ms[4].Point != "/tmp/my lab/node/kubelet" || !ms[4].Shared || ms[0].Shared {
		t.Errorf("mount %+v", ms[4])
	}
	if ms[1].FSType != "cgroup" || ms[1].Super != "rw,cpuset" {
		t.Errorf("cgroup mount %+v", ms[1])
	}
	if got := cgroupMounts(ms); !slices.Equal(got, []string{"/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/unified"}) {
		t.Errorf("cgroup mounts %q", got)
	}
}

func TestMountsUnderTheNodeComeDeepestFirstAndSparesNeighbours(t *testing.T) {
	ms, _ := parseMountInfo(bufio.NewScanner(strings.NewReader(sampleMountInfo)))
	got := mountsUnder(ms, "/tmp/my lab/node")
	want := []string{"/tmp/my lab/node/kubelet/pods/x/volumes/token", "/tmp/my lab/node/containerd/state/rootfs", "/tmp/my lab/node/kubelet"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if m := mountContaining(ms, "/var/lib/kubelet/device-plugins"); m != "/" {
		t.Errorf("mount holding /var/lib/kubelet: %s", m)
	}
	if m := mountContaining(ms, "/tmp/my lab/node/kubelet/pods"); m != "/tmp/my lab/node/kubelet" {
		t.Errorf("mount holding the kubelet's pods: %s", m)
	}
}
