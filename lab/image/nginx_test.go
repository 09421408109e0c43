package image

import (
	"archive/tar"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// dynamicHostBinary is a dynamically linked executable of this host, or the
// test is skipped.
func dynamicHostBinary(t *testing.T) string {
	t.Helper()
	const p = "/bin/ls" // dynamically linked on Debian
	interp, _, err := elfDeps(p)
	if err != nil {
		t.Skipf("no ELF %s: %v", p, err)
	}
	if interp == "" {
		t.Skipf("%s is statically linked here", p)
	}
	return p
}

// realNginxRoot is an extracted Debian nginx package, the one make lab-node
// fetches into bin/nginx-root (or ROLLCHECK_LAB_REAL_NODE_BIN's), or the
// test is skipped.
func realNginxRoot(t *testing.T) string {
	t.Helper()
	return realPackageRoot(t, NginxRoot, nginxBinary, "nginx")
}

// realPackageRoot is a package extracted into BIN/dir, whose binary (its
// path in the package) is an ELF file, or the test is skipped.
func realPackageRoot(t *testing.T, dir, binary, pkg string) string {
	t.Helper()
	var roots []string
	if bin := os.Getenv("ROLLCHECK_LAB_REAL_NODE_BIN"); bin != "" {
		roots = append(roots, filepath.Join(bin, dir))
	}
	roots = append(roots, filepath.Join("..", "..", "bin", dir))
	for _, r := range roots {
		if isELF(filepath.Join(r, filepath.FromSlash(binary))) {
			abs, err := filepath.Abs(r)
			if err != nil {
				t.Fatal(err)
			}
			return abs
		}
	}
	t.Skipf("no extracted %s package in %s (make lab-node fetches it)", pkg, strings.Join(roots, " or "))
	return ""
}

// labBusybox is the host's static busybox when it has one (so that a chroot
// of the image has a working sh), else a stand-in.
func labBusybox(t *testing.T) string {
	if checkStatic(Busybox) == nil && isELF(Busybox) {
		return Busybox
	}
	return writeFile(t, t.TempDir(), "busybox", "bb", 0o755)
}

// checkComplete fails the test unless, for every ELF file of files, its
// interpreter and every library its DT_NEEDED entries name are in files,
// the libraries in one of dirs.
func checkComplete(t *testing.T, files []File, dirs []string) {
	t.Helper()
	paths := map[string]bool{}
	for _, f := range files {
		paths[f.Path] = true
	}
	elves := 0
	for _, f := range files {
		if f.Source == "" || !isELF(f.Source) {
			continue
		}
		elves++
		interp, needed, err := elfDeps(f.Source)
		if err != nil {
			t.Fatal(err)
		}
		if interp != "" && !paths[interp] {
			t.Errorf("%s (%s): its interpreter %s is not in the image", f.Path, f.Source, interp)
		}
		for _, n := range needed {
			if !slices.ContainsFunc(dirs, func(d string) bool { return paths[path.Join(d, n)] }) {
				t.Errorf("%s (%s) needs %s, in none of %v in the image", f.Path, f.Source, n, dirs)
			}
		}
	}
	if elves == 0 {
		t.Fatal("no ELF file among the image's files")
	}
}

func TestSharedLibrariesOfAHostBinary(t *testing.T) {
	exe := dynamicHostBinary(t)
	dirs := hostLibDirs()
	libs, err := sharedLibraries(exe, dirs)
	if err != nil {
		t.Fatal(err)
	}
	interp, _, _ := elfDeps(exe)
	byPath := map[string]File{}
	for _, f := range libs {
		if _, dup := byPath[f.Path]; dup {
			t.Errorf("%s listed twice", f.Path)
		}
		byPath[f.Path] = f
		// The image gets the content, not the host's symbolic link.
		st, err := os.Lstat(f.Source)
		if err != nil || !st.Mode().IsRegular() {
			t.Errorf("%s: source %s is not a regular file (%v)", f.Path, f.Source, err)
		}
		if f.Path != interp && !slices.Contains(dirs, path.Dir(f.Path)) {
			t.Errorf("%s is in none of %v", f.Path, dirs)
		}
	}
	if _, ok := byPath[interp]; !ok {
		t.Errorf("the interpreter %s is missing from %v", interp, libs)
	}
	if !slices.ContainsFunc(libs, func(f File) bool { return path.Base(f.Path) == "libc.so.6" }) {
		t.Errorf("no libc.so.6 in %v", libs)
	}
	checkComplete(t, append([]File{{Path: "/bin/ls", Source: exe}}, libs...), dirs)
}

func TestSharedLibrariesSkipsAFileThatIsNoLibraryForTheBinary(t *testing.T) {
	exe := dynamicHostBinary(t)
	fake := t.TempDir()
	writeFile(t, fake, "libc.so.6", "not ELF", 0o644)
	libs, err := sharedLibraries(exe, append([]string{fake}, hostLibDirs()...))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range libs {
		if strings.HasPrefix(f.Path, fake) {
			t.Errorf("took %s, which is no ELF library", f.Path)
		}
	}
}

func TestSharedLibrariesNamesAMissingLibrary(t *testing.T) {
	exe := dynamicHostBinary(t)
	_, err := sharedLibraries(exe, []string{t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), exe+" needs lib") || !strings.Contains(err.Error(), "install the Debian package") {
		t.Fatalf("sharedLibraries() = %v, want an error naming what %s needs and what to install", err, exe)
	}
}

func TestSharedLibrariesOfAStaticBinaryIsNothing(t *testing.T) {
	if !isELF(Busybox) || checkStatic(Busybox) != nil {
		t.Skipf("no static ELF %s", Busybox)
	}
	libs, err := sharedLibraries(Busybox, hostLibDirs())
	if err != nil || len(libs) != 0 {
		t.Fatalf("sharedLibraries(%s) = %v, %v; want nothing", Busybox, libs, err)
	}
}

func TestNginxImage(t *testing.T) {
	bin, bb := binDir(t)
	spec, err := nginxSpec(filepath.Join(bin, NginxRoot), hostLibDirs(), busyboxFiles(bb))
	if err != nil {
		t.Fatal(err)
	}
	// SIGTERM is nginx's fast shutdown, as in Debian's package.
	hdrs, content := serverImage(t, spec)
	if hdrs["usr/sbin/nginx"] == nil || hdrs["usr/sbin/nginx"].Mode != 0o755 || content["usr/sbin/nginx"] != "#!/bin/sh\n" {
		t.Errorf("/usr/sbin/nginx: %+v %q", hdrs["usr/sbin/nginx"], content["usr/sbin/nginx"])
	}
	conf := content["etc/nginx/nginx.conf"]
	for _, want := range []string{"user nobody nogroup;", "pid /run/nginx.pid;", "error_log stderr notice;", "listen 8080;",
		"add_header X-Pod-Name $hostname always;", `return 200 "$hostname\n";`, `return 200 "ok\n";`, "root /srv;", "limit_rate 6k;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, conf)
		}
	}
	if !strings.Contains(content["etc/passwd"], "\nnobody:x:65534:65534:") || !strings.HasPrefix(content["etc/passwd"], "root:x:0:0:") {
		t.Errorf("/etc/passwd:\n%s", content["etc/passwd"])
	}
	if !strings.Contains(content["etc/group"], "\nnogroup:x:65534:") || !strings.HasPrefix(content["etc/group"], "root:x:0:") {
		t.Errorf("/etc/group:\n%s", content["etc/group"])
	}
	page := content["srv/slow/page"]
	if len(page) != 12288 || page != string(slowPage()) || strings.ContainsFunc(page, func(r rune) bool { return r != '\n' && (r < ' ' || r > '~') }) {
		t.Errorf("/srv/slow/page: %d bytes, want 12288 of the same plain text every build", len(page))
	}
	for _, d := range []string{"var/lib/nginx/", "var/log/nginx/", "run/", "srv/slow/", "tmp/"} {
		if h := hdrs[d]; h == nil || h.Typeflag != tar.TypeDir {
			t.Errorf("no directory /%s", d)
		}
	}
	for _, l := range []string{"bin/sh", "bin/sleep", "bin/cat"} {
		if h := hdrs[l]; h == nil || h.Linkname != "busybox" {
			t.Errorf("/%s is not busybox", l)
		}
	}
}

