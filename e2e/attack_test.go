package e2e

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rollcheck/rollcheck/attack"
)

// TestAttackerPodStreamsItsResults: a pod of rollcheck's own image
// (rollcheck/rollcheck, which the process kubelet maps to the rollcheck
// binary and the real node imports from make image) runs `rollcheck attack`
// against the demo app; its log is a whole result stream.
func TestAttackerPodStreamsItsResults(t *testing.T) {
	needLab(t)
	resetDemo(t)
	target, image := lab.lbURL+"/", "rollcheck/rollcheck:dev" // the process kubelet runs any tag
	if lab.node == "real" {
		image = rollcheckImage(t) // make image's archive, as up imported it
		// In the pod's network namespace: the Service's ClusterIP through
		// kube-proxy.
		target = clusterIPURL(t, "demo")
	}
	const name = "attacker-e2e"
	kubectl(t, "delete", "pod", name, "--ignore-not-found", "--wait", "--timeout", "60s")
	kubectlApply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  labels: {app.kubernetes.io/managed-by: rollcheck, rollcheck.io/role: attacker}
spec:
  restartPolicy: Never
  containers:
  - name: attack
    image: %[3]s
    imagePullPolicy: IfNotPresent
    args: [attack, --duration, 3s, --rate, "20", --name, %[1]s, --pod-header, "X-Pod-Name,X-Lab-Target", %[2]q]
`, name, target, image))
	t.Cleanup(func() { kubectl(t, "delete", "pod", name, "--ignore-not-found", "--wait=false") })

	// 3 s of load, the process's start and the kubelet's status report.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var pod *corev1.Pod
	for {
		p, err := lab.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed) {
			pod = p
			break
		}
		select {
		case <-ctx.Done():
			out, _ := exec.Command(lab.kubectl, "--kubeconfig", lab.kubeconfig, "describe", "pod", name).CombinedOutput()
			logs, _ := exec.Command(lab.kubectl, "--kubeconfig", lab.kubeconfig, "logs", name).CombinedOutput()
			t.Fatalf("the attacker pod did not finish within 90s (last: %v, %v)\n%s\nlogs:\n%s", p.Status.Phase, err, out, logs)
		case <-time.After(250 * time.Millisecond):
		}
	}
	logs := kubectl(t, "logs", name)
	if pod.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("the attacker pod %s:\n%s", pod.Status.Phase, logs)
	}

	d := attack.NewStreamDecoder(strings.NewReader(logs))
	counts := map[string]int{}
	pods := map[string]int{}
	var header, end *attack.StreamRecord
	for {
		rec, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the attacker's log is not a whole stream: %v\n%s", err, logs)
		}
		counts[rec.Type]++
		switch rec.Type {
		case attack.RecordHeader:
			header = rec
		case attack.RecordEnd:
			end = rec
		case attack.RecordResult:
			if rec.Code != 200 {
				t.Errorf("result %d: code %d %s", rec.Seq, rec.Code, rec.Error)
			}
			pods[rec.Pod]++
		}
	}
	if header == nil || header.Attacker != name || header.Rate != 20 || header.Version != attack.StreamVersion {
		t.Fatalf("header %+v", header)
	}
	if end == nil || int(end.Requests) != counts[attack.RecordResult] {
		t.Fatalf("end %+v for %d results", end, counts[attack.RecordResult])
	}
	// 20/s for 3 s; the lab shares 2 cores, so allow a late start.
	if n := counts[attack.RecordResult]; n < 54 || n > 61 {
		t.Errorf("%d results, want about 60", n)
	}
	if counts[attack.RecordBeacon] < 2 {
		t.Errorf("%d beacons in 3 s", counts[attack.RecordBeacon])
	}
	if _, ok := pods[""]; ok || len(pods) == 0 {
		t.Errorf("results by serving pod %v: every answer should name a demo pod", pods)
	}
	t.Logf("attacker pod: %d results, %d beacons, achieved %.1f/s, served by %v", counts[attack.RecordResult], counts[attack.RecordBeacon], end.AchievedRate, pods)
}

// clusterIPURL is http://CLUSTERIP:PORT/ of Service default/NAME's first
// port: what a client in the cluster dials, through kube-proxy.
func clusterIPURL(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := lab.client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://%s:%d/", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)
}
