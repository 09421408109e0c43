package image

import (
	"debug/elf"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// binDir is a directory with fake demo-app and agnhost binaries and fake
// extracted nginx and apache2-bin packages (scripts, so no libraries), and
// a fake busybox beside it.
func binDir(t *testing.T) (bin, busybox string) {
	t.Helper()
	bin = t.TempDir()
	writeFile(t, bin, "demo-app", "demo", 0o755)
	writeFile(t, bin, "agnhost", "agnhost", 0o755)
	sbin := filepath.Join(bin, NginxRoot, "usr", "sbin")
	if err := os.MkdirAll(sbin, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, sbin, "nginx", "#!/bin/sh\n", 0o755)
	apache := filepath.Join(bin, ApacheRoot)
	for _, d := range []string{"usr/sbin", apacheModuleDir} {
		if err := os.MkdirAll(filepath.Join(apache, filepath.FromSlash(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(apache, "usr", "sbin"), "apache2", "#!/bin/sh\n", 0o755)
	for _, m := range apacheModules {
		writeFile(t, filepath.Join(apache, filepath.FromSlash(apacheModuleDir)), m.file, "module", 0o644)
	}
	return bin, writeFile(t, t.TempDir(), "busybox", "bb", 0o755)
}

func TestLabNamesBusyboxStaticWhenBusyboxIsMissing(t *testing.T) {
	bin, _ := binDir(t)
	_, err := lab(bin, filepath.Join(t.TempDir(), "busybox"))
	if err == nil || !strings.Contains(err.Error(), "busybox-static") {
		t.Fatalf("lab() = %v, want an error naming the Debian package busybox-static", err)
	}
}

func TestLabSaysHowToBuildAMissingBinary(t *testing.T) {
	_, bb := binDir(t)
	_, err := lab(t.TempDir(), bb)
	if err == nil || !strings.Contains(err.Error(), "demo-app") || !strings.Contains(err.Error(), "make lab-node") {
		t.Fatalf("lab() = %v, want an error naming demo-app and make lab-node", err)
	}
}

func TestLabSaysHowToGetAMissingNginx(t *testing.T) {
	bin, bb := binDir(t)
	if err := os.RemoveAll(filepath.Join(bin, NginxRoot)); err != nil {
		t.Fatal(err)
	}
	_, err := lab(bin, bb)
	if err == nil || !strings.Contains(err.Error(), "nginx-root/usr/sbin/nginx") || !strings.Contains(err.Error(), "make lab-node") {
		t.Fatalf("lab() = %v, want an error naming nginx-root/usr/sbin/nginx and make lab-node", err)
	}
}

func TestLabImages(t *testing.T) {
	bin, bb := binDir(t)
	specs, err := lab(bin, bb)
	if err != nil {
		t.Fatal(err)
	}
	byRef := map[string]Spec{}
	for _, s := range specs {
		byRef[s.Ref] = s
	}
	want := []string{"rollcheck/demo-app:v1", "rollcheck/demo-app:v2", AgnhostRef, PauseRef, NginxRef, HttpdRef}
	for _, r := range want {
		if _, ok := byRef[r]; !ok {
			t.Fatalf("no image %s in %v", r, specs)
		}
	}
	if len(specs) != len(want) {
		t.Fatalf("%d images, want %d", len(specs), len(want))
	}
	for _, v := range []string{"v1", "v2"} {
		s := byRef["rollcheck/demo-app:"+v]
		for _, e := range []string{"APP_VERSION=" + v, "PORT=8080", "ADDRESS=0.0.0.0", "PATH=/bin"} {
			if !slices.Contains(s.Env, e) {
				t.Errorf("demo-app:%s env %v lacks %s", v, s.Env, e)
			}
		}
		if !slices.Equal(s.Entrypoint, []string{"/demo-app"}) {
			t.Errorf("demo-app:%s entrypoint %v", v, s.Entrypoint)
		}
	}
	if s := byRef[PauseRef]; !slices.Equal(s.Entrypoint, []string{"/agnhost"}) || !slices.Equal(s.Cmd, []string{"pause"}) {
		t.Errorf("pause image runs %v %v, want /agnhost pause", s.Entrypoint, s.Cmd)
	}
	if s := byRef[AgnhostRef]; !slices.Equal(s.Entrypoint, []string{"/agnhost"}) || len(s.Cmd) != 0 {
		t.Errorf("agnhost image runs %v %v, want /agnhost", s.Entrypoint, s.Cmd)
	}
	if s := byRef[NginxRef]; !slices.Equal(s.Entrypoint, []string{"/usr/sbin/nginx", "-g", "daemon off;"}) || len(s.Cmd) != 0 ||
		!slices.Equal(s.Env, []string{"PATH=/usr/sbin:/bin"}) {
		t.Errorf("nginx image runs %v %v with %v, want /usr/sbin/nginx -g 'daemon off;' with PATH=/usr/sbin:/bin", s.Entrypoint, s.Cmd, s.Env)
	}
	if s := byRef[HttpdRef]; !slices.Equal(s.Entrypoint, []string{"/usr/sbin/apache2", "-DFOREGROUND"}) || len(s.Cmd) != 0 {
		t.Errorf("httpd image runs %v %v, want /usr/sbin/apache2 -DFOREGROUND", s.Entrypoint, s.Cmd)
	}
	for _, s := range specs {
		paths := map[string]File{}
		for _, f := range s.Files {
			paths[f.Path] = f
		}
		if paths["/bin/busybox"].Source != bb {
			t.Errorf("%s: /bin/busybox from %q, want %q", s.Ref, paths["/bin/busybox"].Source, bb)
		}
		for _, l := range []string{"/bin/sh", "/bin/sleep", "/bin/cat"} {
			if paths[l].Link != "busybox" {
				t.Errorf("%s: %s is not a link to busybox", s.Ref, l)
			}
		}
	}
}

func TestWriteLabWritesOneArchivePerImage(t *testing.T) {
	bin, bb := binDir(t)
	specs, err := lab(bin, bb)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	built, err := writeSpecs(specs, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(built) != len(specs) {
		t.Fatalf("wrote %d archives, want %d", len(built), len(specs))
	}
	for i, b := range built {
		if b.Ref != specs[i].Ref || b.Path != filepath.Join(out, FileName(b.Ref)) {
			t.Fatalf("built %+v for %s", b, specs[i].Ref)
		}
		img, err := tarball.ImageFromPath(b.Path, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil || d != b.Digest {
			t.Fatalf("%s: digest in the file %s (%v), reported %s", b.Ref, d, err, b.Digest)
		}
		id, err := img.ConfigName()
		if err != nil || id != b.ID {
			t.Fatalf("%s: config digest in the file %s (%v), reported %s", b.Ref, id, err, b.ID)
		}
	}
	if FileName(PauseRef) != "registry.k8s.io_pause_3.10.tar" {
		t.Fatalf("FileName(%s) = %s", PauseRef, FileName(PauseRef))
	}
}

func TestLabRefusesADynamicallyLinkedBinary(t *testing.T) {
	bin, bb := binDir(t)
	dynamic := "/bin/ls" // dynamically linked on Debian
	f, err := elf.Open(dynamic)
	if err != nil {
		t.Skipf("no ELF %s: %v", dynamic, err)
	}
	interp := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
	f.Close()
	if !interp {
		t.Skipf("%s is statically linked here", dynamic)
	}
	raw, err := os.ReadFile(dynamic)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, bin, "agnhost", string(raw), 0o755)
	_, err = lab(bin, bb)
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") || !strings.Contains(err.Error(), "agnhost") {
		t.Fatalf("lab() = %v, want an error that agnhost is dynamically linked", err)
	}
}
