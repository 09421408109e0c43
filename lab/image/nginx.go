package image

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
)

// NginxRoot is where Lab takes nginx from, relative to its binDir: Debian's
// nginx package extracted by `make lab-node` (apt-get download, dpkg-deb -x).
const NginxRoot = "nginx-root"

// nginxBinary is nginx's path in the package, and in the image.
const nginxBinary = "/usr/sbin/nginx"

// nginxPageSize is the size of /srv/slow/page: 12 KiB, which limit_rate 6k
// sends in about 2 s.
const nginxPageSize = 12288

// nginxConfHead is what both configs share: the master as root (it binds
// and writes the pid file both name, which `nginx -s quit` reads), one
// worker as nobody, the error log on stderr, no access log.
const nginxConfHead = `user nobody nogroup;
worker_processes 1;
pid /run/nginx.pid;
error_log stderr notice;

events {
    worker_connections 1024;
}

http {
    access_log off;
    default_type text/plain;
    keepalive_timeout 65s;
`

// nginxConf is the image's /etc/nginx/nginx.conf. GET / answers at once with
// the pod's name (nginx's $hostname, which is the pod name in Kubernetes),
// /healthz with ok, and /slow/page in about 2 s (12 KiB at 6 KiB/s); every
// answer carries X-Pod-Name. The master runs as root (it binds and writes
// its pid file), the worker as nobody. Signals mean what they mean under
// Debian's package: SIGTERM (or SIGINT) is nginx's fast shutdown, which
// closes open connections; SIGQUIT, or `nginx -s quit`, its graceful one.
const nginxConf = nginxConfHead + `
    server {
        listen 8080;
        add_header X-Pod-Name $hostname always;

        location = / {
            return 200 "$hostname\n";
        }
        location = /healthz {
            return 200 "ok\n";
        }
        location /slow/ {
            root /srv;
            limit_rate 6k;
        }
    }
}
`

// nginxProxyConf is /etc/nginx/proxy.conf: nginx as a proxy sidecar in
// front of the app in the same pod (issue 23), on port 8080, sending
// every request to 127.0.0.1:8081 where the app listens. A pod runs it
// with args ["-c", "/etc/nginx/proxy.conf"]. The app names itself
// (X-Pod-Name passes through); nginx's own 502, when the app does not
// answer, names no pod. Its signals are nginx's: SIGTERM stops it at once.
const nginxProxyConf = nginxConfHead + `
    upstream app {
        server 127.0.0.1:8081;
        keepalive 16;
    }

    server {
        listen 8080;

        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`

// nginxSpec is Debian's nginx (NginxRef) from root, an extracted nginx
// package: the binary, the shared libraries it needs from the host (libDirs),
// the configs above, the users they name, the directories it writes to, the
// slow page, and busybox (busyboxFiles). The image sets no stop signal:
// SIGTERM stops nginx at once, as Debian's package does.
func nginxSpec(root string, libDirs []string, busybox []File) (Spec, error) {
	bin := filepath.Join(root, filepath.FromSlash(nginxBinary))
	if err := checkFile(bin); err != nil {
		return Spec{}, fmt.Errorf("nginx (Debian's nginx package, extracted): %w (`make lab-node` fetches it into %s)", err, root)
	}
	files := []File{{Path: nginxBinary, Source: bin, Mode: 0o755}}
	if isELF(bin) { // a test's stand-in may be a script
		libs, err := sharedLibraries(bin, libDirs)
		if err != nil {
			return Spec{}, fmt.Errorf("nginx: %w", err)
		}
		files = append(files, libs...)
	}
	files = append(files,
		File{Path: "/etc/nginx/nginx.conf", Mode: 0o644, Content: []byte(nginxConf)},
		File{Path: "/etc/nginx/proxy.conf", Mode: 0o644, Content: []byte(nginxProxyConf)},
		File{Path: "/etc/passwd", Mode: 0o644, Content: []byte("root:x:0:0:root:/root:/bin/sh\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")},
		File{Path: "/etc/group", Mode: 0o644, Content: []byte("root:x:0:\nnogroup:x:65534:\n")},
		File{Path: "/srv/slow/page", Mode: 0o644, Content: slowPage()},
		File{Path: "/var/lib/nginx", Dir: true},
		File{Path: "/var/log/nginx", Dir: true},
		File{Path: "/run", Dir: true},
	)
	return Spec{
		Ref:        NginxRef,
		Files:      append(files, busybox...),
		Entrypoint: []string{nginxBinary, "-g", "daemon off;"},
		Env:        []string{"PATH=/usr/sbin:/bin"},
	}, nil
}

