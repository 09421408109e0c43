package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// labBinary returns the rollcheck-lab binary: $ROLLCHECK_LAB_BIN, or one
// built for the test.
func labBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("ROLLCHECK_LAB_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "rollcheck-lab")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/rollcheck-lab").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestLabE2E starts the lab, uses it through client-go, restarts the API
// server, stops the lab with down and checks that no process is left.
// ROLLCHECK_LAB_FULL=1 also starts the kubelet and the load balancer.
func TestLabE2E(t *testing.T) {
	if os.Getenv("ROLLCHECK_LAB_E2E") != "1" {
		t.Skip("set ROLLCHECK_LAB_E2E=1 to run the lab end-to-end test (builds and runs the control plane)")
	}
	full := os.Getenv("ROLLCHECK_LAB_FULL") == "1"
	bin := labBinary(t)
	dir := t.TempDir()

	args := []string{"up", "--dir", dir}
	if !full {
		args = append(args, "--no-kubelet", "--no-lb")
	}
	var upOut bytes.Buffer
	up := exec.Command(bin, args...)
	up.Stdout, up.Stderr = &upOut, &upOut
	began := time.Now()
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	upDone := make(chan error, 1)
	go func() { upDone <- up.Wait() }()
	t.Cleanup(func() {
		_ = exec.Command(bin, "down", "--dir", dir).Run()
		if t.Failed() {
			for _, name := range []string{"etcd", "apiserver", "controller-manager", "scheduler", "kubelet", "lb"} {
				if data, err := os.ReadFile(filepath.Join(dir, logsDir, name+".log")); err == nil {
					t.Logf("---- %s.log (tail)\n%s", name, tail(data, 3000))
				}
			}
		}
	})

	if out, err := exec.Command(bin, "wait", "--dir", dir, "--timeout", "120s").CombinedOutput(); err != nil {
		t.Fatalf("wait: %v\n%s\nup output:\n%s", err, out, upOut.String())
	}
	t.Logf("ready after %s", time.Since(began).Round(10*time.Millisecond))

	st, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != up.Process.Pid {
		t.Errorf("lab.json pid = %d, want %d", st.PID, up.Process.Pid)
	}
	wantComponents := []string{"etcd", "apiserver", "controller-manager", "scheduler"}
	if full {
		wantComponents = append(wantComponents, "kubelet", "lb")
	}
	for _, name := range wantComponents {
		if !(proc{PID: st.Components[name], Start: st.ComponentStarts[name]}).alive() {
			t.Errorf("component %s (pid %d) is not running", name, st.Components[name])
		}
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("default ServiceAccount: %v", err)
	}

	node := "lab-node"
	if !full {
		node = "fake-node"
		createNode(ctx, t, cs, node)
	}
	image := "rollcheck-lab-test:none" // never runs: no kubelet
	if full {
		image = "rollcheck/demo-app:v1"
	}
	createDeployment(ctx, t, cs, image)
	waitUntil(ctx, t, "2 pods of deployment demo scheduled on "+node, func() error {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=demo"})
		if err != nil {
			return err
		}
		n, why := 0, ""
		for _, p := range pods.Items {
			if p.Spec.NodeName == node {
				n++
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
					why = c.Reason + ": " + c.Message
				}
			}
		}
		if n != 2 {
			return fmt.Errorf("%d of %d pods scheduled (%s)", n, len(pods.Items), why)
		}
		return nil
	})

	if !full {
		// Without a kubelet, play its part: report the pods running and ready.
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=demo"})
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range pods.Items {
			p.Status.Phase = corev1.PodRunning
			p.Status.PodIP = fmt.Sprintf("198.51.100.%d", 10+i)
			p.Status.PodIPs = []corev1.PodIP{{IP: p.Status.PodIP}}
			p.Status.Conditions = append(p.Status.Conditions,
				corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()},
				corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
			if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, &p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitUntil(ctx, t, "2 ready endpoints in the EndpointSlices of Service demo", func() error {
		slices, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=demo"})
		if err != nil {
			return err
		}
		n := 0
		for _, sl := range slices.Items {
			for _, ep := range sl.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					n++
				}
			}
		}
		if n != 2 {
			return fmt.Errorf("%d ready endpoints in %d slices", n, len(slices.Items))
		}
		return nil
	})
	if full {
		waitUntil(ctx, t, "the load balancer to answer 200 from a demo pod", func() error {
			resp, err := http.Get(st.LBURL)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %s", resp.Status)
			}
			if resp.Header.Get("X-Pod-Name") == "" {
				return fmt.Errorf("no X-Pod-Name")
			}
			return nil
		})
	}

	t.Run("the apiserver comes back after a crash", func(t *testing.T) {
		out, err := exec.Command(bin, "restart-component", "--dir", dir, "--signal", "KILL", "--down-for", "1s", "apiserver").CombinedOutput()
		if err != nil {
			t.Fatalf("restart-component: %v\n%s", err, out)
		}
		st2, err := ReadState(dir)
		if err != nil {
			t.Fatal(err)
		}
		if st2.Components["apiserver"] == st.Components["apiserver"] {
			t.Error("lab.json still shows the old apiserver pid")
		}
		if _, err := cs.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
			t.Errorf("API after restart: %v", err)
		}
		st = st2
	})

	t.Run("up restarts a component that crashes", func(t *testing.T) {
		old := st.Components["scheduler"]
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitUntil(ctx, t, "a new scheduler process", func() error {
			st2, err := ReadState(dir)
			if err != nil {
				return err
			}
			p := proc{PID: st2.Components["scheduler"], Start: st2.ComponentStarts["scheduler"]}
			if p.PID == old || !p.alive() {
				return fmt.Errorf("scheduler pid %d", p.PID)
			}
			st = st2
			return nil
		})
	})

	if out, err := exec.Command(bin, "down", "--dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("down: %v\n%s", err, out)
	}
	select {
	case err := <-upDone:
		if err != nil {
			t.Errorf("up exited with %v\n%s", err, upOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("up still running after down")
	}
	for name, pid := range st.Components {
		if (proc{PID: pid, Start: st.ComponentStarts[name]}).alive() {
			t.Errorf("component %s (pid %d) outlived down", name, pid)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, readyFile)); err == nil {
		t.Error("ready file left behind")
	}
	if out, err := exec.Command(bin, "down", "--dir", dir).CombinedOutput(); err != nil {
		t.Errorf("second down: %v\n%s", err, out)
	}
}

func createNode(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("8"),
		corev1.ResourceMemory: resource.MustParse("16Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	n.Status = corev1.NodeStatus{
		Capacity: res, Allocatable: res,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
	}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createDeployment(ctx context.Context, t *testing.T, cs kubernetes.Interface, image string) {
	t.Helper()
	labels := map[string]string{"app": "demo"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "demo"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: image,
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "demo"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(ctx context.Context, t *testing.T, what string, cond func() error) {
	t.Helper()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s: %v", what, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
