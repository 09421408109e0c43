package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/rollcheck/rollcheck/exitcode"
)

// TestNightlyCronJob runs the in-cluster nightly recipe
// (scenarios/nightly/cronjob.yaml) on the real node: rollcheck's image,
// its ServiceAccount with the Role `rollcheck rbac` prints, the load through
// the Service's ClusterIP and kube-proxy, the reports on a
// PersistentVolumeClaim. Night 1, no baseline yet: the run passes and keeps
// its reports, the gate fails saying the baseline is missing. Its JSON becomes
// the baseline as the recipe's comment says. Night 2, the same Deployment:
// the Job succeeds. Night 3, the as-is Deployment (with 200 ms requests)
// drops requests: the Job fails in the run and keeps a FAIL report.
//
// Two substitutions, both for what the lab lacks: the image is the lab's
// build of rollcheck/rollcheck, and the target is the Service's ClusterIP
// (the lab runs no cluster DNS, so demo.default.svc.cluster.local has no
// answer). The test adds a hostPath PersistentVolume for the claim.
func TestNightlyCronJob(t *testing.T) {
	needRealNode(t)
	data, err := os.ReadFile("../scenarios/nightly/cronjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)

	rbac := exec.Command(lab.rollcheck, "rbac", "-f", "../scenarios/to-be.scenario.yaml", "--serviceaccount", "rollcheck:rollcheck-nightly")
	want, err := rbac.Output()
	if err != nil {
		t.Fatalf("rollcheck rbac: %v", err)
	}
	if !strings.Contains(text, stripComments(string(want))) {
		t.Errorf("the recipe's Role and RoleBinding are not what rollcheck rbac prints for its scenario:\n%s", want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	resetDemo(t)
	svc, err := lab.client.CoreV1().Services("default").Get(ctx, "demo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	text = strings.ReplaceAll(text, "rollcheck/rollcheck:VERSION", rollcheckImage(t))
	text = strings.ReplaceAll(text, "http://demo.default.svc.cluster.local/", "http://"+svc.Spec.ClusterIP+"/")

	reports := t.TempDir()
	// The image runs as 65532; a hostPath volume takes no fsGroup.
	if err := os.Chmod(reports, 0o777); err != nil {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "rollcheck-reports-e2e"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: reports}},
		},
	}
	if _, err := lab.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		kubectl(t, "delete", "namespace", "rollcheck", "--ignore-not-found", "--wait", "--timeout", "120s")
		kubectl(t, "delete", "pv", pv.Name, "--ignore-not-found", "--wait", "--timeout", "60s")
	})
	kubectlApply(t, text)

	night := func(name string) (*batchv1.Job, *corev1.Pod) {
		t.Helper()
		kubectl(t, "-n", "rollcheck", "create", "job", "--from=cronjob/rollcheck-nightly", name)
		var job *batchv1.Job
		err := wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
			j, err := lab.client.BatchV1().Jobs("rollcheck").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			job = j
			return j.Status.Succeeded > 0 || j.Status.Failed > 0, nil
		})
		if err != nil {
			t.Fatalf("Job %s did not finish: %v", name, err)
		}
		pods, err := lab.client.CoreV1().Pods("rollcheck").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + name})
		if err != nil || len(pods.Items) != 1 {
			t.Fatalf("Job %s: pods %v (%v), want one", name, pods, err)
		}
		pod := &pods.Items[0]
		for _, c := range []string{"run", "gate"} {
			out, _ := exec.Command(lab.kubectl, "--kubeconfig", lab.kubeconfig, "-n", "rollcheck", "logs", pod.Name, "-c", c).CombinedOutput()
			t.Logf("night %s, container %s:\n%s", name, c, out)
		}
		return job, pod
	}
	exitCode := func(pod *corev1.Pod, container string) (int32, bool) {
		for _, s := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
			if s.Name == container && s.State.Terminated != nil {
				return s.State.Terminated.ExitCode, true
			}
		}
		return 0, false
	}

	job, pod := night("night-1")
	if code, ok := exitCode(pod, "run"); !ok || code != exitcode.Pass || job.Status.Failed == 0 {
		t.Fatalf("night 1: run exit %d (ran %v), job failed %d; want the run to pass and the gate to fail without a baseline", code, ok, job.Status.Failed)
	}
	if code, ok := exitCode(pod, "gate"); !ok || code == exitcode.Pass {
		t.Errorf("night 1: gate exit %d (ran %v), want a failure for the missing baseline", code, ok)
	}
	report := filepath.Join(reports, "night-1.json")
	if v := verdictOf(t, report); v != "PASS" {
		t.Fatalf("night 1 report verdict %s, want PASS", v)
	}
	for _, ext := range []string{".junit.xml", ".html", ".prom"} {
		if _, err := os.Stat(filepath.Join(reports, "night-1"+ext)); err != nil {
			t.Errorf("night 1 kept no %s report: %v", ext, err)
		}
	}
	kubectl(t, "-n", "rollcheck", "create", "configmap", "rollcheck-baseline", "--from-file=baseline.json="+report)

	job, pod = night("night-2")
	if job.Status.Succeeded != 1 {
		code, _ := exitCode(pod, "gate")
		t.Fatalf("night 2 (same Deployment, baseline night 1): job did not succeed (gate exit %d)", code)
	}

	// The seed's as-is, its requests 200 ms long: through kube-proxy a
	// connection stays on its pod, so what is in flight when an old pod
	// dies of SIGTERM fails. On a kept connection Go's client retries the
	// GET on a new one, which kube-proxy sends to a ready pod, so the
	// recipe's new-connection stream is what fails for sure (about 2 per
	// pod at 50/s; with kept connections alone, a night saw no failure).
	kubectlApply(t, manifest(t, "as-is.yaml"))
	kubectl(t, "patch", "deployment", "demo", "--type=json", "-p",
		`[{"op":"replace","path":"/spec/template/spec/containers/0/args","value":["--shutdown=immediate","--latency=200ms"]}]`)
	waitSteady(t)
	defer resetDemo(t)
	job, pod = night("night-3")
	if code, _ := exitCode(pod, "run"); job.Status.Failed == 0 || code != exitcode.Fail {
		t.Fatalf("night 3 (as-is): job failed %d, run exit %d; want the job failed by the run (exit %d)", job.Status.Failed, code, exitcode.Fail)
	}
	if v := verdictOf(t, filepath.Join(reports, "night-3.json")); v != "FAIL" {
		t.Errorf("night 3 report verdict %s, want FAIL", v)
	}
}

