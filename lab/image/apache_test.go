package image

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// realApacheRoot is an extracted Debian apache2-bin package, the one make
// lab-node fetches into bin/apache-root (or ROLLCHECK_LAB_REAL_NODE_BIN's);
// the test is skipped without one.
func realApacheRoot(t *testing.T) string {
	t.Helper()
	var roots []string
	if bin := os.Getenv("ROLLCHECK_LAB_REAL_NODE_BIN"); bin != "" {
		roots = append(roots, filepath.Join(bin, ApacheRoot))
	}
	roots = append(roots, filepath.Join("..", "..", "bin", ApacheRoot))
	for _, r := range roots {
		if isELF(filepath.Join(r, filepath.FromSlash(apacheBinary))) {
			abs, err := filepath.Abs(r)
			if err != nil {
				t.Fatal(err)
			}
			return abs
		}
	}
	t.Skipf("no extracted apache2-bin package in %s (make lab-node fetches it)", strings.Join(roots, " or "))
	return ""
}

func TestApacheImage(t *testing.T) {
	bin, bb := binDir(t)
	spec, err := apacheSpec(filepath.Join(bin, ApacheRoot), hostLibDirs(), busyboxFiles(bb))
	if err != nil {
		t.Fatal(err)
	}
	img, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	// SIGTERM stops Apache at once, as in Debian's package: no stop
	// signal turns it into a graceful one.
	if cfg.Config.StopSignal != "" {
		t.Errorf("stop signal %q, want none", cfg.Config.StopSignal)
	}
	hdrs, content := layerFiles(t, img)
	for _, m := range apacheModules {
		if p := strings.TrimPrefix(path.Join(apacheModuleDir, m.file), "/"); content[p] != "module" {
			t.Errorf("no module /%s in the image", p)
		}
	}
	conf := content[strings.TrimPrefix(ApacheConf, "/")]
	for _, want := range []string{"Listen 8080", "PidFile /run/apache2/apache2.pid", "User nobody", "ErrorLog /dev/stderr",
		`Header always set X-Pod-Name "${POD_NAME}"`, "SetEnv rate-limit 6", "LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so"} {
		if !strings.Contains(conf, want) {
			t.Errorf("httpd.conf lacks %q:\n%s", want, conf)
		}
	}
	if h := hdrs["usr/sbin/apachectl"]; h == nil || h.Mode != 0o755 || !strings.Contains(content["usr/sbin/apachectl"], `exec /usr/sbin/apache2 "$@"`) {
		t.Errorf("/usr/sbin/apachectl: %+v %q", h, content["usr/sbin/apachectl"])
	}
	if content["srv/healthz"] != "ok\n" || content["srv/slow/page"] != string(slowPage()) || hdrs["run/apache2/"] == nil {
		t.Errorf("pages or run directory missing: healthz %q, slow page %d bytes", content["srv/healthz"], len(content["srv/slow/page"]))
	}
}

// TestApacheImageHasEveryLibraryItNeeds checks the image of the real
// apache2-bin package: the binary and every module find their libraries.
func TestApacheImageHasEveryLibraryItNeeds(t *testing.T) {
	root := realApacheRoot(t)
	spec, err := apacheSpec(root, hostLibDirs(), busyboxFiles(labBusybox(t)))
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, spec.Files, hostLibDirs())
	for _, lib := range []string{"libc.so.6", "libapr-1.so.0", "libaprutil-1.so.0", "libpcre2-8.so.0", "libgcc_s.so.1"} {
		if !slices.ContainsFunc(spec.Files, func(f File) bool { return path.Base(f.Path) == lib }) {
			t.Errorf("no %s in the image", lib)
		}
	}
}

// TestApacheConfigIsValidInAChroot unpacks the real Apache image's layer
// and runs `apache2 -t` there, chrooted: the binary starts with only the
// image's libraries and accepts the config, modules, users and directories.
func TestApacheConfigIsValidInAChroot(t *testing.T) {
	root := realApacheRoot(t)
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	chroot, err := exec.LookPath("chroot")
	if err != nil {
		t.Skip("no chroot")
	}
	spec, err := apacheSpec(root, hostLibDirs(), busyboxFiles(labBusybox(t)))
	if err != nil {
		t.Fatal(err)
	}
	img, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	unpack(t, img, dir)
	// The runtime gives a container its /dev, where the error log goes.
	if err := os.Mkdir(filepath.Join(dir, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Its config where the binary looks by default, through the image's
	// apachectl.
	cmd := exec.Command(chroot, dir, "/usr/sbin/apachectl", "-t")
	cmd.Env = []string{"POD_NAME=pod-a", "PATH=/usr/sbin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Syntax OK") {
		t.Fatalf("chroot %s apache2 -t: %v\n%s", dir, err, out)
	}
	t.Logf("chroot apache2 -t:\n%s", out)
}
