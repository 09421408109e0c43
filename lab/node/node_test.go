package node

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestNamespaceNameIsStablePerDirectoryAndDistinctAcrossThem(t *testing.T) {
	a, b := NamespaceName("/tmp/lab-a"), NamespaceName("/tmp/lab-b")
	if !regexp.MustCompile(`^rclab-[0-9a-f]{8}$`).MatchString(a) {
		t.Fatalf("name %q", a)
	}
	if a == b {
		t.Errorf("two directories share namespace %s", a)
	}
	if NamespaceName("/tmp/lab-a/") != a || NamespaceName("/tmp/lab-a") != a {
		t.Errorf("the same directory gives different names")
	}
	// The namespace name must fit an interface-name-sized budget (IFNAMSIZ 16).
	if len(a) > 15 {
		t.Errorf("name %q is longer than 15 bytes", a)
	}
}

func TestLayoutKeepsTheNodeUnderTheLabDirectory(t *testing.T) {
	l := NewLayout("/tmp/lab")
	for _, p := range []string{l.ContainerdSocket(), l.EgressSocket(), l.ContainerdRoot(), l.ContainerdState(),
		l.RuncRoot(), l.KubeletRoot(), l.PodLogsDir(), l.CNIDataDir(), l.CNIConfDir(), l.ImagesDir(), l.RecordFile()} {
		if !strings.HasPrefix(p, "/tmp/lab/node/") {
			t.Errorf("%s is outside /tmp/lab/node", p)
		}
	}
	if l.ContainerdSocket() != "/tmp/lab/node/containerd.sock" {
		t.Errorf("containerd socket %s: the contract with lab/image is LABDIR/node/containerd.sock", l.ContainerdSocket())
	}
	if l.NetnsPath() != "/run/netns/"+l.Namespace || l.CgroupRoot() != "/"+l.Namespace {
		t.Errorf("netns %s cgroup %s", l.NetnsPath(), l.CgroupRoot())
	}
}

func TestValidateRefusesALabDirectoryTooLongForItsSockets(t *testing.T) {
	if err := NewLayout("/tmp/lab").Validate(); err != nil {
		t.Errorf("short directory: %v", err)
	}
	long := "/tmp/" + strings.Repeat("d", 80)
	err := NewLayout(long).Validate()
	if err == nil || !strings.Contains(err.Error(), "too long") || !strings.Contains(err.Error(), "--dir") {
		t.Errorf("long directory: %v", err)
	}
}

func TestConfigValidateNamesTheBadProxyMode(t *testing.T) {
	_, c := testConfig("ipvs")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `"ipvs"`) {
		t.Errorf("ipvs: %v", err)
	}
	for _, m := range []string{ProxyIPTables, ProxyNFTables} {
		if _, c := testConfig(m); c.Validate() != nil {
			t.Errorf("%s refused", m)
		}
	}
}

func TestTeardownOfALabWithoutANodeDoesNothing(t *testing.T) {
	l := NewLayout(t.TempDir())
	if Leftover(l) {
		t.Fatal("a fresh lab directory has a node to tear down")
	}
	if err := Teardown(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("teardown created %s: %v", l.Dir(), err)
	}
}
