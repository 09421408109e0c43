package e2e

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attackers"
	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// labLogMaxSize is the real lab's containerLogMaxSize (up
// --container-log-max-size): the kubelet rotates a container's log past it,
// looking every 3 s. A production node rotates at 10Mi, which an attacker
// writing every result filled in seconds; this size does the same to a
// summarized stream.
const labLogMaxSize = "24Ki"

// TestAttackerLogSurvivesRotation: the kubelet rotates the attacker's log
// several times while rollcheck follows it through the API server, and the
// run keeps every result. One attacker carries the whole load, and its
// summarized stream (about 3.4 KB/s with 3 to 6 pods in 100 ms buckets)
// passes the lab's 24Ki every 7 s or so. The fleet checks what it read against the
// attacker's own count in its end record and against its beacons'
// sequence, and names any loss as the attacker's problem (the run then
// cannot pass or fail on it): here there must be none, and the verdict and
// cause are those of the same rollout from two attackers without rotation
// (TestKubeProxyFrontFromAttackers).
func TestAttackerLogSurvivesRotation(t *testing.T) {
	needRealNode(t)
	logsDir := podLogsDir(t)
	diagFreshDemo(t, diagService("2s")+"---\n"+diagDeployment{replicas: 3, args: []string{"--shutdown=immediate", "--latency=300ms"}, readiness: true}.manifest())

	// The attacker's rotated logs, by name: the kubelet renames N.log to
	// N.log.TIMESTAMP (and later compresses it), one name per rotation.
	stop := make(chan struct{})
	var mu sync.Mutex
	rotated := map[string]bool{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			files, _ := filepath.Glob(filepath.Join(logsDir, "*_rollcheck-attacker-*", attackers.Container, "*.log.*"))
			mu.Lock()
			for _, f := range files {
				rotated[strings.TrimSuffix(f, ".gz")] = true
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	r := rollcheck(t, "deployment/demo", "--restart", "--target", clusterIPURL(t, "demo"), "--attackers", "1",
		"--attacker-image", rollcheckImage(t), "--method", "POST", "--body", "x",
		"--rate", "200/s", "--timeout", "5s", "--baseline", "20s", "--settle", "15s",
		"--max-failures", "0", "--pod-header", diagPodHeaders)
	close(stop)
	wg.Wait()
	diagLog(t, "exit at once through kube-proxy from one attacker whose log rotates", r)

	mu.Lock()
	rotations := len(rotated)
	mu.Unlock()
	if len(r.report.Attackers) != 1 {
		t.Fatalf("attackers %+v, want one", r.report.Attackers)
	}
	a := r.report.Attackers[0]
	t.Logf("attacker %s: %d requests, %d failed, achieved %.1f/s of %.0f/s; its log rotated %d times (%s)", a.Pod, a.Requests, a.Failures, a.Achieved, a.Share, rotations, labLogMaxSize)
	if rotations < 3 {
		t.Errorf("the attacker's log rotated %d times, want several (3 or more): the test did not test rotation", rotations)
	}
	if a.Problem != "" {
		t.Errorf("attacker problem %q: its stream lost results across the rotations", a.Problem)
	}
	for _, c := range r.report.Checks {
		if c.Code == report.CheckAttackers && !c.Passed {
			t.Errorf("check %s failed: %s", c.Code, c.Message)
		}
	}
	if a.Requests != r.report.Load.Requests || a.Failures != r.report.Load.Failures {
		t.Errorf("the attacker counted %d requests and %d failures, the run %d and %d", a.Requests, a.Failures, r.report.Load.Requests, r.report.Load.Failures)
	}
	wantVerdict(t, r, exitcode.Fail, report.Fail)
	diagWantPrimary(t, r, string(report.KeptConnectionClosed))
}

// podLogsDir is the real node's directory of pod logs, from lab.json,
// which must rotate at labLogMaxSize.
func podLogsDir(t *testing.T) string {
	t.Helper()
	nodes := labRealNodes(t)
	if len(nodes) == 0 || nodes[0].PodLogsDir == "" || nodes[0].LogMaxSize != labLogMaxSize {
		t.Fatalf("lab.json: real nodes %+v, want a pod logs directory and logs rotated at %s", nodes, labLogMaxSize)
	}
	return nodes[0].PodLogsDir
}