// TestNginxImageHasEveryLibraryItNeeds checks the image of the real nginx
// package: every ELF file in it finds its interpreter and libraries in it.
func TestNginxImageHasEveryLibraryItNeeds(t *testing.T) {
	root := realNginxRoot(t)
	spec, err := nginxSpec(root, hostLibDirs(), busyboxFiles(labBusybox(t)))
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, spec.Files, hostLibDirs())
	hasLibraries(t, spec.Files, "libc.so.6", "libssl.so.3", "libcrypto.so.3", "libpcre2-8.so.0", "libz.so.1", "libcrypt.so.1")
}

// hasLibraries fails the test unless files hold each of libs.
func hasLibraries(t *testing.T, files []File, libs ...string) {
	t.Helper()
	for _, lib := range libs {
		if !slices.ContainsFunc(files, func(f File) bool { return path.Base(f.Path) == lib }) {
			t.Errorf("no %s in the image", lib)
		}
	}
}

// TestNginxConfigIsValidInAChroot unpacks the real nginx image's layer into
// a directory and runs `nginx -t` there, chrooted: the binary starts with
// only the image's libraries and accepts the config, users and directories.
func TestNginxConfigIsValidInAChroot(t *testing.T) {
	root := realNginxRoot(t)
	spec, err := nginxSpec(root, hostLibDirs(), busyboxFiles(labBusybox(t)))
	if err != nil {
		t.Fatal(err)
	}
	chroot, dir := chrootOf(t, spec)
	for _, conf := range []string{"/etc/nginx/nginx.conf", "/etc/nginx/proxy.conf"} {
		out, err := exec.Command(chroot, dir, "/usr/sbin/nginx", "-t", "-c", conf).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "syntax is ok") || !strings.Contains(string(out), "test is successful") {
			t.Fatalf("chroot %s nginx -t -c %s: %v\n%s", dir, conf, err, out)
		}
		t.Logf("chroot nginx -t -c %s:\n%s", conf, out)
	}
}

