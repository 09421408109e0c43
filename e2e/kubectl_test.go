package e2e

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubectlLogsExecAndPortForwardReachADemoPod: the user's kubectl works
// against the lab's node as against a real one. The API server reaches the
// kubelet at the Node's InternalIP (no DNS lookup of the node's name), and
// the kubelet serves logs (--tail and -f), exec and port-forward.
func TestKubectlLogsExecAndPortForwardReachADemoPod(t *testing.T) {
	needLab(t)
	resetDemo(t)
	pod := demoPod(t)

	t.Run("logs --tail, --timestamps and --since show the app's lines", func(t *testing.T) {
		all := kubectl(t, "logs", pod)
		for _, want := range []string{pod + ": started", pod + ": listening on"} {
			if !strings.Contains(all, want) {
				t.Errorf("kubectl logs %s lacks %q:\n%s", pod, want, all)
			}
		}
		tail := kubectl(t, "logs", pod, "--tail=1")
		if lines := strings.Split(strings.TrimSuffix(tail, "\n"), "\n"); len(lines) != 1 || !strings.Contains(lines[0], pod+": listening on") {
			t.Errorf("kubectl logs --tail=1: %q, want the one line 'listening on'", tail)
		}
		stamped := kubectl(t, "logs", pod, "--tail=1", "--timestamps", "--since=1h")
		ts, line, _ := strings.Cut(stamped, " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || line != tail || time.Since(at) > time.Hour {
			t.Errorf("kubectl logs --tail=1 --timestamps --since=1h: %q, want a recent timestamp and %q", stamped, tail)
		}
	})

	t.Run("exec runs a command in the pod's container", func(t *testing.T) {
		out := kubectl(t, "exec", pod, "--", "sh", "-c", `echo "hi from $HOSTNAME"`)
		if out != "hi from "+pod+"\n" {
			t.Errorf("kubectl exec: %q, want %q", out, "hi from "+pod+"\n")
		}
		err := kubectlRun(t, 30*time.Second, "exec", pod, "--", "sh", "-c", "exit 3")
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
			t.Errorf("kubectl exec of 'exit 3': %v, want exit code 3", err)
		}
	})

	t.Run("port-forward reaches the app", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, lab.kubectl, "--kubeconfig", lab.kubeconfig,
			"port-forward", "--address", "127.0.0.1", "pod/"+pod, ":8080")
		lines, _ := startLines(t, cmd)
		addr := ""
		re := regexp.MustCompile(`Forwarding from (127\.0\.0\.1:\d+) -> 8080`)
		for addr == "" {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatal("kubectl port-forward exited before forwarding")
				}
				if m := re.FindStringSubmatch(line); m != nil {
					addr = m[1]
				}
			case <-ctx.Done():
				t.Fatal("kubectl port-forward did not say where it forwards")
			}
		}
		client := &http.Client{Timeout: 10 * time.Second}
		for i := range 3 {
			resp, err := client.Get("http://" + addr + "/")
			if err != nil {
				t.Fatalf("GET %d through the forward: %v", i, err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("X-Pod-Name") != pod || strings.TrimSpace(string(body)) != "hello from "+pod {
				t.Errorf("GET %d through the forward: %s %q X-Pod-Name %q, want 200 from %s", i, resp.Status, body, resp.Header.Get("X-Pod-Name"), pod)
			}
		}
	})

	t.Run("logs -f follows the app until its container exits", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, lab.kubectl, "--kubeconfig", lab.kubeconfig, "logs", "-f", "--tail=1", pod)
		lines, exited := startLines(t, cmd)
		var seen []string
		next := func(want string) {
			t.Helper()
			for {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("kubectl logs -f ended before %q:\n%s", want, strings.Join(seen, "\n"))
					}
					seen = append(seen, line)
					if strings.Contains(line, want) {
						return
					}
				case <-ctx.Done():
					t.Fatalf("kubectl logs -f: no %q in time:\n%s", want, strings.Join(seen, "\n"))
				}
			}
		}
		next(pod + ": listening on")
		// Deleting the pod makes the app log its shutdown; the stream ends
		// when the container has exited.
		kubectl(t, "delete", "pod", pod, "--wait=false")
		next(pod + ": SIGTERM received")
		next(pod + ": shut down")
		for line := range lines {
			seen = append(seen, line)
		}
		if err := <-exited; err != nil || ctx.Err() != nil {
			t.Errorf("kubectl logs -f did not end by itself once the container exited: %v (context: %v):\n%s", err, ctx.Err(), strings.Join(seen, "\n"))
		}
	})

	t.Run("the API server never looked the node's name up", func(t *testing.T) {
		logs, _ := filepath.Glob(filepath.Join(lab.dir, "logs", "*.log"))
		if !containsBase(logs, "apiserver.log") {
			t.Fatalf("no apiserver.log among the lab's logs %v", logs)
		}
		for _, f := range logs {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), "no such host") {
				t.Errorf("%s mentions a failed DNS lookup", f)
			}
		}
	})
	waitSteady(t) // the deleted pod's replacement is serving again
}

// demoPodList lists deployment/demo's pods (app=demo).
func demoPodList(t *testing.T) []corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods, err := lab.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=demo"})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

// demoPod returns the name of a running demo pod.
func demoPod(t *testing.T) string {
	t.Helper()
	for _, p := range demoPodList(t) {
		if p.DeletionTimestamp == nil && p.Status.PodIP != "" && len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].Ready {
			return p.Name
		}
	}
	t.Fatal("no ready demo pod")
	return ""
}

// kubectlRun runs the lab's kubectl with a timeout and returns its error.
func kubectlRun(t *testing.T, timeout time.Duration, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, lab.kubectl, append([]string{"--kubeconfig", lab.kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		t.Logf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return err
}

// startLines starts cmd and sends each line of its output; lines closes
// when the output ends, and exited then gives the command's result. The
// command is killed at the test's end if it still runs (its context should
// end it first).
func startLines(t *testing.T, cmd *exec.Cmd) (lines <-chan string, exited <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		_ = pw.Close()
		done <- err
	}()
	out := make(chan string, 100)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range out { // unblocks the scanner until the output ends
		}
	})
	return out, done
}

func containsBase(paths []string, base string) bool {
	for _, p := range paths {
		if filepath.Base(p) == base {
			return true
		}
	}
	return false
}
