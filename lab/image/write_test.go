package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// writeFile writes content to a new file under dir and returns its path.
func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// testSpec is a demo-app-like image from small fake binaries.
func testSpec(t *testing.T) Spec {
	t.Helper()
	dir := t.TempDir()
	return Spec{
		Ref: "rollcheck/demo-app:v1",
		Files: append([]File{{Path: "/demo-app", Source: writeFile(t, dir, "demo-app", "app binary", 0o755), Mode: 0o755}},
			busyboxFiles(writeFile(t, dir, "busybox", "busybox binary", 0o755))...),
		Entrypoint: []string{"/demo-app"},
		Env:        []string{"PATH=/bin", "APP_VERSION=v1", "ADDRESS=0.0.0.0"},
		WorkingDir: "/",
	}
}

// layerFiles reads an image's only layer: entry name -> header and content.
func layerFiles(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string]string) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	hdrs, content := map[string]*tar.Header{}, map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs[h.Name], content[h.Name] = h, string(b)
	}
	return hdrs, content
}

func TestWriteGivesADockerArchiveWithTheSpecsConfigAndFiles(t *testing.T) {
	spec := testSpec(t)
	p := filepath.Join(t.TempDir(), "demo.tar")
	if err := Write(spec, p); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(spec.Ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(p, &tag)
	if err != nil {
		t.Fatalf("reading the archive back under its ref: %v", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Entrypoint, spec.Entrypoint) || !slices.Equal(cfg.Config.Env, spec.Env) || cfg.Config.WorkingDir != "/" {
		t.Fatalf("config %+v, want entrypoint %v env %v", cfg.Config, spec.Entrypoint, spec.Env)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" {
		t.Fatalf("platform %s/%s", cfg.OS, cfg.Architecture)
	}

	hdrs, content := layerFiles(t, img)
	var names []string
	for n := range hdrs {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"bin/", "bin/busybox", "bin/cat", "bin/sh", "bin/sleep", "demo-app", "tmp/"}
	if !slices.Equal(names, want) {
		t.Fatalf("layer entries %v, want %v", names, want)
	}
	if content["demo-app"] != "app binary" || hdrs["demo-app"].Mode != 0o755 || hdrs["demo-app"].Typeflag != tar.TypeReg {
		t.Fatalf("demo-app: %+v %q", hdrs["demo-app"], content["demo-app"])
	}
	if content["bin/busybox"] != "busybox binary" {
		t.Fatalf("bin/busybox has %q", content["bin/busybox"])
	}
	for _, l := range []string{"bin/sh", "bin/sleep", "bin/cat"} {
		if h := hdrs[l]; h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Fatalf("%s: type %c link %q, want a symlink to busybox", l, h.Typeflag, h.Linkname)
		}
	}
	if h := hdrs["tmp/"]; h.Typeflag != tar.TypeDir || h.Mode != 0o1777 {
		t.Fatalf("tmp/: type %c mode %o, want a directory with mode 1777", h.Typeflag, h.Mode)
	}
	for n, h := range hdrs {
		if !h.ModTime.Equal(epoch) || h.Uid != 0 || h.Gid != 0 {
			t.Fatalf("%s: mtime %s uid %d gid %d, want the fixed epoch and root", n, h.ModTime, h.Uid, h.Gid)
		}
	}
}

func TestWriteIsReproducible(t *testing.T) {
	spec := testSpec(t)
	dir := t.TempDir()
	var digests []v1.Hash
	for _, n := range []string{"a.tar", "b.tar"} {
		p := filepath.Join(dir, n)
		if err := Write(spec, p); err != nil {
			t.Fatal(err)
		}
		img, err := tarball.ImageFromPath(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] {
		t.Fatalf("two writes of the same files gave %s and %s", digests[0], digests[1])
	}
	// Touching a source (new mtime, same bytes) changes nothing either.
	now := epoch.AddDate(40, 0, 0)
	if err := os.Chtimes(spec.Files[0].Source, now, now); err != nil {
		t.Fatal(err)
	}
	img, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := img.Digest(); err != nil || d != digests[0] {
		t.Fatalf("after touching a source: digest %s (%v), want %s", d, err, digests[0])
	}
}

func TestBuildRejectsBadFileLists(t *testing.T) {
	src := writeFile(t, t.TempDir(), "f", "x", 0o644)
	tests := []struct {
		name  string
		files []File
		want  string
	}{
		{name: "a relative path", files: []File{{Path: "demo-app", Source: src}}, want: "absolute"},
		{name: "a path listed twice", files: []File{{Path: "/a", Source: src}, {Path: "/a", Source: src}}, want: "twice"},
		{name: "a file that is also a directory", files: []File{{Path: "/bin", Source: src}, {Path: "/bin/sh", Link: "busybox"}}, want: "both a file and a directory"},
		{name: "neither source nor link", files: []File{{Path: "/a"}}, want: "neither"},
		{name: "a directory listed twice", files: []File{{Path: "/tmp", Dir: true}, {Path: "/tmp", Dir: true}}, want: "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(Spec{Ref: "x:y", Files: tt.files})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build() = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestWriteFailsOnAMissingSourceAndLeavesNoFile(t *testing.T) {
	spec := testSpec(t)
	spec.Files[0].Source = filepath.Join(t.TempDir(), "gone")
	p := filepath.Join(t.TempDir(), "demo.tar")
	if err := Write(spec, p); err == nil {
		t.Fatal("Write succeeded with a missing source")
	}
	entries, err := os.ReadDir(filepath.Dir(p))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("left %v behind", entries)
	}
}

func TestListedDirectoriesKeepTheirModeAndParentsAreAdded(t *testing.T) {
	src := writeFile(t, t.TempDir(), "f", "x", 0o644)
	entries, err := layerEntries([]File{
		{Path: "/var/tmp/x", Source: src, Mode: 0o644},
		{Path: "/var/tmp", Dir: true, Mode: 0o1777},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%s dir=%v mode=%o", e.name, e.dir, e.Mode))
	}
	want := []string{"var/ dir=true mode=0", "var/tmp/ dir=true mode=1777", "var/tmp/x dir=false mode=644"}
	if !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
}
