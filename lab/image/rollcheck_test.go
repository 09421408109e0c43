package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestRollcheckImageIsDistrolessLike(t *testing.T) {
	dir := t.TempDir()
	bin := writeFile(t, dir, "rollcheck", "rollcheck binary", 0o755)
	ca := writeFile(t, dir, "ca.crt", "-----BEGIN CERTIFICATE-----\n", 0o644)
	spec, err := Rollcheck(bin, "v1.2.3", ca)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image", "rollcheck.tar")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	built, err := WriteBuilt(spec, out)
	if err != nil {
		t.Fatal(err)
	}
	if built.Ref != "rollcheck/rollcheck:v1.2.3" || !strings.HasPrefix(built.Digest.String(), "sha256:") {
		t.Errorf("built %+v", built)
	}

	// Read it back from the archive, as ctr would.
	tag, err := name.NewTag("rollcheck/rollcheck:v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("the archive has no image rollcheck/rollcheck:v1.2.3: %v", err)
	}
	if d, err := img.Digest(); err != nil || d != built.Digest {
		t.Errorf("digest in the archive %s (%v), printed %s", d, err, built.Digest)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Config.Entrypoint, " "); got != "/rollcheck" {
		t.Errorf("entrypoint %q", got)
	}
	if cfg.Config.User != "65532:65532" || cfg.OS != "linux" || len(cfg.Config.Cmd) != 0 {
		t.Errorf("config: user %q, os %q, cmd %q", cfg.Config.User, cfg.OS, cfg.Config.Cmd)
	}
	hdrs, content := layerFiles(t, img)
	if content["rollcheck"] != "rollcheck binary" || hdrs["rollcheck"].Mode != 0o755 {
		t.Errorf("/rollcheck: %q mode %o", content["rollcheck"], hdrs["rollcheck"].Mode)
	}
	if !strings.Contains(content["etc/passwd"], "nonroot:x:65532:65532:") || !strings.Contains(content["etc/group"], "nonroot:x:65532:") {
		t.Errorf("passwd %q group %q", content["etc/passwd"], content["etc/group"])
	}
	if content["etc/ssl/certs/ca-certificates.crt"] != "-----BEGIN CERTIFICATE-----\n" {
		t.Errorf("CA bundle %q", content["etc/ssl/certs/ca-certificates.crt"])
	}
	if h := hdrs["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("/tmp: %+v", h)
	}
	for n := range hdrs {
		if strings.HasPrefix(n, "bin/") {
			t.Errorf("the image has %s: no shell or tools in a distroless-like image", n)
		}
	}

	// The same binary gives the same digest.
	again, err := WriteBuilt(spec, filepath.Join(dir, "again.tar"))
	if err != nil || again.Digest != built.Digest {
		t.Errorf("a second build: %s (%v), first %s", again.Digest, err, built.Digest)
	}
}

func TestRollcheckImageWithoutACABundle(t *testing.T) {
	bin := writeFile(t, t.TempDir(), "rollcheck", "x", 0o755)
	spec, err := Rollcheck(bin, "dev", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range spec.Files {
		if strings.Contains(f.Path, "ssl") {
			t.Errorf("without a CA bundle the image has %s", f.Path)
		}
	}
}

func TestRollcheckImageRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	bin := writeFile(t, dir, "rollcheck", "x", 0o755)
	for _, tt := range []struct{ name, bin, version, ca, want string }{
		{"a missing binary", filepath.Join(dir, "gone"), "dev", "", "does not exist"},
		{"no version", bin, "", "", "no version"},
		{"a missing CA bundle", bin, "dev", filepath.Join(dir, "nope.crt"), "CA bundle"},
		{"a dynamically linked binary", "/bin/ls", "dev", "", "dynamically linked"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Rollcheck(tt.bin, tt.version, tt.ca); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
