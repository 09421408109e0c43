package cluster

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/lab/node"
)

func TestTraefikRunsInTheNamespaceAndTriesNothingOutside(t *testing.T) {
	l := node.NewLayout("/tmp/lab")
	argv := traefikCommand(l, "/bin/traefik", "/tmp/lab/kubeconfig")
	if len(argv) < 3 || argv[0] != "nsenter" || argv[1] != "--net="+l.NetnsPath() {
		t.Fatalf("argv %q: want nsenter --net=%s first", argv, l.NetnsPath())
	}
	for _, want := range []string{
		"KUBECONFIG=/tmp/lab/kubeconfig",
		"/bin/traefik",
		"--global.checknewversion=false",
		"--global.sendanonymoususage=false",
		"--entrypoints.web.address=" + node.NodeIP + ":8000",
		"--providers.kubernetesingress=true",
	} {
		if !slices.Contains(argv, want) {
			t.Errorf("argv %q lacks %q", argv, want)
		}
	}
	for _, a := range argv {
		for _, banned := range []string{"--api", "--metrics", "--ping", "--tracing", "--hub", "--experimental"} {
			if strings.HasPrefix(a, banned) {
				t.Errorf("argv has %q: the entrypoint must be Traefik's only listener and nothing may call out", a)
			}
		}
	}
}

func TestTraefikBinaryMissingSaysHowToBuildIt(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "rollcheck-lab")
	if _, err := traefikBinary(exe); err == nil || !strings.Contains(err.Error(), "make lab-traefik") {
		t.Fatalf("error %v, want one naming make lab-traefik", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "traefik"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if bin, err := traefikBinary(exe); err != nil || bin != filepath.Join(dir, "traefik") {
		t.Fatalf("traefikBinary = %q, %v; want %s", bin, err, filepath.Join(dir, "traefik"))
	}
}
