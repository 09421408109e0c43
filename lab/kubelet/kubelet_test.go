package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// The test binary doubles as the container process: with LAB_HELPER set it
// runs a tiny HTTP server instead of the tests.
//
//	LAB_HELPER=http      serve on $PORT: /ready → $READY_CODE (200), /healthz → $HEALTH_CODE (200),
//	                     /say?msg=M prints M on stdout (&to=stderr: on stderr), /quit exits 1; prints $BANNER lines
//	                     ("|"-separated) at start
//	LAB_HELPER=exit      exit with $EXIT_CODE at once
//	ON_SIGTERM=die       default Go behaviour: killed by SIGTERM (143)
//	ON_SIGTERM=exit0     append "sigterm" (and $MARK) to events.txt in the cwd and exit 0
//	ON_SIGTERM=ignore    ignore SIGTERM (only SIGKILL stops it)
func TestMain(m *testing.M) {
	if mode := os.Getenv("LAB_HELPER"); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

func helper(mode string) int {
	if mode == "exit" {
		n, _ := strconv.Atoi(os.Getenv("EXIT_CODE"))
		return n
	}
	switch os.Getenv("ON_SIGTERM") {
	case "ignore":
		signal.Ignore(syscall.SIGTERM)
	case "exit0":
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		go func() {
			<-ch
			appendLine("events.txt", strings.TrimSpace("sigterm "+os.Getenv("MARK")))
			os.Exit(0)
		}()
	}
	code := func(env string) int {
		if n, err := strconv.Atoi(os.Getenv(env)); err == nil {
			return n
		}
		return 200
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code("READY_CODE")) })
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code("HEALTH_CODE")) })
	mux.HandleFunc("/say", func(_ http.ResponseWriter, r *http.Request) {
		out := os.Stdout
		if r.URL.Query().Get("to") == "stderr" {
			out = os.Stderr
		}
		_, _ = fmt.Fprintln(out, r.URL.Query().Get("msg"))
	})
	mux.HandleFunc("/quit", func(http.ResponseWriter, *http.Request) { os.Exit(1) })
	if b := os.Getenv("BANNER"); b != "" {
		for _, line := range strings.Split(b, "|") {
			fmt.Println(line)
		}
	}
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "%s %s %s %s", os.Getenv(r.URL.Query().Get("k")), os.Getenv("POD_NAME"), os.Getenv("POD_IP"), os.Getenv("FROM_FIELD"))
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func appendLine(file, line string) {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	_, _ = fmt.Fprintln(f, line)
	_ = f.Close()
}

const testImage = "lab.test/helper:v1"

type harness struct {
	t      *testing.T
	client *fake.Clientset
	k      *Kubelet
	dir    string
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	client := fake.NewClientset()
	dir := t.TempDir()
	images := &ImageMap{}
	images.Add(ImageRule{Image: "lab.test/helper:*", Command: []string{os.Args[0]}})
	cfg := Config{
		NodeName:          "lab-node",
		Dir:               dir,
		Images:            images,
		HeartbeatInterval: 200 * time.Millisecond,
		MinGracePeriod:    500 * time.Millisecond,
		BackoffBase:       100 * time.Millisecond,
		BackoffMax:        200 * time.Millisecond,
		ShutdownGrace:     500 * time.Millisecond,
		Logf:              t.Logf,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	k, err := New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, client: client, k: k, dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- k.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

// stop cancels the kubelet and waits for every pod process to be gone.
func (h *harness) stop() {
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
		h.done <- nil
	case <-time.After(15 * time.Second):
		h.t.Error("kubelet did not stop")
	}
}

func testPod(name string, env map[string]string, mutate func(*v1.Pod)) *v1.Pod {
	var envs []v1.EnvVar
	for k, v := range env {
		envs = append(envs, v1.EnvVar{Name: k, Value: v})
	}
	envs = append(envs, v1.EnvVar{Name: "LAB_HELPER", Value: "http"})
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid")},
		Spec: v1.PodSpec{
			NodeName:                      "lab-node",
			RestartPolicy:                 v1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			Containers: []v1.Container{{
				Name:  "app",
				Image: testImage,
				Env:   envs,
				Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				// Ready then also means the helper has set up its SIGTERM handling.
				ReadinessProbe: &v1.Probe{PeriodSeconds: 1, ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(8080)}}},
			}},
		},
	}
	if mutate != nil {
		mutate(pod)
	}
	return pod
}

