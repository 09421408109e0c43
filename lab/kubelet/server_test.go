package kubelet

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"
)

// apiBase waits for the Node to publish the kubelet API's port and returns
// the API's base URL.
func (h *harness) apiBase() string {
	h.t.Helper()
	var port int32
	h.waitFor("node with a kubelet endpoint", 10*time.Second, func() bool {
		n, err := h.client.CoreV1().Nodes().Get(context.Background(), "lab-node", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, a := range n.Status.Addresses {
			if a.Type == v1.NodeInternalIP && a.Address != "127.0.0.1" {
				h.t.Fatalf("InternalIP %s, want 127.0.0.1 (the address the API server dials)", a.Address)
			}
		}
		port = n.Status.DaemonEndpoints.KubeletEndpoint.Port
		return port != 0
	})
	return fmt.Sprintf("https://127.0.0.1:%d", port)
}

// insecure is how the API server talks to a kubelet without
// --kubelet-certificate-authority: TLS without verifying the certificate.
var insecure = &http.Client{
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	Timeout:   30 * time.Second,
}

func getText(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := insecure.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode, string(b)
}

func TestContainerLogsServesTheCurrentRunWithTailLimitFollowAndPrevious(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("talk", map[string]string{"BANNER": "one|two|three"}, nil))
	base := h.apiBase()
	p := h.waitPod("talk", "Ready=True", isReady)
	app := fmt.Sprintf("http://127.0.0.1:%d", portsOf(t, p)["8080"])
	logs := base + "/containerLogs/default/talk/app"

	for _, tt := range []struct {
		name, query string
		code        int
		want        string
	}{
		{"all of the log", "", 200, "one\ntwo\nthree\n"},
		{"tailLines keeps the last lines", "?tailLines=2", 200, "two\nthree\n"},
		{"tailLines=0 gives nothing", "?tailLines=0", 200, ""},
		{"tailLines beyond the log gives all of it", "?tailLines=10", 200, "one\ntwo\nthree\n"},
		{"the old tail parameter still works", "?tail=1", 200, "three\n"},
		{"limitBytes cuts the answer", "?limitBytes=5", 200, "one\nt"},
		{"sinceSeconds covering the whole run is answered", "?sinceSeconds=3600", 200, "one\ntwo\nthree\n"},
		{"sinceTime after every line gives nothing", "?sinceTime=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), 200, ""},
		{"previous without a restart is refused", "?previous=true", 400, `previous terminated container "app" in pod "talk" not found`},
		{"invalid options are refused", "?tailLines=-1", 422, "tailLines must be a non-negative integer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := getText(t, logs+tt.query)
			if code != tt.code || (code == 200 && body != tt.want) || (code != 200 && !strings.Contains(body, tt.want)) {
				t.Errorf("got %d %q, want %d %q", code, body, tt.code, tt.want)
			}
		})
	}
	t.Run("timestamps are the time each line was written", func(t *testing.T) {
		code, body := getText(t, logs+"?timestamps=true&tailLines=1")
		ts, line, _ := strings.Cut(body, " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if code != 200 || err != nil || line != "three\n" || time.Since(at) > time.Minute || time.Since(at) < 0 {
			t.Errorf("got %d %q (%v)", code, body, err)
		}
	})
	t.Run("unknown pods and containers are 404 with a clear message", func(t *testing.T) {
		for path, want := range map[string]string{
			"/containerLogs/default/nope/app": "pod default/nope not found on node lab-node",
			"/containerLogs/other/talk/app":   "pod other/talk not found on node lab-node",
			"/containerLogs/default/talk/web": `container "web" not found in pod default/talk (its containers: app)`,
		} {
			if code, body := getText(t, base+path); code != 404 || !strings.Contains(body, want) {
				t.Errorf("%s: got %d %q, want 404 %q", path, code, body, want)
			}
		}
	})

	t.Run("follow streams new output and ends when the process exits", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, logs+"?follow=true&tailLines=1", nil)
		resp, err := insecure.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		lines := make(chan string)
		ended := make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
			ended <- sc.Err()
		}()
		next := func(want string) {
			t.Helper()
			select {
			case got := <-lines:
				if got != want {
					t.Fatalf("followed line %q, want %q", got, want)
				}
			case <-ctx.Done():
				t.Fatalf("no line %q in time", want)
			}
		}
		next("three")
		httpGetBody(t, app+"/say?msg=hello")
		next("hello")
		httpGetBody(t, app+"/say?msg=again")
		next("again")
		httpGetBody(t, app+"/say?msg=oops&to=stderr")
		next("oops")
		_, _ = http.Get(app + "/quit") // the process exits 1 and is restarted
		select {
		case err := <-ended:
			if err != nil {
				t.Errorf("stream ended with %v, want EOF", err)
			}
		case got := <-lines:
			t.Errorf("unexpected line %q after the process exited", got)
		case <-ctx.Done():
			t.Error("follow did not end when the process exited")
		}
	})

	t.Run("after a restart the log is the new run's and previous the old one's", func(t *testing.T) {
		h.waitPod("talk", "restarted and Ready", func(p *v1.Pod) bool {
			return isReady(p) && p.Status.ContainerStatuses[0].RestartCount == 1
		})
		for query, want := range map[string]string{
			"?previous=true":               "one\ntwo\nthree\nhello\nagain\noops\n",
			"?previous=true&stream=Stdout": "one\ntwo\nthree\nhello\nagain\n",
			"?previous=true&stream=Stderr": "oops\n",
		} {
			if code, body := getText(t, logs+query); code != 200 || body != want {
				t.Errorf("%s: %d %q, want %q", query, code, body, want)
			}
		}
		if code, body := getText(t, logs); code != 200 || body != "one\ntwo\nthree\n" {
			t.Errorf("current: %d %q", code, body)
		}
	})
}

