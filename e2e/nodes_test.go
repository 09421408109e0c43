package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/report"
)

// The many-nodes lab (ROLLCHECK_E2E_NODE=nodes): three real nodes, the
// third's kube-proxy slowed to a minSyncPeriod of slowSync, as a large
// cluster's kube-proxy applies changes late.
const (
	slowNode = "lab-node-3"
	slowSync = 4 * time.Second
)

func needNodes(t *testing.T) {
	t.Helper()
	needLab(t)
	if lab.node != "nodes" {
		t.Skip("needs the lab of three real nodes (ROLLCHECK_E2E_NODE=nodes, make e2e-nodes)")
	}
}

// TestKubeProxyLagPerNode (issue 22): one node's kube-proxy slowed on
// purpose (minSyncPeriod slowSync), the as-is (an app that exits at once)
// rolled out under load, first through the balancer in instance mode,
// which names the node each request entered through (X-Lab-Node), then
// through that node's kube-proxy alone, a new connection per request
// (--entry-node). For each pod the rollout removed, the lag rollcheck
// measured for the slow node (from its kube-proxy's sync metrics, read
// through the API server's node proxy) is within 25% of when its rules
// really dropped the pod (iptables-save polled in the node's namespace),
// or withheld with a reason; every other node's lags hold against its own
// rules too; and the failures that entered through the slow node while it
// still routed to a removed pod are KUBE_PROXY_LAG, naming it.
func TestKubeProxyLagPerNode(t *testing.T) {
	needNodes(t)
	kubectlApply(t, manifest(t, "demo-nodes.yaml"))
	netns := nodeNetns(t)
	asIs := manifest(t, "as-is.yaml")
	// run takes its subtest's t, so that what fails is reported under the
	// subtest that failed.
	run := func(t *testing.T, name string, args ...string) result {
		t.Helper()
		diagFreshDemo(t, asIs)
		waitFrontServes(t, "the balancer in instance mode", lab.lbInstanceURL, "", 60*time.Second)
		waitRulesCurrent(t, netns)
		t.Logf("pods by node: %s", strings.Join(strings.Fields(kubectl(t, "get", "pods", "-l", "app=demo", "-o", "custom-columns=POD:.metadata.name,NODE:.spec.nodeName", "--no-headers")), " "))
		// The slow node's rules are polled every 40 ms, the others' every
		// 120 ms: enough to catch a lag gone wrong by a second, without
		// loading the 2 cores the nodes share.
		watches := map[string]*ruleWatch{}
		for node, path := range netns {
			every := 120 * time.Millisecond
			if node == slowNode {
				every = 40 * time.Millisecond
			}
			watches[node] = watchRules(path, every)
		}
		r := rollcheck(t, append([]string{"-f", "../scenarios/as-is.scenario.yaml", "--service", "demo-nodes", "--pod-header", "X-Pod-Name",
			"--baseline", "3s", "--settle", "3s"}, args...)...)
		polls := map[string][]rulePoll{}
		for node, w := range watches {
			p, err := w.end()
			if err != nil || len(p) < 10 {
				t.Fatalf("reading %s's rules: %d polls, %v", node, len(p), err)
			}
			polls[node] = p
		}
		diagLog(t, name, r)
		wantLagsMatchRules(t, r, polls)
		return r
	}

	t.Run("instance mode, the entry node named", func(t *testing.T) {
		r := run(t, "as-is, instance mode, "+slowNode+" slowed", "--target", lab.lbInstanceURL+"/", "--node-header", "X-Lab-Node")
		wantSlowNodesFailures(t, r, true)
	})

	t.Run("through the slow node's kube-proxy, new connections", func(t *testing.T) {
		url := lab.kubeProxyURLs[instanceService+"@"+slowNode]
		if url == "" {
			t.Fatalf("no kube-proxy front through %s in lab.json: %v", slowNode, lab.kubeProxyURLs)
		}
		r := run(t, "as-is through "+slowNode+"'s kube-proxy", "--target", url+"/", "--entry-node", slowNode, "--connections", "new", "--front", "kube-proxy")
		wantVerdict(t, r, exitcode.Fail, report.Fail)
		c := wantSlowNodesFailures(t, r, false)
		if c.Failures*2 < r.report.Load.Failures {
			t.Errorf("KUBE_PROXY_LAG has %d of %d failures, want most: every request entered through %s; causes %v", c.Failures, r.report.Load.Failures, slowNode, diagCauseCodes(r))
		}
	})
}

