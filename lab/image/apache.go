package image

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// ApacheRoot is where Lab takes Apache httpd from, relative to its binDir:
// Debian's apache2-bin package extracted by `make lab-node` (apt-get
// download, dpkg-deb -x): the binary and its modules.
const ApacheRoot = "apache-root"

// apacheBinary is Apache's path in the package, and in the image.
const apacheBinary = "/usr/sbin/apache2"

// apacheModuleDir is where Debian's package keeps the shared modules.
const apacheModuleDir = "/usr/lib/apache2/modules"

// apacheModules are the shared modules the config loads (Debian's binary
// has mod_unixd, which drops to User and Group, built in).
var apacheModules = []struct{ name, file string }{
	{"mpm_event_module", "mod_mpm_event.so"},
	{"authz_core_module", "mod_authz_core.so"},
	{"dir_module", "mod_dir.so"},
	{"env_module", "mod_env.so"},
	{"headers_module", "mod_headers.so"},
	{"ratelimit_module", "mod_ratelimit.so"},
}

// ApacheConf is the image's config, where Debian's binary looks for it
// (HTTPD_ROOT /etc/apache2, SERVER_CONFIG_FILE apache2.conf): `apache2 -k
// graceful-stop` in a preStop reads it too, for the pid file.
const ApacheConf = "/etc/apache2/apache2.conf"

// apachectl is the image's /usr/sbin/apachectl: the lab's own two lines,
// standing in for the script of Debian's apache2 package (which needs its
// envvars file and more), that pass -k commands on to the binary as that
// script does, so that the preStop rollcheck advises, `apachectl -k
// graceful-stop`, runs as written.
const apachectl = "#!/bin/sh\nexec /usr/sbin/apache2 \"$@\"\n"

// apacheConf is ApacheConf. GET / answers at once (index.txt), /healthz
// with ok, and /slow/page in about 2 s (12 KiB at 6 KiB/s, mod_ratelimit);
// every answer carries X-Pod-Name, $POD_NAME as the pod sets it (the
// downward API's metadata.name). The master runs as root (it binds and
// writes the pid file), its children as nobody. Signals mean what they mean
// to Apache (httpd.apache.org/docs/2.4/stopping.html): SIGTERM stops it at
// once, cutting the requests in flight; SIGWINCH, or `apache2 -k
// graceful-stop`, stops it gracefully: it stops listening and finishes them.
func apacheConf() string {
	conf := `ServerRoot /etc/apache2
ServerName localhost
Listen 8080
PidFile /run/apache2/apache2.pid
DefaultRuntimeDir /run/apache2
`
	for _, m := range apacheModules {
		conf += fmt.Sprintf("LoadModule %s %s\n", m.name, path.Join(apacheModuleDir, m.file))
	}
	return conf + `User nobody
Group nogroup
ErrorLog /dev/stderr
LogLevel notice
StartServers 1
ServerLimit 2
ThreadsPerChild 64
MaxRequestWorkers 128
KeepAliveTimeout 65
GracefulShutdownTimeout 0
DocumentRoot /srv
DirectoryIndex index.txt
Header always set X-Pod-Name "${POD_NAME}"
<Directory />
    Require all granted
</Directory>
<Location "/slow/">
    SetOutputFilter RATE_LIMIT
    SetEnv rate-limit 6
</Location>
`
}

// apacheSpec is Debian's Apache httpd (HttpdRef) from root, an extracted
// apache2-bin package: the binary and the modules the config loads, the
// shared libraries they need from the host (libDirs), the config, the
// users it names, the directories it writes to, its pages, and busybox. The
// image sets no stop signal: SIGTERM stops Apache at once, as Debian's
// package does.
func apacheSpec(root string, libDirs []string, busybox []File) (Spec, error) {
	bin := filepath.Join(root, filepath.FromSlash(apacheBinary))
	if err := checkFile(bin); err != nil {
		return Spec{}, fmt.Errorf("Apache httpd (Debian's apache2-bin package, extracted): %w (`make lab-node` fetches it into %s)", err, root)
	}
	files := []File{{Path: apacheBinary, Source: bin, Mode: 0o755}}
	for _, m := range apacheModules {
		p := path.Join(apacheModuleDir, m.file)
		src := filepath.Join(root, filepath.FromSlash(p))
		if err := checkFile(src); err != nil {
			return Spec{}, fmt.Errorf("Apache httpd's module %s: %w", m.file, err)
		}
		files = append(files, File{Path: p, Source: src, Mode: 0o644})
	}
	for _, f := range slices.Clone(files) {
		if !isELF(f.Source) { // a test's stand-in may be a script
			continue
		}
		libs, err := sharedLibraries(f.Source, libDirs)
		if err != nil {
			return Spec{}, fmt.Errorf("Apache httpd: %s: %w", f.Path, err)
		}
		for _, l := range libs {
			if !slices.ContainsFunc(files, func(g File) bool { return g.Path == l.Path }) {
				files = append(files, l)
			}
		}
	}
	// glibc loads libgcc_s when a thread exits (pthread_exit unwinds with
	// it), which no DT_NEEDED names: without it every child of the event
	// MPM aborts.
	for _, name := range []string{"libgcc_s.so.1"} {
		lib, err := hostLibrary(name, libDirs)
		if err != nil {
			return Spec{}, fmt.Errorf("Apache httpd: %w", err)
		}
		if !slices.ContainsFunc(files, func(g File) bool { return g.Path == lib.Path }) {
			files = append(files, lib)
		}
	}
	files = append(files,
		File{Path: ApacheConf, Mode: 0o644, Content: []byte(apacheConf())},
		File{Path: "/usr/sbin/apachectl", Mode: 0o755, Content: []byte(apachectl)},
		File{Path: "/etc/passwd", Mode: 0o644, Content: []byte("root:x:0:0:root:/root:/bin/sh\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")},
		File{Path: "/etc/group", Mode: 0o644, Content: []byte("root:x:0:\nnogroup:x:65534:\n")},
		File{Path: "/srv/index.txt", Mode: 0o644, Content: []byte("rollcheck lab: Apache httpd (the pod names itself in X-Pod-Name)\n")},
		File{Path: "/srv/healthz", Mode: 0o644, Content: []byte("ok\n")},
		File{Path: "/srv/slow/page", Mode: 0o644, Content: slowPage()},
		File{Path: "/run/apache2", Dir: true},
	)
	return Spec{
		Ref:        HttpdRef,
		Files:      append(files, busybox...),
		Entrypoint: []string{apacheBinary, "-DFOREGROUND"},
		Env:        []string{"PATH=/usr/sbin:/bin"},
	}, nil
}

// hostLibrary is the library name from the first of dirs that has it, at
// that path, its source the file behind the host's symbolic links.
func hostLibrary(name string, dirs []string) (File, error) {
	for _, d := range dirs {
		p := path.Join(d, name)
		src, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		st, err := os.Stat(src)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		return File{Path: p, Source: src, Mode: int64(st.Mode().Perm())}, nil
	}
	return File{}, fmt.Errorf("no %s in %s (Debian's package libgcc-s1)", name, strings.Join(dirs, ", "))
}
