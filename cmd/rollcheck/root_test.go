package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"
)

func TestTheBinaryNameDecidesTheDisplayName(t *testing.T) {
	tests := []struct {
		argv0, wantUsage string
	}{
		{"/usr/local/bin/rollcheck", "\n  rollcheck run [deployment/NAME]"},
		{"bin/rollcheck.test", "\n  rollcheck run [deployment/NAME]"},
		{"/home/me/.local/bin/kubectl-rollcheck", "\n  kubectl rollcheck run [deployment/NAME]"},
		{"/home/me/.krew/bin/kubectl-rollcheck", "\n  kubectl rollcheck run [deployment/NAME]"},
	}
	for _, tt := range tests {
		t.Run("run as "+tt.argv0+" shows"+strings.TrimPrefix(tt.wantUsage, "\n "), func(t *testing.T) {
			var out bytes.Buffer
			f := newFactory(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
			root := newRootCommand(f)
			setDisplayName(root, tt.argv0)
			root.SetArgs([]string{"run", "--help"})
			if err := root.ExecuteContext(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tt.wantUsage) {
				t.Errorf("usage lacks %q:\n%s", tt.wantUsage, out.String())
			}
		})
	}
}

// TestKrewManifestCoversTheReleasePlatforms reads plugins/krew/rollcheck.yaml
// and checks what krew and the release step (make krew-manifest) rely on.
func TestKrewManifestCoversTheReleasePlatforms(t *testing.T) {
	data, err := os.ReadFile("../../plugins/krew/rollcheck.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Version          string `json:"version"`
			ShortDescription string `json:"shortDescription"`
			Platforms        []struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				URI    string `json:"uri"`
				Sha256 string `json:"sha256"`
				Bin    string `json:"bin"`
				Files  []struct {
					From string `json:"from"`
					To   string `json:"to"`
				} `json:"files"`
			} `json:"platforms"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("krew manifest: %v", err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "rollcheck" {
		t.Errorf("manifest is %s %s %q", m.APIVersion, m.Kind, m.Metadata.Name)
	}
	want := map[string]bool{"linux/amd64": true, "linux/arm64": true, "darwin/amd64": true, "darwin/arm64": true}
	for _, p := range m.Spec.Platforms {
		l := p.Selector.MatchLabels
		platform := l["os"] + "/" + l["arch"]
		if !want[platform] {
			t.Errorf("platform %s listed twice or not released", platform)
		}
		delete(want, platform)
		if !strings.HasSuffix(p.URI, "rollcheck_VERSION_"+l["os"]+"_"+l["arch"]+".tar.gz") || p.Bin != "rollcheck" {
			t.Errorf("%s: uri %s, bin %s", platform, p.URI, p.Bin)
		}
		if want := "SHA256_" + strings.ToUpper(l["os"]+"_"+l["arch"]); p.Sha256 != want {
			t.Errorf("%s: sha256 %q, want the placeholder %q that `make krew-manifest` fills", platform, p.Sha256, want)
		}
	}
	for p := range want {
		t.Errorf("no archive for %s", p)
	}
}
