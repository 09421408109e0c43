package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKubectlRollcheckPlugin: `make install` puts rollcheck and
// kubectl-rollcheck in BINDIR, and the kubectl that `make lab` builds finds
// the plugin on PATH and runs it: `kubectl rollcheck version`, its help named
// as kubectl's plugins are, and a command that reaches the lab with
// kubectl's own flags (--kubeconfig, -n).
func TestKubectlRollcheckPlugin(t *testing.T) {
	needLab(t)
	resetDemo(t)
	bindir := t.TempDir()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	install := exec.Command("make", "-C", root, "install", "BINDIR="+bindir)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, name := range []string{"rollcheck", "kubectl-rollcheck"} {
		if fi, err := os.Stat(filepath.Join(bindir, name)); err != nil || fi.Mode()&0o111 == 0 {
			t.Fatalf("make install: %s not installed as an executable (%v)", name, err)
		}
	}

	env := append(os.Environ(), "PATH="+bindir+string(os.PathListSeparator)+os.Getenv("PATH"))
	plugin := func(args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, lab.kubectl, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}

	out, err := plugin("plugin", "list")
	if err != nil || !strings.Contains(out, filepath.Join(bindir, "kubectl-rollcheck")) {
		t.Fatalf("kubectl plugin list: %v\n%s", err, out)
	}
	out, err = plugin("rollcheck", "version")
	if err != nil || !strings.HasPrefix(out, "rollcheck ") {
		t.Fatalf("kubectl rollcheck version: %v\n%s", err, out)
	}
	want, err := exec.Command(filepath.Join(bindir, "rollcheck"), "version").Output()
	if err != nil || out != string(want) {
		t.Errorf("kubectl rollcheck version printed %q, rollcheck version %q (%v)", out, want, err)
	}
	out, err = plugin("rollcheck", "--help")
	if err != nil || !strings.Contains(out, "kubectl rollcheck [command]") {
		t.Errorf("kubectl rollcheck --help does not name itself as the plugin: %v\n%s", err, out)
	}
	out, err = plugin("rollcheck", "lint", "deployment/demo", "--kubeconfig", lab.kubeconfig, "-n", "default")
	if !strings.Contains(out, "deployment/demo (namespace default)") {
		t.Errorf("kubectl rollcheck lint deployment/demo with kubectl's flags: %v\n%s", err, out)
	}
}
