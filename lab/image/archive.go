package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Format is the kind of an image archive.
type Format string

// Archive formats that Import reads.
const (
	// FormatDocker is what `docker save` writes: a tar with manifest.json.
	FormatDocker Format = "docker-archive"
	// FormatOCIArchive is an OCI image layout in a tar (index.json and
	// oci-layout at its top).
	FormatOCIArchive Format = "oci-archive"
	// FormatOCILayout is an OCI image layout directory.
	FormatOCILayout Format = "oci-layout"
)

// Archive is an image archive that Inspect has checked.
type Archive struct {
	Path   string
	Format Format
	// Gzip is set for a gzip-compressed tar (e.g. `docker save | gzip`).
	Gzip bool
	// Refs are the names the archive gives its images, as written in it
	// (RepoTags of a docker archive; for OCI, the containerd image name
	// annotation, else the ref name annotation, which is often a tag only).
	Refs []string
}

// OCI index annotations naming an image.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// Inspect checks that p is an image archive Import can read: a docker-archive
// or OCI archive tar (possibly gzip-compressed), or an OCI layout directory.
func Inspect(p string) (Archive, error) {
	st, err := os.Stat(p)
	if err != nil {
		return Archive{}, err
	}
	a := Archive{Path: p}
	if st.IsDir() {
		a.Format = FormatOCILayout
		if _, err := os.Stat(filepath.Join(p, "oci-layout")); err != nil {
			return Archive{}, fmt.Errorf("%s is a directory but not an OCI image layout (no oci-layout file)", p)
		}
		idx, err := os.ReadFile(filepath.Join(p, "index.json"))
		if err != nil {
			return Archive{}, fmt.Errorf("%s is not a complete OCI image layout: %w", p, err)
		}
		if a.Refs, err = ociRefs(idx); err != nil {
			return Archive{}, fmt.Errorf("%s: index.json: %w", p, err)
		}
		return a, nil
	}
	if !st.Mode().IsRegular() {
		return Archive{}, fmt.Errorf("%s is neither a file nor a directory", p)
	}
	f, err := os.Open(p)
	if err != nil {
		return Archive{}, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return Archive{}, fmt.Errorf("%s: %w", p, err)
		}
		defer zr.Close()
		a.Gzip, r = true, zr
	}
	top, err := topEntries(r)
	if err != nil {
		return Archive{}, fmt.Errorf("%s is not an image archive (expected a tar from `docker save` or an OCI archive): %w", p, err)
	}
	switch {
	case top["manifest.json"] != nil:
		a.Format = FormatDocker
		var m []struct{ RepoTags []string }
		if err := json.Unmarshal(top["manifest.json"], &m); err != nil {
			return Archive{}, fmt.Errorf("%s: manifest.json: %w", p, err)
		}
		if len(m) == 0 {
			return Archive{}, fmt.Errorf("%s: manifest.json lists no image", p)
		}
		for _, e := range m {
			a.Refs = append(a.Refs, e.RepoTags...)
		}
	case top["index.json"] != nil && top["oci-layout"] != nil:
		a.Format = FormatOCIArchive
		if a.Refs, err = ociRefs(top["index.json"]); err != nil {
			return Archive{}, fmt.Errorf("%s: index.json: %w", p, err)
		}
	default:
		return Archive{}, fmt.Errorf("%s is a tar but not an image archive: it has neither manifest.json (docker save) nor index.json and oci-layout (OCI)", p)
	}
	return a, nil
}

// topEntries reads a tar stream to its end and returns the content of the
// small metadata files at its top (manifest.json, index.json, oci-layout).
// Reading to the end also proves the tar is whole.
func topEntries(r io.Reader) (map[string][]byte, error) {
	const maxMeta = 16 << 20
	tr := tar.NewReader(r)
	top := map[string][]byte{}
	entries := 0
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		entries++
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch name {
		case "manifest.json", "index.json", "oci-layout":
		default:
			continue
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size > maxMeta {
			return nil, fmt.Errorf("%s is not a small regular file", name)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		top[name] = b
	}
	if entries == 0 {
		return nil, errors.New("no tar entries")
	}
	return top, nil
}

// ociRefs returns the image names in an OCI index.json.
func ociRefs(index []byte) ([]string, error) {
	var idx struct {
		Manifests []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(index, &idx); err != nil {
		return nil, err
	}
	if len(idx.Manifests) == 0 {
		return nil, errors.New("the index lists no image")
	}
	var refs []string
	for _, m := range idx.Manifests {
		if n := m.Annotations[annotationContainerdName]; n != "" {
			refs = append(refs, n)
		} else if n := m.Annotations[annotationRefName]; n != "" {
			refs = append(refs, n)
		}
	}
	return refs, nil
}

// isOCI reports whether a holds an OCI layout, archived or not.
func (a Archive) isOCI() bool {
	return a.Format == FormatOCIArchive || a.Format == FormatOCILayout
}

// partialRefs are a's names that are a tag only ("v1"), which ctr names
// import-DATE:v1 unless given a base name.
func (a Archive) partialRefs() []string {
	if !a.isOCI() {
		return nil
	}
	var out []string
	for _, r := range a.Refs {
		if !strings.ContainsAny(r, "/:@") {
			out = append(out, r)
		}
	}
	return out
}

// writeLayoutTar writes the OCI layout directory dir as a tar to w, paths
// relative to dir (what an OCI archive holds).
func writeLayoutTar(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.IsDir() && !info.Mode().IsRegular() {
			return fmt.Errorf("%s: only directories and regular files belong in an OCI layout", p)
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
			return tw.WriteHeader(hdr)
		}
		return copyFile(tw, hdr, p)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