// wantLagsMatchRules compares each node's lags rollcheck measured with
// when that node's rules dropped each removed pod: the slow node's within
// 25% (it is what the test is about), another node's within 25% or 0.3 s
// (its lags are a few syncs of 0.1 s, its rules polled less often).
func wantLagsMatchRules(t *testing.T, r result, polls map[string][]rulePoll) {
	t.Helper()
	kp := r.report.KubeProxy
	if kp == nil || len(kp.Nodes) != 3 {
		t.Fatalf("kube-proxy lags %+v, want the 3 nodes read (front %+v)", kp, r.report.Front)
	}
	ips := runPodIPs(r)
	measured := 0
	for _, rm := range kp.Removals {
		for _, a := range rm.Applied {
			floor := 300 * time.Millisecond
			if a.Node == slowNode {
				floor = 0
			}
			if a.Lag == nil {
				if a.Withheld == "" {
					t.Errorf("%s: %s's lag neither given nor withheld with a reason", rm.Pod, a.Node)
				}
				t.Logf("%s removed at %s: %s's lag withheld: %s", rm.Pod, rm.Changed.Format("15:04:05.000"), a.Node, a.Withheld)
				continue
			}
			held, gone, ok := left(polls[a.Node], ips[rm.Pod], rm.Changed)
			if !ok {
				t.Errorf("%s (%s) removed at %s: still in %s's rules at the last poll, yet rollcheck measured %s", rm.Pod, ips[rm.Pod], rm.Changed.Format("15:04:05.000"), a.Node, *a.Lag)
				continue
			}
			// The rules changed between the two polls: the truth is their
			// middle, give or take half the gap.
			truth := held.Add(gone.Sub(held) / 2)
			want, got := truth.Sub(rm.Changed), a.At.Sub(rm.Changed)
			tol := gone.Sub(held)/2 + 20*time.Millisecond
			if !a.Precise() {
				// A sync that began as the change came, or syncs between two
				// polls, leave a range: the truth must be in it, give or
				// take 25%.
				t.Logf("%s removed at %s: %s's lag %.3f to %.3f s; its rules dropped %s %.3f s after it",
					rm.Pod, rm.Changed.Format("15:04:05.000"), a.Node, a.AtLeast.Seconds(), got.Seconds(), ips[rm.Pod], want.Seconds())
				if want < a.AtLeast*3/4-tol-floor || want > got*5/4+tol+floor {
					t.Errorf("%s: %s's rules dropped it %s after the change, outside the range %s to %s", rm.Pod, a.Node, want, a.AtLeast, got)
				}
				continue
			}
			if a.Node == slowNode {
				measured++
			}
			t.Logf("%s removed at %s: %s applied it at %s by rollcheck; its rules dropped %s between %s and %s: %.3f s against %.3f s (ratio %.2f)",
				rm.Pod, rm.Changed.Format("15:04:05.000"), a.Node, a.At.Format("15:04:05.000"), ips[rm.Pod], held.Format("15:04:05.000"), gone.Format("15:04:05.000"), got.Seconds(), want.Seconds(), got.Seconds()/want.Seconds())
			if diff := (got - want).Abs(); diff > max(want/4, floor)+tol {
				t.Errorf("%s: %s's lag measured %s, its rules say %s: off by more than 25%%", rm.Pod, a.Node, got, want)
			}
		}
	}
	if measured == 0 {
		t.Errorf("no lag of %s measured over %d removals", slowNode, len(kp.Removals))
	}
	// Which node was slowest is the machine's to say: in the CI run of stop 31 a
	// fast node, starved beside a second lab, took 5.8 s once while the
	// slow one's removals all came just before its syncs (2.2 s at most).
	// Each lag is held against its own node's rules above; here the slow
	// node must at least have lagged.
	var slow *report.KubeProxyNode
	for i, n := range kp.Nodes {
		t.Logf("node %s: %d polls, %d syncs, slowest %s (at least %s), precise %t %s", n.Name, n.Polls, n.Syncs, secs(n.Slowest), secs(n.AtLeast), n.Precise, n.Error)
		if n.Name == slowNode {
			slow = &kp.Nodes[i]
		}
	}
	if slow == nil || slow.Slowest == nil || *slow.Slowest < 0.5 {
		t.Fatalf("%s: %+v, want a lag of at least 0.5 s (minSyncPeriod %s)", slowNode, slow, slowSync)
	}
}