// slowPage is the content of /srv/slow/page: nginxPageSize bytes of text,
// lines of 64.
func slowPage() []byte {
	var b bytes.Buffer
	for i := 1; b.Len() < nginxPageSize; i++ {
		fmt.Fprintf(&b, "%-63s\n", fmt.Sprintf("rollcheck lab: nginx's slow page, line %d of %d", i, nginxPageSize/64))
	}
	return b.Bytes()[:nginxPageSize]
}

// hostLibDirs are where the lab looks for a library on the host, first hit
// wins: Debian's multiarch directories, then /lib64 and /usr/lib.
func hostLibDirs() []string {
	dirs := []string{"/lib64", "/usr/lib"}
	if t := multiarch[runtime.GOARCH]; t != "" {
		dirs = append([]string{"/lib/" + t, "/usr/lib/" + t}, dirs...)
	}
	return dirs
}

// multiarch is Debian's multiarch tuple of a Go architecture.
var multiarch = map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}

// sharedLibraries returns what the dynamically linked ELF executable exe
// needs to start: its interpreter (PT_INTERP, e.g. /lib64/ld-linux-x86-64.so.2)
// at its path, and each library its DT_NEEDED entries name, and theirs in
// turn, found in the first of dirs that has one for exe's class and machine.
// Each entry's path is the one it was found at, e.g.
// /lib/x86_64-linux-gnu/libssl.so.3: the image has no ld.so.cache, and the
// loader's built-in search path has these directories. Its source is the
// file behind the host's symbolic links. A static executable needs nothing.
// RPATH and RUNPATH are not followed (Debian's binaries have none).
func sharedLibraries(exe string, dirs []string) ([]File, error) {
	f, err := elf.Open(exe)
	if err != nil {
		return nil, err
	}
	class, machine := f.Class, f.Machine
	f.Close()
	var out []File
	added := map[string]bool{} // image paths
	add := func(p string) error {
		src, err := filepath.EvalSymlinks(p)
		if err != nil {
			return err
		}
		st, err := os.Stat(src)
		if err != nil {
			return err
		}
		added[p] = true
		out = append(out, File{Path: p, Source: src, Mode: int64(st.Mode().Perm())})
		return nil
	}
	// Breadth first from exe: each ELF read once, by its host path.
	queue := []string{exe}
	found := map[string]string{} // library name → image path
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		interp, needed, err := elfDeps(cur)
		if err != nil {
			return nil, err
		}
		if interp != "" && !added[interp] {
			if !path.IsAbs(interp) || path.Clean(interp) != interp {
				return nil, fmt.Errorf("%s: interpreter %q is not an absolute clean path", cur, interp)
			}
			if err := add(interp); err != nil {
				return nil, fmt.Errorf("%s: interpreter: %w", cur, err)
			}
			queue = append(queue, interp)
		}
		for _, name := range needed {
			if _, ok := found[name]; ok {
				continue
			}
			p, err := findLibrary(name, dirs, class, machine)
			if err != nil {
				return nil, fmt.Errorf("%s needs %s: %w", cur, name, err)
			}
			found[name] = p
			if added[p] {
				continue
			}
			if err := add(p); err != nil {
				return nil, err
			}
			queue = append(queue, p)
		}
	}
	return out, nil
}

// elfDeps returns the interpreter and the DT_NEEDED names of the ELF file p.
func elfDeps(p string) (interp string, needed []string, err error) {
	f, err := elf.Open(p)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(prog.Open())
		if err != nil {
			return "", nil, fmt.Errorf("%s: interpreter: %w", p, err)
		}
		interp = string(bytes.TrimRight(b, "\x00"))
	}
	needed, err = f.ImportedLibraries()
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", p, err)
	}
	return interp, needed, nil
}

// findLibrary returns the first dirs/name that is an ELF file of class and
// machine (the loader skips one of another architecture, and so does this).
func findLibrary(name string, dirs []string, class elf.Class, machine elf.Machine) (string, error) {
	if strings.Contains(name, "/") {
		return "", fmt.Errorf("a library named by its path is not supported")
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		f, err := elf.Open(p)
		if err != nil {
			continue // missing, not ELF or unreadable: the loader goes on too
		}
		ok := f.Class == class && f.Machine == machine
		f.Close()
		if ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("in none of %s: install the Debian package that has it (.ci/run installs nginx's: libpcre2-8-0 libssl3 zlib1g libcrypt1)", strings.Join(dirs, ", "))
}

// isELF reports whether p starts with ELF's magic number.
func isELF(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, len(elf.ELFMAG))
	_, err = io.ReadFull(f, magic)
	return err == nil && string(magic) == elf.ELFMAG
}
