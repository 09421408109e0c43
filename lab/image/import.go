package image

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Namespace is the containerd namespace the kubelet's CRI uses.
const Namespace = "k8s.io"

// Socket is the containerd socket of the real-node lab in labDir.
func Socket(labDir string) string {
	return filepath.Join(labDir, "node", "containerd.sock")
}

// Import imports an archive (docker-archive or OCI archive tar, or an OCI
// layout directory) into containerd at socket, namespace k8s.io, with the
// ctr binary.
func Import(ctx context.Context, ctr, socket, path string) error {
	a, err := Inspect(path)
	if err != nil {
		return err
	}
	return Importer{Ctr: ctr, Socket: socket}.Import(ctx, a)
}

// Importer imports archives into one containerd with ctr.
type Importer struct {
	// Ctr is the ctr binary (a name is looked up in PATH).
	Ctr string
	// Socket is containerd's socket.
	Socket string
	// BaseName is the repository for images an OCI archive names by tag
	// only (ctr's --base-name); with it, ctr imports only images under it.
	BaseName string
	// Out, if set, receives ctr's output (the images it unpacked).
	Out io.Writer
}

// Import imports a into containerd. An OCI archive that names an image by tag
// only needs BaseName: ctr would call it import-DATE otherwise.
func (im Importer) Import(ctx context.Context, a Archive) error {
	if err := im.check(a); err != nil {
		return err
	}
	if err := CheckSocket(im.Socket); err != nil {
		return err
	}
	args := []string{"--address", im.Socket, "--namespace", Namespace, "images", "import"}
	if im.BaseName != "" {
		args = append(args, "--base-name", im.BaseName)
	}
	if _, err := exec.LookPath(im.Ctr); err != nil {
		return fmt.Errorf("%w (ctr comes with Debian's containerd package)", err)
	}
	in, src, err := importSource(a)
	if err != nil {
		return err
	}
	defer src.Close()
	cmd := exec.CommandContext(ctx, im.Ctr, append(args, in)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if in == "-" {
		cmd.Stdin = src
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s images import %s: %w: %s", im.Ctr, a.Path, err, strings.TrimSpace(out.String()))
	}
	if im.Out != nil {
		if _, err := im.Out.Write(out.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// check reports an archive im cannot import as asked.
func (im Importer) check(a Archive) error {
	if p := a.partialRefs(); len(p) > 0 && im.BaseName == "" {
		return fmt.Errorf("%s names its images by tag only (%s): give the repository they belong to (ctr's --base-name)", a.Path, strings.Join(p, ", "))
	}
	return nil
}

// Load checks every path (Inspect) and the socket before it imports any, so
// that a typo in the last of several archives imports nothing; then it
// imports them in order. It returns the archives imported.
func (im Importer) Load(ctx context.Context, paths []string) ([]Archive, error) {
	if len(paths) == 0 {
		return nil, errors.New("no image archive given")
	}
	var archives []Archive
	for _, p := range paths {
		a, err := Inspect(p)
		if err != nil {
			return nil, err
		}
		if err := im.check(a); err != nil {
			return nil, err
		}
		archives = append(archives, a)
	}
	if err := CheckSocket(im.Socket); err != nil {
		return nil, err
	}
	for i, a := range archives {
		if err := im.Import(ctx, a); err != nil {
			return archives[:i], err
		}
	}
	return archives, nil
}

// importSource returns ctr's input argument for a: its path for a plain tar,
// else "-" and a stream for ctr's stdin (ctr reads neither directories nor,
// in containerd 1.6, compressed archives).
func importSource(a Archive) (string, io.ReadCloser, error) {
	switch {
	case a.Format == FormatOCILayout:
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeLayoutTar(pw, a.Path)) }()
		return "-", pr, nil
	case a.Gzip:
		f, err := os.Open(a.Path)
		if err != nil {
			return "", nil, err
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return "", nil, fmt.Errorf("%s: %w", a.Path, err)
		}
		return "-", readCloser{zr, f}, nil
	default:
		return a.Path, io.NopCloser(strings.NewReader("")), nil
	}
}

// readCloser reads from a gzip stream and closes the file under it.
type readCloser struct {
	*gzip.Reader
	f *os.File
}

func (r readCloser) Close() error {
	return errors.Join(r.Reader.Close(), r.f.Close())
}

// CheckSocket reports whether a containerd socket exists at socket, in words
// that say what to do when it does not.
func CheckSocket(socket string) error {
	st, err := os.Stat(socket)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no containerd socket at %s: the lab is not running, or it is not a real-node lab (the process kubelet has no container runtime)", socket)
	}
	if err != nil {
		return err
	}
	if st.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%s is not a socket", socket)
	}
	return nil
}
