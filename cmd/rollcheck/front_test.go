package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// TestFrontFlag: an unknown --front is a usage error before the run; a
// given one is in the report as given, not inferred; a scenario file's
// load.front is taken unless the flag overrides it.
func TestFrontFlag(t *testing.T) {
	t.Run("an unknown front exits 2 before the run", func(t *testing.T) {
		code, stderr, ran := execute(t, nil, "run", "web", "--restart", "--target", "http://127.0.0.1:1/", "--front", "bogus")
		if code != exitcode.Usage || ran {
			t.Errorf("exit %d (ran: %v), want %d before the run", code, ran, exitcode.Usage)
		}
		if !strings.Contains(stderr, `--front must be one of alb, alb-instance, nlb, kube-proxy, ingress, gateway or auto, got "bogus"`) {
			t.Errorf("stderr does not name the values:\n%s", stderr)
		}
	})
	t.Run("a given front is reported as given", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		t.Cleanup(srv.Close)
		client := fake.NewClientset(deployment())
		allowAll(client, "")
		out := filepath.Join(t.TempDir(), "r.json")
		code, stderr, _ := execute(t, client, "run", "-n", "default", "web", "--watch-only", "--watch-timeout", "100ms",
			"--target", srv.URL+"/", "--baseline", "200ms", "--settle", "0s", "--front", "kube-proxy", "--report-json", out)
		if code != exitcode.Inconclusive {
			t.Fatalf("exit %d, want %d (no rollout came):\n%s", code, exitcode.Inconclusive, stderr)
		}
		r, err := report.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if r.Front == nil || *r.Front != (report.Front{Name: "kube-proxy"}) {
			t.Errorf("front %+v, want kube-proxy as given", r.Front)
		}
		if patched(client) {
			t.Error("something was patched")
		}
	})
	t.Run("a scenario's front is taken unless the flag overrides it", func(t *testing.T) {
		file := writeFile0(t, t.TempDir(), "s.yaml", []byte("apiVersion: rollcheck/v1\ndeployment: web\naction: {restart: true}\nload: {targets: [\"http://127.0.0.1:1/\"], front: nlb}\n"))
		for _, tc := range []struct {
			args []string
			want string
		}{{nil, "nlb"}, {[]string{"--front", "gateway"}, "gateway"}} {
			got, msg := parseRun(t, append([]string{"run", "-f", file}, tc.args...)...)
			if got == nil {
				t.Errorf("args %q: %s", tc.args, msg)
			} else if string(got.Config.Front) != tc.want {
				t.Errorf("args %q: front %q, want %q", tc.args, got.Config.Front, tc.want)
			}
		}
	})
}