func (h *harness) create(pod *v1.Pod) {
	h.t.Helper()
	if _, err := h.client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) get(name string) (*v1.Pod, error) {
	return h.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
}

// waitFor polls cond until it holds or the deadline passes.
func (h *harness) waitFor(what string, timeout time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) waitPod(name, what string, cond func(*v1.Pod) bool) *v1.Pod {
	h.t.Helper()
	var last *v1.Pod
	h.waitFor(what, 20*time.Second, func() bool {
		p, err := h.get(name)
		if err != nil {
			return false
		}
		last = p
		return cond(p)
	})
	return last
}

// deleteGracefully does what the API server does on DELETE with a grace
// period: set deletionTimestamp and deletionGracePeriodSeconds.
func (h *harness) deleteGracefully(name string, grace int64) {
	h.t.Helper()
	p, err := h.get(name)
	if err != nil {
		h.t.Fatal(err)
	}
	now := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second))
	p.DeletionTimestamp = &now
	p.DeletionGracePeriodSeconds = &grace
	if _, err := h.client.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

// lastStatus returns the last status the kubelet wrote for a pod.
func (h *harness) lastStatus(name string) *v1.Pod {
	var last *v1.Pod
	for _, a := range h.client.Actions() {
		u, ok := a.(k8stesting.UpdateAction)
		if !ok || a.GetSubresource() != "status" {
			continue
		}
		if p, ok := u.GetObject().(*v1.Pod); ok && p.Name == name {
			last = p
		}
	}
	return last
}

func (h *harness) gone(name string) bool {
	_, err := h.get(name)
	return apierrors.IsNotFound(err)
}

func (h *harness) events(reason string) []v1.Event {
	list, err := h.client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var out []v1.Event
	for _, e := range list.Items {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func condition(p *v1.Pod, t v1.PodConditionType) v1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func isReady(p *v1.Pod) bool { return condition(p, v1.PodReady) == v1.ConditionTrue }

func portsOf(t *testing.T, p *v1.Pod) map[string]int {
	t.Helper()
	var m map[string]int
	if err := json.Unmarshal([]byte(p.Annotations[PortsAnnotation]), &m); err != nil {
		t.Fatalf("annotation %q: %v", p.Annotations[PortsAnnotation], err)
	}
	return m
}

func httpGetBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestPodBecomesRunningAndReadyWithPortsAnnotation(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("web", map[string]string{"GREETING": "hi-$(POD_NAME)"}, func(p *v1.Pod) {
		c := &p.Spec.Containers[0]
		c.Env = append(c.Env, v1.EnvVar{Name: "FROM_FIELD", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}})
		c.ReadinessProbe = &v1.Probe{PeriodSeconds: 1, ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}}
	}))
	p := h.waitPod("web", "Ready=True", isReady)

	if p.Status.Phase != v1.PodRunning {
		t.Errorf("phase = %s, want Running", p.Status.Phase)
	}
	if !strings.HasPrefix(p.Status.PodIP, "198.51.100.") || p.Status.HostIP != "127.0.0.1" {
		t.Errorf("podIP %q hostIP %q", p.Status.PodIP, p.Status.HostIP)
	}
	for _, ct := range []v1.PodConditionType{v1.PodScheduled, v1.PodInitialized, v1.ContainersReady, v1.PodReadyToStartContainers} {
		if condition(p, ct) != v1.ConditionTrue {
			t.Errorf("condition %s = %q, want True", ct, condition(p, ct))
		}
	}
	cs := p.Status.ContainerStatuses[0]
	if cs.State.Running == nil || !cs.Ready || cs.Started == nil || !*cs.Started || !strings.HasPrefix(cs.ContainerID, "lab://") {
		t.Errorf("container status %+v", cs)
	}
	ports := portsOf(t, p)
	lp := ports["8080"]
	if lp == 0 {
		t.Fatalf("annotation has no port for 8080: %v", ports)
	}
	body := httpGetBody(t, fmt.Sprintf("http://127.0.0.1:%d/env?k=GREETING", lp))
	want := fmt.Sprintf("hi-web web %s default", p.Status.PodIP)
	if body != want {
		t.Errorf("env seen by the process = %q, want %q", body, want)
	}
	for _, reason := range []string{"Pulled", "Created", "Started"} {
		h.waitFor("event "+reason, 5*time.Second, func() bool { return len(h.events(reason)) > 0 })
	}
	if _, err := os.Stat(filepath.Join(h.dir, "pods", "default_web", "app", "0.log")); err != nil {
		t.Errorf("container log: %v", err)
	}
}