// serverImage builds spec's image, a server's as its Debian package runs
// it, and returns its layer's entries: no stop signal in its config turns
// SIGTERM into a graceful stop.
func serverImage(t *testing.T, spec Spec) (map[string]*tar.Header, map[string]string) {
	t.Helper()
	img, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.StopSignal != "" {
		t.Errorf("stop signal %q, want none", cfg.Config.StopSignal)
	}
	return layerFiles(t, img)
}

// chrootOf builds spec's image and unpacks its layer into a directory to
// chroot into, and returns chroot's path and the directory; the test is
// skipped where it cannot chroot.
func chrootOf(t *testing.T, spec Spec) (chroot, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	chroot, err := exec.LookPath("chroot")
	if err != nil {
		t.Skip("no chroot")
	}
	img, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	unpack(t, img, dir)
	return chroot, dir
}

// unpack writes the entries of img's only layer under dir.
func unpack(t *testing.T, img v1.Image, dir string) {
	t.Helper()
	hdrs, content := layerFiles(t, img)
	names := slices.Sorted(maps.Keys(hdrs)) // parents first
	for _, n := range names {
		h, p := hdrs[n], filepath.Join(dir, filepath.FromSlash(n))
		var err error
		switch h.Typeflag {
		case tar.TypeDir:
			if err = os.MkdirAll(p, 0o755); err == nil {
				err = os.Chmod(p, os.FileMode(h.Mode&0o777)|modeBits(h.Mode))
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			err = os.WriteFile(p, []byte(content[n]), os.FileMode(h.Mode&0o777))
		default:
			t.Fatalf("%s: unexpected entry type %c", n, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// modeBits is the sticky bit of a tar mode as an os.FileMode.
func modeBits(m int64) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}
