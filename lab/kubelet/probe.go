package kubelet

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const maxProbeOutput = 10 << 10

var probeTransport = &http.Transport{
	Proxy:             nil,
	DisableKeepAlives: true,                                  // as the kubelet's prober: one connection per probe
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes do not verify, like the kubelet
}

// probe runs one probe attempt with timeout. Probes and hooks never dial the
// pod IP label: they go to 127.0.0.1 and the port mapped for the pod.
func (w *podWorker) probe(ctx context.Context, c *container, h v1.ProbeHandler, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.Exec != nil:
		out, code, err := w.exec(ctx, c, h.Exec.Command)
		if err != nil {
			if ctx.Err() == context.DeadlineExceeded {
				return false, fmt.Sprintf("command %q timed out", h.Exec.Command)
			}
			return false, err.Error()
		}
		if code != 0 {
			return false, fmt.Sprintf("command %q exited with %d: %s", h.Exec.Command, code, out)
		}
		return true, ""
	case h.HTTPGet != nil:
		if err := w.httpGet(ctx, c, h.HTTPGet); err != nil {
			return false, err.Error()
		}
		return true, ""
	case h.TCPSocket != nil:
		port, err := w.resolvePort(c, h.TCPSocket.Port)
		if err != nil {
			return false, err.Error()
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return false, err.Error()
		}
		_ = conn.Close()
		return true, ""
	case h.GRPC != nil:
		return false, "gRPC probes are not supported by the lab kubelet"
	}
	return false, "probe has no handler"
}

// exec runs argv with the container's environment in its own process group,
// killed with the group when ctx ends.
func (w *podWorker) exec(ctx context.Context, c *container, argv []string) (string, int, error) {
	if len(argv) == 0 {
		return "", -1, errors.New("empty command")
	}
	env, _ := w.containerEnv(&c.spec)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = w.logDir
	out := &limitedBuffer{max: maxProbeOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	if err := startCmd(cmd); err != nil {
		return "", -1, err
	}
	err := cmd.Wait()
	// Leave no stray children of the command behind.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if ctx.Err() != nil {
		return out.String(), -1, ctx.Err()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return strings.TrimSpace(out.String()), exitCode(ee.ProcessState), nil
	}
	if err != nil {
		return out.String(), -1, err
	}
	return strings.TrimSpace(out.String()), 0, nil
}

func (w *podWorker) httpGet(ctx context.Context, c *container, g *v1.HTTPGetAction) error {
	port, err := w.resolvePort(c, g.Port)
	if err != nil {
		return err
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kube-probe/1.35")
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{
		Transport: probeTransport,
		// Like the kubelet, a redirect off the pod's own host ends the probe
		// with the 3xx (a success); it must never dial a pod IP label.
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if r.URL.Hostname() != "127.0.0.1" || len(via) >= 10 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProbeOutput))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	_ = body
	return nil
}

// resolvePort maps a probe/hook port (number or container port name) to the
// pod's loopback port.
func (w *podWorker) resolvePort(c *container, p intstr.IntOrString) (int, error) {
	num := p.IntVal
	if p.Type == intstr.String {
		num = 0
		for _, cp := range c.spec.Ports {
			if cp.Name == p.StrVal {
				num = cp.ContainerPort
			}
		}
		if num == 0 {
			if n, err := strconv.Atoi(p.StrVal); err == nil {
				num = int32(n)
			} else {
				return 0, fmt.Errorf("container %s has no port named %q", c.spec.Name, p.StrVal)
			}
		}
	}
	w.mu.Lock()
	lp, ok := w.ports[num]
	w.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("port %d has no loopback mapping", num)
	}
	return lp, nil
}

// limitedBuffer keeps the first max bytes written.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