// wantSlowNodesFailures wants the failures that entered through the slow
// node while its rules still held a removed pod counted under
// KUBE_PROXY_LAG, which names it, and returns that cause.
func wantSlowNodesFailures(t *testing.T, r result, keptConns bool) report.Cause {
	t.Helper()
	viaSlow := 0
	// A failure through the slow node is its kube-proxy's lag only when
	// it came while the node's rules still held a removed pod: after the
	// pod's endpoint turned not ready and before the node applied that
	// (a pod that stopped before its endpoint changed is another cause:
	// a run of this test saw one 502 so, 0.5 s before the change).
	inLag := func(at time.Time) bool {
		kp := r.report.KubeProxy
		if kp == nil {
			return true
		}
		for _, rm := range kp.Removals {
			for _, a := range rm.Applied {
				if a.Node == slowNode && !at.Before(rm.Changed) && (a.At.IsZero() || !at.After(a.At.Add(200*time.Millisecond))) {
					return true
				}
			}
		}
		return false
	}
	// Around a pod's exit (the as-is exits as its deletion comes, the
	// kubelet reports it up to a second late), a failure through the slow
	// node may as well be a kept connection the exit cut: its conntrack
	// holds that connection on the pod whatever the rules say (keptConns:
	// the balancer keeps its connections to the nodes). A run in
	// this session saw one 502 through the slow node 0.05 s before a
	// pod's endpoint changed, while the node still held two pods removed
	// earlier: it counts for neither.
	nearExit := func(at time.Time) bool {
		if kp := r.report.KubeProxy; kp != nil && keptConns {
			for _, rm := range kp.Removals {
				if at.After(rm.Changed.Add(-300*time.Millisecond)) && at.Before(rm.Changed.Add(time.Second)) {
					return true
				}
			}
		}
		return false
	}
	outside, ambiguous := 0, 0
	for _, f := range r.report.Failures {
		switch {
		case f.Node != slowNode:
		case !inLag(f.Time):
			outside++
		case nearExit(f.Time):
			ambiguous++
		default:
			viaSlow++
		}
	}
	c, ok := causeByCode(r, report.KubeProxyLag)
	t.Logf("%d of %d failures entered through %s while its rules held a removed pod and no pod was exiting (%d more then but as a pod exited, %d through it outside those windows); KUBE_PROXY_LAG: %d, %s confidence (%s)", viaSlow, r.report.Load.Failures, slowNode, ambiguous, outside, c.Failures, c.Confidence, c.Evidence)
	if r.report.Load.Failures > 0 && r.report.Verdict != report.Fail {
		t.Errorf("%d failures, verdict %s", r.report.Load.Failures, r.report.Verdict)
	}
	if ok && !strings.Contains(c.Evidence, "through node ") {
		t.Errorf("KUBE_PROXY_LAG's evidence names no node: %s", c.Evidence)
	}
	if viaSlow > 0 && (!ok || !strings.Contains(c.Evidence, "through node "+slowNode)) {
		t.Errorf("%d failures entered through %s, yet no KUBE_PROXY_LAG names it: causes %v", viaSlow, slowNode, diagCauseCodes(r))
	}
	return c
}

func causeByCode(r result, code report.CauseCode) (report.Cause, bool) {
	for _, c := range r.report.Causes {
		if c.Code == code {
			return c, true
		}
	}
	return report.Cause{}, false
}

// ruleWatch polls a node's iptables NAT table from inside its network
// namespace and keeps, for every poll, which endpoints of the
// Service's chain (KUBE-SVC-…) it held: the rules as kube-proxy really
// left them, independent of its metrics and of rollcheck.
type ruleWatch struct {
	mu    stdsync.Mutex
	polls []rulePoll
	stop  chan struct{}
	done  chan struct{}
	err   error
}

type rulePoll struct {
	at  time.Time // midway through the poll
	ips map[string]bool
}

