package image

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// containerd is a private containerd for one test: its own config, root and
// state directories and a socket under a short /tmp path.
type containerd struct {
	socket string
	root   string
	log    string
}

// startContainerd starts a private containerd (without its CRI plugin) and
// waits until it serves, or skips the test unless run as root with
// containerd and ctr on PATH. It is stopped by PID and its directories
// removed (unmounting what it left under its root) when the test ends.
func startContainerd(t *testing.T) *containerd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containerd")
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("containerd is not on PATH")
	}
	if _, err := exec.LookPath("ctr"); err != nil {
		t.Skip("ctr is not on PATH")
	}
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("/tmp", "rc-ctd-") // unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	c := &containerd{
		socket: filepath.Join(sockDir, "c.sock"),
		root:   filepath.Join(dir, "root"),
		log:    filepath.Join(dir, "containerd.log"),
	}
	state := filepath.Join(dir, "state")
	// The opt plugin would install into /opt/containerd otherwise.
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, c.root, state, c.socket, filepath.Join(dir, "opt"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	// Runs before t.TempDir's removal (cleanups run last first).
	t.Cleanup(func() {
		if err := stopProcess(cmd.Process, exited, 10*time.Second); err != nil {
			t.Errorf("stopping containerd (pid %d): %v", cmd.Process.Pid, err)
		}
		if err := unmountUnder(c.root); err != nil {
			t.Errorf("unmounting under %s: %v", c.root, err)
		}
		os.RemoveAll(sockDir)
	})

	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command("ctr", "--address", c.socket, "version").CombinedOutput()
		if err == nil {
			return c
		}
		select {
		case err := <-exited:
			t.Fatalf("containerd exited (%v); log:\n%s", err, c.logText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not serve within 20s: %s; log:\n%s", out, c.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *containerd) logText() string {
	b, _ := os.ReadFile(c.log)
	return string(b)
}

// images lists the image names in namespace k8s.io, each with its target
// digest.
func (c *containerd) images(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command("ctr", "--address", c.socket, "--namespace", Namespace, "images", "ls").CombinedOutput()
	if err != nil {
		t.Fatalf("ctr images ls: %v: %s", err, out)
	}
	imgs := map[string]string{}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, l := range lines[1:] { // REF TYPE DIGEST SIZE PLATFORMS LABELS
		f := strings.Fields(l)
		if len(f) >= 3 {
			imgs[f[0]] = f[2]
		}
	}
	return imgs
}

// stopProcess sends SIGTERM to p, then SIGKILL if it has not exited within
// grace; exited yields Wait's result.
func stopProcess(p *os.Process, exited <-chan error, grace time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-time.After(grace):
	}
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
		return fmt.Errorf("did not exit within %s of SIGTERM; killed", grace)
	case <-time.After(grace):
		return errors.New("did not exit after SIGKILL")
	}
}

// unmountUnder unmounts every mount point at or below dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := fields[4] // test directories have no characters mountinfo escapes
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func TestImportIntoARealContainerd(t *testing.T) {
	c := startContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	spec := testSpec(t)
	built, err := writeSpecs([]Spec{spec}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := Import(ctx, "ctr", c.socket, built[0].Path); err != nil {
		t.Fatalf("%v; containerd log:\n%s", err, c.logText())
	}
	imgs := c.images(t)
	const want = "docker.io/rollcheck/demo-app:v1"
	if _, ok := imgs[want]; !ok {
		t.Fatalf("ctr images ls has no %s: %v", want, imgs)
	}
	// containerd writes a manifest of its own for a docker archive, so its
	// digest differs from the archive's; the config (the image ID) is the same.
	manifest, err := exec.Command("ctr", "--address", c.socket, "--namespace", Namespace, "content", "get", imgs[want]).Output()
	if err != nil {
		t.Fatalf("ctr content get %s: %v", imgs[want], err)
	}
	var m struct{ Config struct{ Digest string } }
	if err := json.Unmarshal(manifest, &m); err != nil {
		t.Fatalf("manifest of %s: %v", want, err)
	}
	if m.Config.Digest != built[0].ID.String() {
		t.Fatalf("containerd's image config %s, want the ID WriteLab reported, %s", m.Config.Digest, built[0].ID)
	}

	// A user's OCI layout directory and a gzip-compressed archive go through
	// Load the same way.
	var out strings.Builder
	im := Importer{Ctr: "ctr", Socket: c.socket, BaseName: "docker.io/team/api", Out: &out}
	if _, err := im.Load(ctx, []string{ociLayout(t, "v3")}); err != nil {
		t.Fatalf("%v; containerd log:\n%s", err, c.logText())
	}
	gz := gzipOf(t, built[0].Path)
	if _, err := (Importer{Ctr: "ctr", Socket: c.socket}).Load(ctx, []string{gz}); err != nil {
		t.Fatalf("%v; containerd log:\n%s", err, c.logText())
	}
	imgs = c.images(t)
	if _, ok := imgs["docker.io/team/api:v3"]; !ok {
		t.Fatalf("ctr images ls has no docker.io/team/api:v3 after loading the OCI layout: %v (ctr said %q)", imgs, out.String())
	}
}
