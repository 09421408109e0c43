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
	common := []string{
		"KUBECONFIG=/tmp/lab/kubeconfig",
		"/bin/traefik",
		"--global.checknewversion=false",
		"--global.sendanonymoususage=false",
		"--accesslog=true",
		"--accesslog.format=json",
		"--accesslog.filepath=/tmp/lab/logs/traefik-access.ndjson",
	}
	ingress := []string{"--entrypoints.web.address=" + node.NodeIP + ":8000", "--entrypoints.web.asdefault=true", "--providers.kubernetesingress=true"}
	gateway := []string{"--entrypoints.gateway.address=" + node.NodeIP + ":8001", "--providers.kubernetesgateway=true"}
	tests := []struct {
		name             string
		ingress, gateway bool
		want, wantNot    []string
	}{
		{"the ingress front alone has the Ingress provider on web", true, false, ingress, gateway},
		{"the Gateway front alone has the Gateway provider on its own entrypoint", false, true, gateway, ingress},
		{"both fronts are one Traefik with both providers, each on its entrypoint", true, true, append(slices.Clone(ingress), gateway...), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv := traefikCommand(l, traefikConfig{bin: "/bin/traefik", kubeconfig: "/tmp/lab/kubeconfig",
				ingress: tt.ingress, gateway: tt.gateway, accessLog: "/tmp/lab/logs/traefik-access.ndjson"})
			if len(argv) < 3 || argv[0] != "nsenter" || argv[1] != "--net="+l.NetnsPath() {
				t.Fatalf("argv %q: want nsenter --net=%s first", argv, l.NetnsPath())
			}
			for _, want := range append(slices.Clone(common), tt.want...) {
				if !slices.Contains(argv, want) {
					t.Errorf("argv %q lacks %q", argv, want)
				}
			}
			for _, not := range tt.wantNot {
				if slices.Contains(argv, not) {
					t.Errorf("argv %q has %q", argv, not)
				}
			}
			for _, a := range argv {
				for _, banned := range []string{"--api", "--metrics", "--ping", "--tracing", "--hub", "--experimental", "--providers.kubernetesgateway.experimentalchannel"} {
					if strings.HasPrefix(a, banned) {
						t.Errorf("argv has %q: the entrypoints must be Traefik's only listeners, nothing may call out, and only the standard channel's CRDs are installed", a)
					}
				}
			}
		})
	}
}

func TestTraefikBinaryMissingSaysHowToBuildIt(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "rollcheck-lab")
	if _, err := traefikBinary(exe, "--ingress"); err == nil || !strings.Contains(err.Error(), "make lab-traefik") {
		t.Fatalf("error %v, want one naming make lab-traefik", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "traefik"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if bin, err := traefikBinary(exe, "--ingress"); err != nil || bin != filepath.Join(dir, "traefik") {
		t.Fatalf("traefikBinary = %q, %v; want %s", bin, err, filepath.Join(dir, "traefik"))
	}
}