func TestFailingReadinessProbeKeepsPodNotReady(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("sick", map[string]string{"READY_CODE": "503"}, func(p *v1.Pod) {
		p.Spec.Containers[0].ReadinessProbe = &v1.Probe{PeriodSeconds: 1, ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}}
	}))
	h.waitFor("two Unhealthy events", 10*time.Second, func() bool {
		n := 0
		for _, e := range h.events("Unhealthy") {
			n += int(e.Count)
		}
		return n >= 2
	})
	p, err := h.get("sick")
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.Phase != v1.PodRunning || isReady(p) || p.Status.ContainerStatuses[0].Ready {
		t.Errorf("phase %s Ready %s container ready %v; want Running, not ready", p.Status.Phase, condition(p, v1.PodReady), p.Status.ContainerStatuses[0].Ready)
	}
}

func TestReadinessGateHoldsReadyUntilItsConditionIsTrue(t *testing.T) {
	h := newHarness(t, nil)
	gate := v1.PodConditionType("target-health.lab.rollcheck.dev/web")
	h.create(testPod("gated", nil, func(p *v1.Pod) {
		p.Spec.ReadinessGates = []v1.PodReadinessGate{{ConditionType: gate}}
	}))
	h.waitPod("gated", "ContainersReady=True", func(p *v1.Pod) bool { return condition(p, v1.ContainersReady) == v1.ConditionTrue })
	p, _ := h.get("gated")
	if isReady(p) {
		t.Fatal("pod Ready although its readiness gate has no condition")
	}
	p.Status.Conditions = append(p.Status.Conditions, v1.PodCondition{Type: gate, Status: v1.ConditionTrue})
	if _, err := h.client.CoreV1().Pods("default").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p = h.waitPod("gated", "Ready=True", isReady)
	if condition(p, gate) != v1.ConditionTrue {
		t.Errorf("gate condition lost: %v", p.Status.Conditions)
	}
}

func TestDeletionRunsPreStopThenSIGTERM(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("drain", map[string]string{"ON_SIGTERM": "exit0"}, func(p *v1.Pod) {
		p.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{
			Command: []string{"/bin/sh", "-c", "echo prestop-$POD_NAME >> events.txt; sleep 1"},
		}}}
	}))
	h.waitPod("drain", "Ready=True", isReady)
	start := time.Now()
	h.deleteGracefully("drain", 10)
	// Deletion alone does not flip Ready: the pod stays Ready during preStop.
	p, err := h.get("drain")
	if err == nil && !isReady(p) {
		t.Errorf("pod not Ready right after deletion")
	}
	h.waitFor("pod deleted by the kubelet", 15*time.Second, func() bool { return h.gone("drain") })
	if took := time.Since(start); took < time.Second {
		t.Errorf("terminated after %s, before the 1s preStop ended", took)
	}
	b, _ := os.ReadFile(filepath.Join(h.dir, "pods", "default_drain", "events.txt"))
	if got := string(b); got != "prestop-drain\nsigterm\n" {
		t.Errorf("events.txt = %q, want preStop then SIGTERM", got)
	}
	last := h.lastStatus("drain")
	if last == nil {
		t.Fatal("no status written")
	}
	term := last.Status.ContainerStatuses[0].State.Terminated
	if last.Status.Phase != v1.PodSucceeded || term == nil || term.ExitCode != 0 || term.Reason != "Completed" {
		t.Errorf("final status phase %s terminated %+v; want Succeeded, exit 0 Completed", last.Status.Phase, term)
	}
	h.waitFor("Killing event", 5*time.Second, func() bool { return len(h.events("Killing")) > 0 })
}

