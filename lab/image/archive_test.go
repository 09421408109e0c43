package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// dockerArchive writes testSpec as a docker archive and returns its path.
func dockerArchive(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "demo.tar")
	if err := Write(testSpec(t), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// ociLayout writes testSpec as an OCI layout directory whose index names the
// image refName, and returns the directory.
func ociLayout(t *testing.T, refName string) string {
	t.Helper()
	img, err := Build(testSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{annotationRefName: refName})); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tarOf writes the tar that writeLayoutTar makes of dir to a file.
func tarOf(t *testing.T, dir string) string {
	t.Helper()
	var b bytes.Buffer
	if err := writeLayoutTar(&b, dir); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, t.TempDir(), "oci.tar", b.String(), 0o644)
}

// gzipOf writes a gzip-compressed copy of the file at p.
func gzipOf(t *testing.T, p string) string {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, t.TempDir(), filepath.Base(p)+".gz", b.String(), 0o644)
}

// tarWith writes a tar holding files (name -> content).
func tarWith(t *testing.T, files map[string]string) string {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for n, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, t.TempDir(), "x.tar", b.String(), 0o644)
}

func TestInspectRecognisesImageArchives(t *testing.T) {
	docker := dockerArchive(t)
	layoutDir := ociLayout(t, "docker.io/team/api:v3")
	tests := []struct {
		name   string
		path   string
		format Format
		gzip   bool
		refs   []string
	}{
		{name: "a docker save tarball", path: docker, format: FormatDocker, refs: []string{"rollcheck/demo-app:v1"}},
		{name: "a gzip-compressed docker save tarball", path: gzipOf(t, docker), format: FormatDocker, gzip: true, refs: []string{"rollcheck/demo-app:v1"}},
		{name: "an OCI layout directory", path: layoutDir, format: FormatOCILayout, refs: []string{"docker.io/team/api:v3"}},
		{name: "an OCI archive", path: tarOf(t, layoutDir), format: FormatOCIArchive, refs: []string{"docker.io/team/api:v3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Inspect(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if a.Format != tt.format || a.Gzip != tt.gzip || !slices.Equal(a.Refs, tt.refs) || a.Path != tt.path {
				t.Fatalf("Inspect() = %+v, want format %s gzip %v refs %v", a, tt.format, tt.gzip, tt.refs)
			}
		})
	}
}

func TestInspectRejectsWhatIsNoImageArchive(t *testing.T) {
	noLayout := t.TempDir()
	writeFile(t, noLayout, "index.json", `{"manifests":[]}`, 0o644)
	truncated := dockerArchive(t)
	raw, err := os.ReadFile(truncated)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{name: "a missing file", path: filepath.Join(t.TempDir(), "nope.tar"), want: "no such file"},
		{name: "a text file", path: writeFile(t, t.TempDir(), "notes.txt", strings.Repeat("not a tar\n", 100), 0o644), want: "not an image archive"},
		{name: "a tar of other files", path: tarWith(t, map[string]string{"hello.txt": "hi"}), want: "neither manifest.json"},
		{name: "a truncated docker archive", path: truncated, want: "not an image archive"},
		{name: "a directory that is no OCI layout", path: noLayout, want: "not an OCI image layout"},
		{name: "a docker archive listing no image", path: tarWith(t, map[string]string{"manifest.json": "[]"}), want: "lists no image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Inspect(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Inspect() = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// fakeCtr is a ctr that records its arguments and its stdin in dir.
func fakeCtr(t *testing.T) (ctr, dir string) {
	t.Helper()
	dir = t.TempDir()
	script := "#!/bin/sh\necho \"$@\" > " + dir + "/args\ncat > " + dir + "/stdin\necho 'unpacking done'\n"
	return writeFile(t, dir, "ctr", script, 0o755), dir
}

// fakeSocket listens on a unix socket under a short path and returns it.
func fakeSocket(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "img")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, "c.sock")
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return p
}