// execIn runs argv in the container through the kubelet API with client-go's
// SPDY executor (what the API server speaks to a kubelet).
func execIn(t *testing.T, base, pod, ctr string, argv []string, stdin io.Reader, tty bool) (string, string, error) {
	t.Helper()
	q := url.Values{"command": argv, v1.ExecStdoutParam: {"1"}}
	if !tty {
		q.Set(v1.ExecStderrParam, "1")
	}
	if stdin != nil {
		q.Set(v1.ExecStdinParam, "1")
	}
	if tty {
		q.Set(v1.ExecTTYParam, "1")
	}
	u, _ := url.Parse(base + "/exec/default/" + pod + "/" + ctr + "?" + q.Encode())
	cfg := &rest.Config{Host: base, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	ex, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, u)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	opts := remotecommand.StreamOptions{Stdin: stdin, Stdout: &out, Tty: tty}
	if !tty {
		opts.Stderr = &errOut
	}
	err = ex.StreamWithContext(ctx, opts)
	return out.String(), errOut.String(), err
}

func TestExecRunsTheCommandWithTheContainersEnvironment(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("box", map[string]string{"GREETING": "hi-$(POD_NAME)"}, nil))
	base := h.apiBase()
	h.waitPod("box", "Ready=True", isReady)

	t.Run("output, error output, environment, working directory and exit code", func(t *testing.T) {
		out, errOut, err := execIn(t, base, "box", "app", []string{"sh", "-c", `echo "$GREETING $PORT_8080"; pwd; echo oops >&2; exit 3`}, nil, false)
		var exitErr utilexec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitStatus() != 3 {
			t.Errorf("err = %v, want exit code 3", err)
		}
		p, _ := h.get("box")
		want := fmt.Sprintf("hi-box %d\n%s\n", portsOf(t, p)["8080"], filepath.Join(h.dir, "pods", "default_box"))
		if out != want || errOut != "oops\n" {
			t.Errorf("stdout %q stderr %q, want %q and %q", out, errOut, want, "oops\n")
		}
	})
	t.Run("stdin reaches the command", func(t *testing.T) {
		out, _, err := execIn(t, base, "box", "app", []string{"cat"}, strings.NewReader("ping\n"), false)
		if err != nil || out != "ping\n" {
			t.Errorf("cat: %q, %v", out, err)
		}
	})
	t.Run("with tty the command runs on a terminal", func(t *testing.T) {
		out, _, err := execIn(t, base, "box", "app", []string{"sh", "-c", "test -t 0 && test -t 1 && echo on-a-tty"}, strings.NewReader(""), true)
		if err != nil || strings.TrimSpace(out) != "on-a-tty" {
			t.Errorf("tty: %q, %v", out, err)
		}
	})
	t.Run("a command that does not exist is an error", func(t *testing.T) {
		_, _, err := execIn(t, base, "box", "app", []string{"no-such-command-here"}, nil, false)
		if err == nil || !strings.Contains(err.Error(), "no-such-command-here") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("an unknown container is not found", func(t *testing.T) {
		_, _, err := execIn(t, base, "box", "web", []string{"true"}, nil, false)
		if err == nil || !strings.Contains(err.Error(), `container "web" not found in pod default/box`) {
			t.Errorf("err = %#v", err)
		}
	})
	t.Run("the command dies with the container", func(t *testing.T) {
		mark := filepath.Join(t.TempDir(), "started")
		done := make(chan error, 1)
		go func() {
			_, _, err := execIn(t, base, "box", "app", []string{"sh", "-c", "touch " + mark + "; exec sleep 60"}, nil, false)
			done <- err
		}()
		p := h.waitPod("box", "Ready", isReady)
		h.waitFor("the exec'd command to run", 10*time.Second, func() bool {
			_, err := os.Stat(mark)
			return err == nil
		})
		_, _ = http.Get(fmt.Sprintf("http://127.0.0.1:%d/quit", portsOf(t, p)["8080"]))
		select {
		case err := <-done:
			var exitErr utilexec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitStatus() != 137 {
				t.Errorf("err = %v, want exit code 137 (SIGKILL)", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("exec'd sleep still runs after its container exited")
		}
	})
}

func TestPortForwardReachesThePodsContainerPort(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("fwd", nil, nil))
	base := h.apiBase()
	p := h.waitPod("fwd", "Ready=True", isReady)

	u, _ := url.Parse(base + "/portForward/default/fwd")
	cfg := &rest.Config{Host: base, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080", "0:9999"}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	defer func() {
		close(stop)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("port-forward did not stop")
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port-forward: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("port-forward not ready")
	}
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	local := map[uint16]uint16{}
	for _, fp := range ports {
		local[fp.Remote] = fp.Local
	}
	for i := range 3 { // several connections over one forward
		body := httpGetBody(t, fmt.Sprintf("http://127.0.0.1:%d/env?k=HOSTNAME", local[8080]))
		if want := "fwd fwd " + p.Status.PodIP + " "; body != want {
			t.Errorf("request %d through the forward: %q, want %q", i, body, want)
		}
	}
	// A port the pod does not have: the connection is closed unanswered.
	c := &http.Client{Timeout: 10 * time.Second}
	if resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", local[9999])); err == nil {
		_ = resp.Body.Close()
		t.Errorf("GET through a forward of port 9999 answered %s", resp.Status)
	}
}
