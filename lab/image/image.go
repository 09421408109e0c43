// Package image builds the lab's container images locally, with no Docker
// daemon and no registry, and imports image archives into the real node's
// containerd.
//
// Every image has a single layer made of a few static binaries (the demo app,
// agnhost) plus busybox for the shell and sleep that manifests use in preStop
// hooks; the nginx image adds Debian's nginx with the host's libraries it
// links. Layers are reproducible: fixed owners and modification times, so
// the same files always give the same digest.
package image

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Image references of the lab.
const (
	// DemoAppRepo is the repository of the lab's demo app; tags v1 and v2.
	DemoAppRepo = "rollcheck/demo-app"
	// AgnhostRef is agnhost under its upstream name, so manifests written for
	// a real cluster run unchanged.
	AgnhostRef = "registry.k8s.io/e2e-test-images/agnhost:2.53"
	// PauseRef is the sandbox image (containerd's sandbox_image in the lab):
	// agnhost running `pause`.
	PauseRef = "registry.k8s.io/pause:3.10"
	// NginxRef is Debian's nginx (Debian 12's package, 1.22) run as the
	// package runs it, SIGTERM its fast shutdown (the image sets no stop
	// signal): the binary with the host's libraries it links, and a config
	// that serves the pod's name on port 8080 (see nginxConf). Built from
	// the package that `make lab-node` extracts into BIN/nginx-root.
	NginxRef = "rollcheck/nginx:1.22"
	// HttpdRef is Debian's Apache httpd (Debian 12's apache2-bin, 2.4) run
	// as the package runs it, SIGTERM its immediate stop: the binary and
	// the modules its config loads, with the host's libraries they link
	// (see apacheConf). Built from the package that `make lab-node`
	// extracts into BIN/apache-root. Its image name, httpd, is the one
	// rollcheck knows Apache by.
	HttpdRef = "rollcheck/httpd:2.4"
)

// DemoAppVersions are the tags of DemoAppRepo that Lab builds.
var DemoAppVersions = []string{"v1", "v2"}

// Busybox is where Lab takes busybox from: a static build (Debian's
// busybox-static package), so the image needs no libc.
const Busybox = "/bin/busybox"

// busyboxLinks are the applets linked next to /bin/busybox in every image:
// sh for `exec: ["sh", "-c", ...]` hooks, sleep and cat for the simple ones.
var busyboxLinks = []string{"sh", "sleep", "cat"}

// Spec is one image: a reference and the files of its single layer.
type Spec struct {
	// Ref is the image's name, e.g. rollcheck/demo-app:v1.
	Ref   string
	Files []File
	// Entrypoint, Cmd, Env, WorkingDir and User go to the image config.
	Entrypoint, Cmd, Env []string
	WorkingDir           string
	User                 string
}

// File is one entry of an image's layer.
type File struct {
	// Path is the file's absolute path in the image, e.g. /demo-app.
	Path string
	// Source is the host file whose content the entry gets (unused for links).
	Source string
	// Content, if not nil, is the entry's content instead of Source's.
	Content []byte
	// Mode is the entry's permission bits; 0 means 0755.
	Mode int64
	// Link, if set, makes the entry a symbolic link to Link.
	Link string
	// Dir makes the entry an empty directory (Source and Link unused).
	Dir bool
}

// Lab returns the lab's images, from static binaries in binDir (demo-app,
// agnhost), /bin/busybox, and Debian's nginx and Apache httpd extracted
// into binDir/nginx-root (NginxRoot) and binDir/apache-root (ApacheRoot)
// with the host's libraries they link.
func Lab(binDir string) ([]Spec, error) {
	return lab(binDir, Busybox)
}

// lab is Lab with busybox taken from busybox (tests point it elsewhere).
func lab(binDir, busybox string) ([]Spec, error) {
	if err := checkStatic(busybox); err != nil {
		return nil, fmt.Errorf("busybox (the shell and sleep of every lab image): %w; on Debian install the package busybox-static", err)
	}
	demo := filepath.Join(binDir, "demo-app")
	agnhost := filepath.Join(binDir, "agnhost")
	for _, p := range []string{demo, agnhost} {
		if err := checkStatic(p); err != nil {
			return nil, fmt.Errorf("%w (build the lab's static binaries with `make lab-node`)", err)
		}
	}
	bb := busyboxFiles(busybox)
	var specs []Spec
	for _, v := range DemoAppVersions {
		specs = append(specs, Spec{
			Ref:        DemoAppRepo + ":" + v,
			Files:      append([]File{{Path: "/demo-app", Source: demo, Mode: 0o755}}, bb...),
			Entrypoint: []string{"/demo-app"},
			// ADDRESS: in a pod the app must answer on the pod's IP, not
			// only on loopback as in the process lab.
			Env: []string{pathEnv, "APP_VERSION=" + v, "PORT=8080", "ADDRESS=0.0.0.0"},
		})
	}
	agnhostFiles := append([]File{{Path: "/agnhost", Source: agnhost, Mode: 0o755}}, bb...)
	specs = append(specs,
		Spec{
			Ref:        AgnhostRef,
			Files:      agnhostFiles,
			Entrypoint: []string{"/agnhost"},
			Env:        []string{pathEnv},
		},
		Spec{
			Ref:        PauseRef,
			Files:      agnhostFiles,
			Entrypoint: []string{"/agnhost"},
			Cmd:        []string{"pause"},
			Env:        []string{pathEnv},
		},
	)
	nginx, err := nginxSpec(filepath.Join(binDir, NginxRoot), hostLibDirs(), bb)
	if err != nil {
		return nil, err
	}
	httpd, err := apacheSpec(filepath.Join(binDir, ApacheRoot), hostLibDirs(), bb)
	if err != nil {
		return nil, err
	}
	return append(specs, nginx, httpd), nil
}

// pathEnv lets the runtime find busybox's applets for exec hooks and probes
// that name a command without a path.
const pathEnv = "PATH=/bin"

// busyboxFiles is busybox at /bin/busybox and its applet links, and a /tmp
// (world-writable, sticky) as every base image has one.
func busyboxFiles(busybox string) []File {
	files := []File{{Path: "/bin/busybox", Source: busybox, Mode: 0o755}, {Path: "/tmp", Dir: true, Mode: 0o1777}}
	for _, name := range busyboxLinks {
		files = append(files, File{Path: "/bin/" + name, Link: "busybox"})
	}
	return files
}

// checkStatic reports a missing or non-regular file, or a dynamically linked
// executable: the images hold no libc or loader, so it would fail to start
// with a baffling "no such file or directory".
func checkStatic(p string) error {
	if err := checkFile(p); err != nil {
		return err
	}
	f, err := elf.Open(p)
	if err != nil {
		return nil // not ELF (a script, a test's stand-in): nothing to check
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; the lab's images need static binaries (CGO_ENABLED=0)", p)
		}
	}
	return nil
}

// checkFile reports a missing or non-regular file.
func checkFile(p string) error {
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s does not exist", p)
	}
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", p)
	}
	return nil
}