// stripComments drops the comment lines of YAML text.
func stripComments(s string) string {
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(line, "#") {
			out.WriteString(line)
		}
	}
	return out.String()
}

// rollcheckImage loads `make image`'s archive of rollcheck's image into the
// real node's containerd (rollcheck-lab image load; loading again is a
// no-op) and returns its reference, read from the archive.
func rollcheckImage(t *testing.T) string {
	t.Helper()
	archive := filepath.Join(filepath.Dir(lab.labBin), "image", "rollcheck.tar")
	f, err := os.Open(archive)
	if err != nil {
		t.Fatalf("rollcheck's image (make image): %v", err)
	}
	defer f.Close()
	var ref string
	tr := tar.NewReader(f)
	for ref == "" {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no manifest.json naming the image: %v", archive, err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var manifests []struct{ RepoTags []string }
		if err := json.NewDecoder(tr).Decode(&manifests); err != nil || len(manifests) != 1 || len(manifests[0].RepoTags) != 1 {
			t.Fatalf("%s: manifest.json %+v (%v), want one image with one tag", archive, manifests, err)
		}
		ref = manifests[0].RepoTags[0]
	}
	if out, err := exec.Command(lab.labBin, "image", "load", "--dir", lab.dir, archive).CombinedOutput(); err != nil {
		t.Fatalf("rollcheck-lab image load %s: %v\n%s", archive, err, out)
	}
	return ref
}
