package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/rollcheck/rollcheck/lab/node"
)

// realNodeBinDir returns the directory with rollcheck-lab, kubelet,
// kube-proxy, agnhost and demo-app (make lab-node) from
// $ROLLCHECK_LAB_REAL_NODE_BIN, or skips the test unless the machine can run
// a real node.
func realNodeBinDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ROLLCHECK_LAB_REAL_NODE_BIN")
	if dir == "" {
		t.Skip("set ROLLCHECK_LAB_REAL_NODE_BIN to the bin directory of make lab-node to run the real-node test (root, Debian's containerd, runc and CNI plugins)")
	}
	if err := node.CheckHost(dir); err != nil {
		t.Skipf("this machine cannot run the real node: %v", err)
	}
	for _, b := range []string{"rollcheck-lab", "agnhost", "demo-app"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Skipf("no %s in %s (make lab-node)", b, dir)
		}
	}
	return dir
}

// hostState is what a lab must leave on the host as it found it.
type hostState map[string]string

func captureHost(t *testing.T) hostState {
	t.Helper()
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return string(out)
	}
	drop := func(s string, skip func(string) bool) string {
		var keep []string
		for _, line := range strings.Split(s, "\n") {
			if !skip(line) {
				keep = append(keep, line)
			}
		}
		return strings.Join(keep, "\n")
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var links []string
	for _, line := range strings.Split(run("ip", "-o", "link"), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			links = append(links, f[1]) // names; counters and ids vary
		}
	}
	var sysctls []string
	for _, k := range []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
		"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward", "net/netfilter/nf_conntrack_max",
		"net/bridge/bridge-nf-call-iptables"} {
		v, _ := os.ReadFile("/proc/sys/" + k)
		sysctls = append(sysctls, k+"="+strings.TrimSpace(string(v)))
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/*/")
	dirs := []string{}
	for _, d := range []string{"/var/lib/kubelet", "/var/lib/cni", "/run/containerd", "/opt/containerd", "/etc/cni", "/var/log/pods"} {
		if _, err := os.Stat(d); err == nil {
			dirs = append(dirs, d)
		}
	}
	return hostState{
		"iptables-save":      drop(run("iptables-save"), func(l string) bool { return strings.HasPrefix(l, "#") }),
		"nft list ruleset":   run("nft", "list", "ruleset"),
		"ip -all netns list": run("ip", "-all", "netns", "list"),
		"mountinfo":          string(mounts),
		"ip link":            strings.Join(links, "\n"),
		"sysctls":            strings.Join(sysctls, "\n"),
		"cgroups":            strings.Join(cgroups, "\n"),
		"host dirs":          strings.Join(dirs, "\n"),
	}
}

// labProcesses returns every process that is up's descendant, in the lab's
// network namespace, or in its pods' cgroups (shims and containers are
// re-parented away from up), keyed by pid with its start time.
func labProcesses(upPID int, l node.Layout) map[int]uint64 {
	procs := map[int]uint64{}
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		parent[pid], _ = strconv.Atoi(f[1])
	}
	nsLink := ""
	var sb syscall.Stat_t
	if syscall.Stat(l.NetnsPath(), &sb) == nil {
		nsLink = fmt.Sprintf("net:[%d]", sb.Ino)
	}
	for pid := range parent {
		in := false
		for p := pid; p > 1 && !in; p = parent[p] {
			in = p == upPID
		}
		if !in {
			if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && nsLink != "" && link == nsLink {
				in = true
			}
			if cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid)); err == nil && strings.Contains(string(cg), l.CgroupRoot()+"/") {
				in = true
			}
		}
		if in {
			start, _ := procStart(pid)
			procs[pid] = start
		}
	}
	return procs
}

// TestRealNodeE2E starts a lab with --node real, runs 3 agnhost pods,
// restarts them, stops the lab with down and checks that the host is as it
// was. It logs the times the issue asks for.
func TestRealNodeE2E(t *testing.T) {
	lab := startRealLab(t, "rclab-e2e-", []string{"containerd", "kubelet", "kube-proxy", node.RelayCommandName, "apiserver"}, "--no-lb")
	layout := lab.layouts[0]
	st := lab.wait("180s")
	readyAfter := lab.readyAfter
	if st.NodeMode != nodeReal || st.Netns != layout.Namespace || st.ContainerdSocket != layout.ContainerdSocket() {
		t.Errorf("lab.json: node_mode %q netns %q socket %q", st.NodeMode, st.Netns, st.ContainerdSocket)
	}
	if !strings.Contains(lab.out.String(), "node: real (kubelet v1.35.4, containerd ") {
		t.Errorf("up does not say which node it runs:\n%s", lab.out.String())
	}

	cs := clientFor(t, st.Kubeconfig)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := nodeReady(ctx, cs, st.NodeName); err != nil {
		t.Fatalf("up is ready but the Node is not: %v", err)
	}

	memory := labMemory(st.PID, []node.Layout{layout})
	seen := watchPodsReady(ctx, t, cs)
	created := time.Now()
	createAgnhost(ctx, t, cs)
	waitUntil(ctx, t, "3 agnhost pods Ready with pod IPs", func() error { return agnhostReady(ctx, cs) })
	allReady := time.Since(created)
	firstRound := seen.readyTimes()

	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339))
	restarted := time.Now()
	if _, err := cs.AppsV1().Deployments("default").Patch(ctx, "agnhost", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(ctx, t, "the rollout restart to complete", func() error { return rolloutComplete(ctx, cs, "agnhost") })
	rollout := time.Since(restarted)

	pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agnhost"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("agnhost pods: %v", err)
	}
	logs, err := cs.CoreV1().Pods("default").GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{}).Do(ctx).Raw()
	if err != nil {
		t.Errorf("logs through the API server and the relay: %v", err)
	} else {
		t.Logf("kubectl logs works (%d bytes)", len(logs))
	}

	during := lab.processes(st.PID)
	downBegan := time.Now()
	lab.down()
	t.Logf("real node: up to ready %s; lab memory before the pods %s; 3 pods created to all Ready %s (each, seen to Ready: %s); rollout restart of 3 complete %s; down %s",
		readyAfter.Round(10*time.Millisecond), memory, allReady.Round(10*time.Millisecond), firstRound,
		rollout.Round(10*time.Millisecond), time.Since(downBegan).Round(10*time.Millisecond))
	t.Logf("up output:\n%s", lab.out.String())
	lab.checkHost(during)
}

// realLab is an `up --node real` under test: its output, its nodes'
// layouts, and the host as it was before.
type realLab struct {
	t          *testing.T
	bin, dir   string
	layouts    []node.Layout
	up         *exec.Cmd
	out        bytes.Buffer
	upDone     chan error
	downed     bool
	began      time.Time
	readyAfter time.Duration
	before     hostState
}

// startRealLab starts up --node real with args in a new directory named
// from prefix (--nodes N in args makes N layouts; --no-lb leaves lb out);
// the test's cleanup
// stops it and, if the test failed, logs the tails of the logs named.
func startRealLab(t *testing.T, prefix string, logs []string, args ...string) *realLab {
	t.Helper()
	binDir := realNodeBinDir(t)
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	count := 1
	for i, a := range args {
		if a == "--nodes" && i+1 < len(args) {
			count, _ = strconv.Atoi(args[i+1])
		}
	}
	l := &realLab{t: t, bin: filepath.Join(binDir, "rollcheck-lab"), dir: dir, upDone: make(chan error, 1)}
	for i := range count {
		l.layouts = append(l.layouts, node.NodeLayout(dir, i))
	}
	l.before = captureHost(t)
	l.up = exec.Command(l.bin, append([]string{"up", "--dir", dir, "--node", "real"}, args...)...)
	l.up.Stdout, l.up.Stderr = &l.out, &l.out
	l.began = time.Now()
	if err := l.up.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { l.upDone <- l.up.Wait() }()
	t.Cleanup(func() {
		l.down()
		if t.Failed() {
			t.Logf("up output:\n%s", l.out.String())
			for _, name := range logs {
				if data, err := os.ReadFile(filepath.Join(dir, logsDir, name+".log")); err == nil {
					t.Logf("---- %s.log (tail)\n%s", name, tail(data, 3000))
				}
			}
		}
	})
	return l
}

// wait waits until up is ready and returns lab.json.
func (l *realLab) wait(timeout string) *State {
	l.t.Helper()
	if out, err := exec.Command(l.bin, "wait", "--dir", l.dir, "--timeout", timeout).CombinedOutput(); err != nil {
		l.t.Fatalf("wait: %v\n%s", err, out)
	}
	l.readyAfter = time.Since(l.began)
	st, err := ReadState(l.dir)
	if err != nil {
		l.t.Fatal(err)
	}
	return st
}

// processes are the lab's processes now (labProcesses of every node).
func (l *realLab) processes(upPID int) map[int]uint64 {
	during := map[int]uint64{}
	for _, ly := range l.layouts {
		for pid, start := range labProcesses(upPID, ly) {
			during[pid] = start
		}
	}
	return during
}

// down runs down once and waits for up to exit.
func (l *realLab) down() {
	if l.downed {
		return
	}
	l.downed = true
	began := time.Now()
	out, err := exec.Command(l.bin, "down", "--dir", l.dir).CombinedOutput()
	if err != nil {
		l.t.Errorf("down: %v\n%s", err, out)
	}
	l.t.Logf("down took %s: %s", time.Since(began).Round(10*time.Millisecond), strings.TrimSpace(string(out)))
	select {
	case <-l.upDone:
	case <-time.After(30 * time.Second):
		l.t.Error("up did not exit after down")
	}
}

// checkHost fails the test if a process of during still runs or the host
// differs from before up.
func (l *realLab) checkHost(during map[int]uint64) {
	l.t.Helper()
	for pid, start := range during {
		if (proc{PID: pid, Start: start}).alive() {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			l.t.Errorf("process %d (%s) of the lab is still running", pid, strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
	after := captureHost(l.t)
	keys := make([]string, 0, len(l.before))
	for k := range l.before {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if l.before[k] != after[k] {
			l.t.Errorf("%s differs after down:\n--- before\n%s\n--- after\n%s", k, l.before[k], after[k])
		}
	}
}

func clientFor(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func createAgnhost(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, agnhostDeployment("agnhost"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// agnhostDeployment is 3 agnhost netexec pods serving on 8080, labelled
// app=NAME.
func agnhostDeployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "agnhost",
					Image: "registry.k8s.io/e2e-test-images/agnhost:2.53",
					Args:  []string{"netexec", "--http-port=8080"},
				}}},
			},
		},
	}
}

func agnhostReady(ctx context.Context, cs kubernetes.Interface) error {
	pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agnhost"})
	if err != nil {
		return err
	}
	ready := 0
	for _, p := range pods.Items {
		if podReady(&p) && p.Status.PodIP != "" && strings.HasPrefix(p.Status.PodIP, "10.244.") {
			ready++
		}
	}
	if ready != 3 {
		return fmt.Errorf("%d of %d pods Ready with a pod IP", ready, len(pods.Items))
	}
	return nil
}

// rolloutComplete is kubectl rollout status's test.
func rolloutComplete(ctx context.Context, cs kubernetes.Interface, name string) error {
	d, err := cs.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	s := d.Status
	if s.ObservedGeneration < d.Generation || s.UpdatedReplicas < *d.Spec.Replicas || s.Replicas > s.UpdatedReplicas || s.AvailableReplicas < s.UpdatedReplicas {
		return fmt.Errorf("generation %d/%d, %d updated, %d total, %d available", s.ObservedGeneration, d.Generation, s.UpdatedReplicas, s.Replicas, s.AvailableReplicas)
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podTimes records when an informer first saw each pod and when it saw it
// Ready.
type podTimes struct {
	mu    sync.Mutex
	first map[string]time.Time
	ready map[string]time.Time
}

func watchPodsReady(ctx context.Context, t *testing.T, cs kubernetes.Interface) *podTimes {
	t.Helper()
	pt := &podTimes{first: map[string]time.Time{}, ready: map[string]time.Time{}}
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace("default"))
	inf := f.Core().V1().Pods().Informer()
	note := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		now := time.Now()
		pt.mu.Lock()
		defer pt.mu.Unlock()
		if _, ok := pt.first[p.Name]; !ok {
			pt.first[p.Name] = now
		}
		if _, ok := pt.ready[p.Name]; !ok && podReady(p) {
			pt.ready[p.Name] = now
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    note,
		UpdateFunc: func(_, obj any) { note(obj) },
	}); err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("pod informer did not sync")
	}
	return pt
}

func (pt *podTimes) readyTimes() string {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	var ds []string
	for name, r := range pt.ready {
		ds = append(ds, r.Sub(pt.first[name]).Round(time.Millisecond).String())
	}
	sort.Strings(ds)
	return strings.Join(ds, " ")
}