func TestTerminationExitCodes(t *testing.T) {
	tests := []struct {
		name      string
		onSIGTERM string
		grace     int64
		wantCode  int32
		wantPhase v1.PodPhase
		minTime   time.Duration
	}{
		{"a process that dies of SIGTERM exits 143", "die", 5, 143, v1.PodFailed, 0},
		{"a process that ignores SIGTERM is killed at the grace period with 137", "ignore", 1, 137, v1.PodFailed, time.Second},
		{"a process that handles SIGTERM exits 0", "exit0", 5, 0, v1.PodSucceeded, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			name := fmt.Sprintf("term%d", i)
			h.create(testPod(name, map[string]string{"ON_SIGTERM": tt.onSIGTERM}, nil))
			h.waitPod(name, "Ready=True", isReady)
			start := time.Now()
			h.deleteGracefully(name, tt.grace)
			h.waitFor("pod deleted by the kubelet", 15*time.Second, func() bool { return h.gone(name) })
			took := time.Since(start)
			if took < tt.minTime {
				t.Errorf("killed after %s, before the %s grace period", took, tt.minTime)
			}
			if tt.wantCode == 137 && took > 4*time.Second {
				t.Errorf("SIGKILL after %s, long after the 1s grace", took)
			}
			last := h.lastStatus(name)
			term := last.Status.ContainerStatuses[0].State.Terminated
			if term == nil || term.ExitCode != tt.wantCode || last.Status.Phase != tt.wantPhase {
				t.Fatalf("terminated %+v phase %s; want exit %d phase %s", term, last.Status.Phase, tt.wantCode, tt.wantPhase)
			}
			if last.Status.ContainerStatuses[0].Ready || isReady(last) {
				t.Errorf("terminated container still ready")
			}
			if tt.wantCode == 137 {
				h.waitFor("ExceededGracePeriod event", 5*time.Second, func() bool { return len(h.events("ExceededGracePeriod")) > 0 })
			}
		})
	}
}

func TestLivenessFailureRestartsContainer(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("live", map[string]string{"HEALTH_CODE": "500"}, func(p *v1.Pod) {
		p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
		p.Spec.Containers[0].LivenessProbe = &v1.Probe{PeriodSeconds: 1, FailureThreshold: 2, ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}}
	}))
	p := h.waitPod("live", "a restart", func(p *v1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	if lt := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; lt == nil || lt.ExitCode != 143 {
		t.Errorf("last termination %+v, want exit 143 (SIGTERM)", lt)
	}
	h.waitFor("Killing event", 5*time.Second, func() bool { return len(h.events("Killing")) > 0 })
}

func TestExitedProcessIsRestartedWithBackoff(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("crash", nil, func(p *v1.Pod) {
		p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "LAB_HELPER", Value: "exit"}, {Name: "EXIT_CODE", Value: "3"}}
	}))
	p := h.waitPod("crash", "two restarts", func(p *v1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 2
	})
	cs := p.Status.ContainerStatuses[0]
	if lt := cs.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 3 || lt.Reason != "Error" {
		t.Errorf("last termination %+v, want exit 3 Error", lt)
	}
}

func TestUnknownImageWaitsWithErrImagePull(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("noimg", nil, func(p *v1.Pod) { p.Spec.Containers[0].Image = "example.com/nope:1" }))
	p := h.waitPod("noimg", "waiting on image", func(p *v1.Pod) bool {
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return false
		}
		r := p.Status.ContainerStatuses[0].State.Waiting.Reason
		return r == "ErrImagePull" || r == "ImagePullBackOff"
	})
	if p.Status.Phase != v1.PodPending {
		t.Errorf("phase %s, want Pending", p.Status.Phase)
	}
	h.waitFor("Failed event", 5*time.Second, func() bool { return len(h.events("Failed")) > 0 })
	h.deleteGracefully("noimg", 5)
	h.waitFor("pod deleted by the kubelet", 10*time.Second, func() bool { return h.gone("noimg") })
}

func TestKubeletShutdownKillsPodProcesses(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("stubborn", map[string]string{"ON_SIGTERM": "ignore"}, nil))
	p := h.waitPod("stubborn", "Ready=True", isReady)
	pid, err := strconv.Atoi(strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "lab://"))
	if err != nil {
		t.Fatal(err)
	}
	h.stop()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pod process %d still exists after kubelet exit (kill 0: %v)", pid, err)
	}
}

func TestNodeRegistrationAndLease(t *testing.T) {
	h := newHarness(t, nil)
	var node *v1.Node
	h.waitFor("node registered", 10*time.Second, func() bool {
		n, err := h.client.CoreV1().Nodes().Get(context.Background(), "lab-node", metav1.GetOptions{})
		node = n
		return err == nil
	})
	var ready bool
	for _, c := range node.Status.Conditions {
		ready = ready || (c.Type == v1.NodeReady && c.Status == v1.ConditionTrue)
	}
	if !ready || node.Status.Addresses[0] != (v1.NodeAddress{Type: v1.NodeInternalIP, Address: "127.0.0.1"}) ||
		node.Status.DaemonEndpoints.KubeletEndpoint.Port == 0 || node.Status.Allocatable.Pods().Value() != 110 || len(node.Spec.Taints) != 0 {
		t.Errorf("node status %+v taints %v", node.Status, node.Spec.Taints)
	}
	h.waitFor("lease renewed", 10*time.Second, func() bool {
		l, err := h.client.CoordinationV1().Leases(leaseNamespace).Get(context.Background(), "lab-node", metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime != nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == "lab-node"
	})
}

func TestPodAlreadyTerminatingAtFirstSightIsFinishedAndDeleted(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("late", nil, func(p *v1.Pod) {
		now := metav1.Now()
		p.DeletionTimestamp = &now
		p.DeletionGracePeriodSeconds = ptr.To[int64](5)
		p.Status.PodIP = "198.51.100.9"
	}))
	h.waitFor("pod deleted by the kubelet", 10*time.Second, func() bool { return h.gone("late") })
}

