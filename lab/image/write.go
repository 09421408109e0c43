package image

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the time of every layer entry and of the image config, so that a
// build depends only on the files' contents and modes.
var epoch = time.Unix(0, 0).UTC()

// Write writes spec as a docker-archive tarball (what `docker save` writes;
// `ctr images import` reads it). The file appears only once complete.
func Write(spec Spec, path string) error {
	_, err := write(spec, path)
	return err
}

// WriteBuilt is Write, returning the image's digests.
func WriteBuilt(spec Spec, path string) (Built, error) { return write(spec, path) }

// Built is an image archive that WriteLab wrote.
type Built struct {
	Ref, Path string
	// Digest is the image manifest's digest in the archive.
	Digest v1.Hash
	// ID is the image config's digest, the image ID that `crictl images`
	// and `docker images` show; unlike the manifest digest it survives an
	// import that writes a manifest of its own.
	ID v1.Hash
}

// WriteLab writes the lab's images (Lab(binDir)) into outDir, one
// docker-archive each, named by FileName.
func WriteLab(binDir, outDir string) ([]Built, error) {
	specs, err := Lab(binDir)
	if err != nil {
		return nil, err
	}
	return writeSpecs(specs, outDir)
}

// writeSpecs writes each of specs into outDir, named by FileName.
func writeSpecs(specs []Spec, outDir string) ([]Built, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	var out []Built
	for _, s := range specs {
		b, err := write(s, filepath.Join(outDir, FileName(s.Ref)))
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// FileName is the archive file name for ref, e.g.
// rollcheck_demo-app_v1.tar for rollcheck/demo-app:v1.
func FileName(ref string) string {
	return strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(ref) + ".tar"
}

// write is Write, returning what it wrote.
func write(spec Spec, path string) (Built, error) {
	img, err := Build(spec)
	if err != nil {
		return Built{}, err
	}
	ref, err := name.ParseReference(spec.Ref)
	if err != nil {
		return Built{}, fmt.Errorf("image %q: %w", spec.Ref, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return Built{}, err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tarball.Write(ref, img, tmp); err != nil {
		tmp.Close()
		return Built{}, fmt.Errorf("write %s to %s: %w", spec.Ref, path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return Built{}, err
	}
	if err := tmp.Close(); err != nil {
		return Built{}, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return Built{}, err
	}
	b := Built{Ref: spec.Ref, Path: path}
	if b.Digest, err = img.Digest(); err != nil {
		return Built{}, err
	}
	if b.ID, err = img.ConfigName(); err != nil {
		return Built{}, err
	}
	return b, nil
}

// Build returns spec as an image: one layer with spec's files and the
// directories above them, and a config for linux on this machine's
// architecture (the binaries are built for it).
func Build(spec Spec) (v1.Image, error) {
	files, err := layerEntries(spec.Files)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeLayer(pw, files)) }()
		return pr, nil
	}, tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("image %s: layer: %w", spec.Ref, err)
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		Config: v1.Config{
			Entrypoint: spec.Entrypoint,
			Cmd:        spec.Cmd,
			Env:        spec.Env,
			WorkingDir: spec.WorkingDir,
			User:       spec.User,
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "rollcheck-lab image build"},
	})
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	return img, nil
}

// entry is one tar entry of a layer; dir marks a directory.
type entry struct {
	name string // relative, e.g. bin/busybox
	dir  bool
	File
}

// layerEntries checks files and returns them with their parent
// directories, parents first, in a fixed order.
func layerEntries(files []File) ([]entry, error) {
	seen := map[string]bool{} // entry names; a directory's ends in "/"
	var out []entry
	for _, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return nil, fmt.Errorf("file path %q must be absolute and clean", f.Path)
		}
		if f.Link == "" && f.Source == "" && f.Content == nil && !f.Dir {
			return nil, fmt.Errorf("file %s has neither a source nor a link target", f.Path)
		}
		n := f.Path[1:]
		if f.Dir {
			n += "/"
		}
		if seen[n] {
			return nil, fmt.Errorf("file %s is listed twice", f.Path)
		}
		seen[n] = true
		out = append(out, entry{name: n, dir: f.Dir, File: f})
	}
	// Parent directories not listed, after all listed ones so that a listed
	// directory keeps its mode.
	for _, f := range files {
		for d := path.Dir(f.Path[1:]); d != "."; d = path.Dir(d) {
			if !seen[d+"/"] {
				seen[d+"/"] = true
				out = append(out, entry{name: d + "/", dir: true})
			}
		}
	}
	for _, e := range out {
		if !e.dir && seen[e.name+"/"] {
			return nil, fmt.Errorf("/%s is both a file and a directory", e.name)
		}
	}
	// "bin/" sorts before "bin/busybox": parents come first.
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// writeLayer writes the uncompressed layer tar of entries to w.
func writeLayer(w io.Writer, entries []entry) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, ModTime: epoch, Uname: "root", Gname: "root", Format: tar.FormatPAX}
		mode := e.Mode
		if mode == 0 {
			mode = 0o755
		}
		switch {
		case e.dir && e.Mode != 0:
			hdr.Typeflag, hdr.Mode = tar.TypeDir, e.Mode
		case e.dir:
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		case e.Link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, e.Link, 0o777
		default:
			hdr.Typeflag, hdr.Mode = tar.TypeReg, mode
		}
		if hdr.Typeflag == tar.TypeReg && e.Content != nil {
			hdr.Size = int64(len(e.Content))
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := tw.Write(e.Content); err != nil {
				return err
			}
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			continue
		}
		if err := copyFile(tw, hdr, e.Source); err != nil {
			return err
		}
	}
	return tw.Close()
}

// copyFile writes hdr with the size of source, then source's content.
func copyFile(tw *tar.Writer, hdr *tar.Header, source string) error {
	f, err := os.Open(source)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", source)
	}
	hdr.Size = st.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(tw, f)
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("%s changed while being read", source)
	}
	return nil
}