func TestLoadChecksEveryInputBeforeImportingAny(t *testing.T) {
	good := dockerArchive(t)
	ctr, rec := fakeCtr(t)
	sock := fakeSocket(t)
	tests := []struct {
		name   string
		im     Importer
		paths  []string
		want   string
		target string
	}{
		{name: "no archive given", im: Importer{Ctr: ctr, Socket: sock}, want: "no image archive"},
		{name: "a bad archive after a good one", im: Importer{Ctr: ctr, Socket: sock}, paths: []string{good, tarWith(t, map[string]string{"a": "b"})}, want: "not an image archive"},
		{name: "an OCI archive naming its image by tag only", im: Importer{Ctr: ctr, Socket: sock}, paths: []string{ociLayout(t, "v1")}, want: "--base-name"},
		{name: "a lab with no containerd socket", im: Importer{Ctr: ctr, Socket: filepath.Join(t.TempDir(), "node", "containerd.sock")}, paths: []string{good}, want: "not running, or it is not a real-node lab"},
		{name: "a socket path that is a plain file", im: Importer{Ctr: ctr, Socket: good}, paths: []string{good}, want: "not a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.im.Load(context.Background(), tt.paths)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load() = %v, want an error with %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(rec, "args")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("ctr ran although the input was refused")
			}
		})
	}
}

func TestLoadRunsCtrOnTheLabsContainerd(t *testing.T) {
	docker := dockerArchive(t)
	layoutDir := ociLayout(t, "v3")
	tests := []struct {
		name     string
		path     string
		baseName string
		wantArgs string
		// wantStdin is a file that must be at the top of the tar on stdin.
		wantStdin string
	}{
		{name: "a docker archive is passed by path", path: docker, wantArgs: "images import " + docker},
		{name: "a gzip-compressed archive is decompressed onto stdin", path: gzipOf(t, docker), wantArgs: "images import -", wantStdin: "manifest.json"},
		{name: "an OCI layout directory is tarred onto stdin, with the base name", path: layoutDir, baseName: "team/api", wantArgs: "images import --base-name team/api -", wantStdin: "index.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctr, rec := fakeCtr(t)
			sock := fakeSocket(t)
			var out bytes.Buffer
			im := Importer{Ctr: ctr, Socket: sock, BaseName: tt.baseName, Out: &out}
			got, err := im.Load(context.Background(), []string{tt.path})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Path != tt.path {
				t.Fatalf("Load() = %+v", got)
			}
			args, err := os.ReadFile(filepath.Join(rec, "args"))
			if err != nil {
				t.Fatal(err)
			}
			want := "--address " + sock + " --namespace k8s.io " + tt.wantArgs
			if strings.TrimSpace(string(args)) != want {
				t.Fatalf("ctr %s, want ctr %s", strings.TrimSpace(string(args)), want)
			}
			if !strings.Contains(out.String(), "unpacking done") {
				t.Fatalf("ctr's output not passed on: %q", out.String())
			}
			if tt.wantStdin == "" {
				return
			}
			f, err := os.Open(filepath.Join(rec, "stdin"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			top, err := topEntries(f)
			if err != nil {
				t.Fatalf("stdin is not a whole tar: %v", err)
			}
			if top[tt.wantStdin] == nil {
				t.Fatalf("stdin tar has no %s", tt.wantStdin)
			}
		})
	}
}

func TestImportReportsCtrsError(t *testing.T) {
	dir := t.TempDir()
	ctr := writeFile(t, dir, "ctr", "#!/bin/sh\necho 'ctr: failed to dial' >&2\nexit 1\n", 0o755)
	err := Import(context.Background(), ctr, fakeSocket(t), dockerArchive(t))
	if err == nil || !strings.Contains(err.Error(), "failed to dial") {
		t.Fatalf("Import() = %v, want ctr's own message", err)
	}
}

func TestSocketIsUnderTheLabsNodeDirectory(t *testing.T) {
	if got := Socket("/var/lib/lab"); got != "/var/lib/lab/node/containerd.sock" {
		t.Fatalf("Socket() = %s", got)
	}
}