func TestRestartedKubeletKeepsPodIPAndPorts(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := free.Addr().(*net.TCPAddr).Port
	_ = free.Close()

	h := newHarness(t, nil)
	h.create(testPod("keep", nil, func(p *v1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, v1.ContainerPort{ContainerPort: 9090})
		p.Status.PodIP = "198.51.100.77"
		p.Annotations = map[string]string{PortsAnnotation: fmt.Sprintf(`{"8080": %d, "9090": %d}`, freePort, busyPort)}
	}))
	p := h.waitPod("keep", "Ready=True", isReady)
	if p.Status.PodIP != "198.51.100.77" {
		t.Errorf("pod IP %s, want the previous 198.51.100.77", p.Status.PodIP)
	}
	ports := portsOf(t, p)
	if ports["8080"] != freePort {
		t.Errorf("port 8080 mapped to %d, want the previous %d", ports["8080"], freePort)
	}
	if lp := ports["9090"]; lp == busyPort || lp == 0 {
		t.Errorf("port 9090 mapped to %d; the previous port %d is taken", lp, busyPort)
	}
}

func TestPreStopOutlivingTheGracePeriodIsCutShort(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("slowhook", map[string]string{"ON_SIGTERM": "exit0"}, func(p *v1.Pod) {
		p.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{
			Command: []string{"/bin/sh", "-c", "echo prestop >> events.txt; sleep 30"},
		}}}
	}))
	h.waitPod("slowhook", "Ready=True", isReady)
	start := time.Now()
	h.deleteGracefully("slowhook", 1)
	h.waitFor("pod deleted by the kubelet", 15*time.Second, func() bool { return h.gone("slowhook") })
	if took := time.Since(start); took < time.Second || took > 5*time.Second {
		t.Errorf("terminated after %s; want SIGTERM at the 1s grace, not after the 30s hook", took)
	}
	b, _ := os.ReadFile(filepath.Join(h.dir, "pods", "default_slowhook", "events.txt"))
	if got := string(b); got != "prestop\nsigterm\n" {
		t.Errorf("events.txt = %q, want preStop then SIGTERM", got)
	}
}

func TestHTTPPreStopHookIsCalledOnTheLoopbackPort(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("httphook", nil, func(p *v1.Pod) {
		p.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{HTTPGet: &v1.HTTPGetAction{Path: "/nope", Port: intstr.FromString("http")}}}
	}))
	h.waitPod("httphook", "Ready=True", isReady)
	h.deleteGracefully("httphook", 5)
	h.waitFor("pod deleted by the kubelet", 15*time.Second, func() bool { return h.gone("httphook") })
	// The helper answers 404 on /nope: the hook reached it and failed.
	h.waitFor("FailedPreStopHook event", 5*time.Second, func() bool {
		ev := h.events("FailedPreStopHook")
		return len(ev) > 0 && strings.Contains(ev[0].Message, "404")
	})
}

func TestSecondDeleteWithShorterGraceMovesTheDeadline(t *testing.T) {
	h := newHarness(t, nil)
	h.create(testPod("shorten", map[string]string{"ON_SIGTERM": "ignore"}, func(p *v1.Pod) {
		p.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{
			Command: []string{"sleep", "30"},
		}}}
	}))
	h.waitPod("shorten", "Ready=True", isReady)
	h.deleteGracefully("shorten", 30)
	h.waitFor("Killing event", 5*time.Second, func() bool { return len(h.events("Killing")) > 0 })
	start := time.Now()
	h.deleteGracefully("shorten", 1)
	h.waitFor("pod deleted by the kubelet", 15*time.Second, func() bool { return h.gone("shorten") })
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("killed %s after the 1s delete; the 30s grace was not shortened", took)
	}
	if term := h.lastStatus("shorten").Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 137 {
		t.Errorf("terminated %+v, want exit 137", term)
	}
}
