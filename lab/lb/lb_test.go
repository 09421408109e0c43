package lb

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestCommandServesListenersAndAdmin(t *testing.T) {
	front, admin := freeAddr(t), freeAddr(t)
	cmd := NewCommand()
	cmd.SetErr(&syncBuf{})
	if err := cmd.ParseFlags([]string{"--service", "default/web=" + front, "--admin", admin, "--deregister-lag", "1s"}); err != nil {
		t.Fatal(err)
	}
	// Put the parsed flags through Complete/Validate and serve with a fake
	// clientset instead of a kubeconfig.
	o := optionsOf(t, cmd)
	if err := o.Complete(cmd); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.serve(ctx, client) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	waitFor(t, 5*time.Second, "503 from the front listener", func() bool {
		resp, err := http.Get("http://" + front + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	resp, err := http.Get("http://" + admin + "/targets")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var targets []TargetStatus
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil || len(targets) != 0 {
		t.Fatalf("/targets: %v %v, want an empty list", targets, err)
	}
}

// optionsOf recovers the Options bound to cmd's flags by re-reading them.
func optionsOf(t *testing.T, cmd *cobra.Command) *Options {
	t.Helper()
	f := cmd.Flags()
	o := &Options{}
	var err error
	if o.ServiceFlags, err = f.GetStringArray("service"); err != nil {
		t.Fatal(err)
	}
	o.Admin, _ = f.GetString("admin")
	o.DeregisterLag, _ = f.GetDuration("deregister-lag")
	o.RegisterLag, _ = f.GetDuration("register-lag")
	o.IdleTimeout, _ = f.GetDuration("idle-timeout")
	o.TargetTimeout, _ = f.GetDuration("target-timeout")
	return o
}