var svcRule = regexp.MustCompile(`^-A KUBE-SVC-\S+ .*--comment "?default/demo-nodes[^ ]* -> ([0-9.]+):`)

func watchRules(netnsPath string, every time.Duration) *ruleWatch {
	w := &ruleWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for range int(2 * time.Minute / every) { // 2 min at most
			before := time.Now()
			ips, err := ruleIPs(netnsPath)
			after := time.Now()
			if err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				return
			}
			w.mu.Lock()
			w.polls = append(w.polls, rulePoll{at: before.Add(after.Sub(before) / 2), ips: ips})
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// ruleIPs reads the endpoints of the Service's chain from a node's NAT
// table, in its network namespace.
func ruleIPs(netnsPath string) (map[string]bool, error) {
	out, err := exec.Command("nsenter", "--net="+netnsPath, "iptables-save", "-t", "nat").Output()
	if err != nil {
		return nil, err
	}
	ips := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if m := svcRule.FindStringSubmatch(line); m != nil {
			ips[m[1]] = true
		}
	}
	return ips, nil
}

// waitRulesCurrent waits until every node's rules send the Service to
// exactly the demo pods that run now: the slow node applies a change up
// to slowSync late, and a run begun before it has caught up with the
// last one (the pods diagFreshDemo deleted) fails in its baseline (seen
// here: through the slow node, 257 timeouts to the pods of the subtest
// before, which made the baseline's p99 the client's timeout).
func waitRulesCurrent(t *testing.T, netns map[string]string) {
	t.Helper()
	deadline := time.Now().Add(3 * slowSync)
	for {
		want := map[string]bool{}
		for _, ip := range strings.Fields(kubectl(t, "get", "pods", "-l", "app=demo", "--field-selector", "status.phase=Running", "-o", "jsonpath={.items[*].status.podIP}")) {
			want[ip] = true
		}
		var behind []string
		for node, path := range netns {
			got, err := ruleIPs(path)
			if err != nil {
				t.Fatalf("reading %s's rules: %v", node, err)
			}
			if !maps.Equal(got, want) {
				behind = append(behind, fmt.Sprintf("%s holds %v", node, slices.Sorted(maps.Keys(got))))
			}
		}
		if len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes' rules did not come to the pods %v within %s: %s", slices.Sorted(maps.Keys(want)), 3*slowSync, strings.Join(behind, "; "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (w *ruleWatch) end() ([]rulePoll, error) {
	close(w.stop)
	<-w.done
	return w.polls, w.err
}

// left is when ip left the Service's chain after changed: between the
// last poll that still held it and the first that did not.
func left(polls []rulePoll, ip string, changed time.Time) (held, gone time.Time, ok bool) {
	for _, p := range polls {
		if p.at.Before(changed) {
			continue
		}
		if p.ips[ip] {
			held = p.at
			continue
		}
		if held.IsZero() {
			held = changed
		}
		return held, p.at, true
	}
	return time.Time{}, time.Time{}, false
}

// nodeNetns is each real node's network namespace, from lab.json.
func nodeNetns(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range labRealNodes(t) {
		out[n.Name] = n.NetnsPath
	}
	if out[slowNode] == "" {
		t.Fatalf("lab.json names no real node %s", slowNode)
	}
	return out
}

// runPodIPs maps the run's pods to their IPs, from its endpoint events.
func runPodIPs(r result) map[string]string {
	out := map[string]string{}
	for _, e := range r.report.Events {
		if e.IP != "" && e.Pod != "" {
			out[e.Pod] = e.IP
		}
	}
	return out
}

// secs prints an optional number of seconds.
func secs(p *float64) string {
	if p == nil {
		return "none"
	}
	return strconv.FormatFloat(*p, 'f', 3, 64)
}

// realNodeState is one of lab.json's real_nodes.
type realNodeState struct {
	Name       string `json:"name"`
	NetnsPath  string `json:"netns_path"`
	PodLogsDir string `json:"pod_logs_dir"`
	LogMaxSize string `json:"log_max_size"`
}

// labRealNodes are the lab's real nodes, from lab.json.
func labRealNodes(t *testing.T) []realNodeState {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(lab.dir, "lab.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		RealNodes []realNodeState `json:"real_nodes"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	return st.RealNodes
}
