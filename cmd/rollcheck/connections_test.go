package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/rollcheck/rollcheck/attack"
)

// parseRun runs `rollcheck run` with args up to the point the run would
// start and returns the merged options, or the usage error's text.
func parseRun(t *testing.T, args ...string) (*RunOptions, string) {
	t.Helper()
	var got *RunOptions
	f := newFactory(genericiooptions.NewTestIOStreamsDiscard())
	root := rootWith(f, newRunCommand(f, func(_ context.Context, o *RunOptions) error { got = o; return nil }))
	root.SetArgs(args)
	if err := root.ExecuteContext(context.Background()); err != nil {
		return nil, err.Error()
	}
	return got, ""
}

func TestConnectionsFlag(t *testing.T) {
	dir := t.TempDir()
	scenario := func(name, load string) string {
		p := filepath.Join(dir, name)
		body := "apiVersion: rollcheck/v1\ndeployment: web\naction: {restart: true}\nload: {targets: [\"http://127.0.0.1:1/\"], " + load + "}\n"
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	both := scenario("both.yaml", "connections: both")
	noKeepAlive := scenario("nokeepalive.yaml", "keepalive: false")
	ok := []string{"run", "deployment/web", "--restart", "--target", "http://127.0.0.1:1/"}
	tests := []struct {
		name    string
		args    []string
		want    attack.Connections
		wantErr string
	}{
		{name: "the default is reused (keep-alive)", args: ok, want: attack.ConnectionsReused},
		{name: "both", args: append(ok, "--connections", "both"), want: attack.ConnectionsBoth},
		{name: "new", args: append(ok, "--connections", "new"), want: attack.ConnectionsNew},
		{name: "--keepalive=false is new", args: append(ok, "--keepalive=false"), want: attack.ConnectionsNew},
		{name: "--keepalive=false with new agrees", args: append(ok, "--keepalive=false", "--connections", "new"), want: attack.ConnectionsNew},
		{name: "--keepalive=false with both is an error", args: append(ok, "--keepalive=false", "--connections", "both"), wantErr: "--keepalive and --connections disagree: keepalive false means connections new; it conflicts with connections both"},
		{name: "--keepalive with new is an error", args: append(ok, "--keepalive", "--connections", "new"), wantErr: "--keepalive and --connections disagree"},
		{name: "an unknown mode is named", args: append(ok, "--connections", "kept"), wantErr: `--connections "kept": want new, reused or both`},
		{name: "the file's connections are read", args: []string{"run", "-f", both}, want: attack.ConnectionsBoth},
		{name: "the file's keepalive false is new", args: []string{"run", "-f", noKeepAlive}, want: attack.ConnectionsNew},
		{name: "a flag replaces the file's connections", args: []string{"run", "-f", both, "--keepalive=false"}, want: attack.ConnectionsNew},
		{name: "a flag replaces the file's keepalive", args: []string{"run", "-f", noKeepAlive, "--connections", "both"}, want: attack.ConnectionsBoth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, errText := parseRun(t, tt.args...)
			if tt.wantErr != "" {
				if !strings.Contains(errText, tt.wantErr) {
					t.Fatalf("error %q, want %q", errText, tt.wantErr)
				}
				return
			}
			if errText != "" {
				t.Fatal(errText)
			}
			if got := o.Config.Attack.Connections; got != tt.want {
				t.Errorf("connections %q, want %q", got, tt.want)
			}
		})
	}
}
