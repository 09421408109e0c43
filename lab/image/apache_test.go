package image

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// realApacheRoot is an extracted Debian apache2-bin package, the one make
// lab-node fetches into bin/apache-root (or ROLLCHECK_LAB_REAL_NODE_BIN's),
// or the test is skipped.
func realApacheRoot(t *testing.T) string {
	t.Helper()
	return realPackageRoot(t, ApacheRoot, apacheBinary, "apache2-bin")
}

func TestApacheImage(t *testing.T) {
	bin, bb := binDir(t)
	spec, err := apacheSpec(filepath.Join(bin, ApacheRoot), hostLibDirs(), busyboxFiles(bb))
	if err != nil {
		t.Fatal(err)
	}
	// SIGTERM stops Apache at once, as in Debian's package.
	hdrs, content := serverImage(t, spec)
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
	// libgcc_s: glibc loads it when a thread exits; no DT_NEEDED names it.
	hasLibraries(t, spec.Files, "libc.so.6", "libapr-1.so.0", "libaprutil-1.so.0", "libpcre2-8.so.0", "libgcc_s.so.1")
}

// TestApacheConfigIsValidInAChroot unpacks the real Apache image's layer
// and runs `apache2 -t` there, chrooted: the binary starts with only the
// image's libraries and accepts the config, modules, users and directories.
func TestApacheConfigIsValidInAChroot(t *testing.T) {
	root := realApacheRoot(t)
	spec, err := apacheSpec(root, hostLibDirs(), busyboxFiles(labBusybox(t)))
	if err != nil {
		t.Fatal(err)
	}
	chroot, dir := chrootOf(t, spec)
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
