package check

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/drain"

	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

// Drain is kubectl drain NODE under the load: the node is cordoned and its
// pods evicted through the Eviction API, which honours their
// PodDisruptionBudgets; the workload is only watched while its controller
// replaces them elsewhere.
type Drain struct {
	Node string
	// Uncordon makes the node schedulable again after the run. A node the
	// run cordoned is uncordoned anyway when the drain did not finish (a
	// PDB refused, a timeout, an interruption): the run leaves it as it
	// found it.
	Uncordon bool
}

// evictRetry is how long the drain waits before asking again for an
// eviction a PodDisruptionBudget refused: kubectl drain's 5 s.
const evictRetry = 5 * time.Second

// drainPlan is one step: cordon the node, evict its pods (DaemonSet pods
// stay, as with kubectl drain --ignore-daemonsets), then wait until the
// workload has all its replicas ready again.
func drainPlan(ctx context.Context, client kubernetes.Interface, cfg *Config) (*Plan, error) {
	d := cfg.Drain
	node, err := client.CoreV1().Nodes().Get(ctx, d.Node, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, ConfigError{fmt.Errorf("node %s not found: --drain names a node (kubectl get nodes)", d.Node)}
	case err != nil:
		return nil, fmt.Errorf("reading node %s: %w", d.Node, err)
	}
	wasCordoned := node.Spec.Unschedulable
	w := driver(client, cfg, cfg.Kind, cfg.Deployment, cfg.Service, rollout.Action{Kind: rollout.ActionDrain}, false)
	p := &Plan{Primary: w, Status: w, Drivers: []*rollout.Driver{w}, Action: cfg.actionName()}
	st := &drainState{client: client, node: d.Node, wasCordoned: wasCordoned, now: cfg.now}
	p.Steps = []Step{{
		Name:   "drain",
		Detail: "drain node/" + d.Node,
		Run: func(ctx context.Context, timeout time.Duration, r Reporter) StepResult {
			return st.run(ctx, timeout, w, r)
		},
	}}
	p.finish = func(ctx context.Context, ph *phases, rep *reporter) {
		in := st.finish(ctx, d.Uncordon || !st.isDrained(), rep)
		own := map[string]bool{}
		for _, pod := range w.PodNames() {
			own[cfg.Namespace+"/"+pod] = true
		}
		for _, ref := range in.Evicted {
			if own[ref] {
				in.WorkloadEvicted++
			}
		}
		in.PDBs = workloadPDBs(ctx, client, cfg.Namespace, w.TemplateLabels())
		ph.drain = in
	}
	return p, nil
}

// workloadPDBs names the PodDisruptionBudgets in namespace that select pods
// with these labels, each with its rule.
func workloadPDBs(ctx context.Context, client kubernetes.Interface, namespace string, podLabels map[string]string) []string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	list, err := client.PolicyV1().PodDisruptionBudgets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var out []string
	for _, pdb := range list.Items {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(podLabels)) {
			continue
		}
		rule := "no limit"
		switch {
		case pdb.Spec.MaxUnavailable != nil:
			rule = "maxUnavailable " + pdb.Spec.MaxUnavailable.String()
		case pdb.Spec.MinAvailable != nil:
			rule = "minAvailable " + pdb.Spec.MinAvailable.String()
		}
		out = append(out, pdb.Name+": "+rule)
	}
	sort.Strings(out)
	return out
}

func (s *drainState) isDrained() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drained
}

// drainState is what the drain step did, for the report and for leaving
// the node as the run found it.
type drainState struct {
	client      kubernetes.Interface
	node        string
	wasCordoned bool
	now         func() time.Time

	mu       sync.Mutex
	cordoned bool // by this run
	drained  bool
	evicted  []string // namespace/name, in order
	refused  map[string]int
	blocking []string // PodDisruptionBudgets that refused an eviction: namespace/name
	err      string
}

func (s *drainState) run(ctx context.Context, timeout time.Duration, w *rollout.Driver, r Reporter) StepResult {
	refusals, stop := s.refusals()
	defer stop()
	h := &drain.Helper{
		Ctx:                  ctx,
		Client:               s.client,
		GracePeriodSeconds:   -1, // each pod's own
		IgnoreAllDaemonSets:  true,
		Timeout:              timeout,
		EvictErrorRetryDelay: evictRetry,
		Out:                  io.Discard,
		ErrOut:               refusals,
		// Called once a pod is gone (err nil): the eviction was accepted
		// and the pod has terminated. Its deletion is on the timeline.
		OnPodDeletionOrEvictionFinished: func(pod *corev1.Pod, _ bool, err error) {
			if err != nil {
				return
			}
			s.mu.Lock()
			s.evicted = append(s.evicted, pod.Namespace+"/"+pod.Name)
			s.mu.Unlock()
		},
	}
	node, err := s.client.CoreV1().Nodes().Get(ctx, s.node, metav1.GetOptions{})
	if err != nil {
		return StepResult{Err: fmt.Errorf("reading node %s: %w", s.node, err)}
	}
	start, triggered := time.Now(), s.now()
	w.Record(rollout.Event{Time: triggered, Type: rollout.RolloutTriggered, Reason: string(rollout.ActionDrain), Detail: "node/" + s.node + " cordoned; its pods are evicted"})
	if err := drain.RunCordonOrUncordon(h, node, true); err != nil {
		return StepResult{Err: fmt.Errorf("cordoning node %s: %w", s.node, err)}
	}
	s.mu.Lock()
	s.cordoned = !s.wasCordoned
	s.mu.Unlock()
	r.Tick()
	r.Notice(fmt.Sprintf("node/%s cordoned; evicting its pods (PodDisruptionBudgets honoured, refused evictions retried every %s)", s.node, evictRetry))
	err = drain.RunNodeDrain(h, s.node)
	if err != nil {
		s.mu.Lock()
		s.err = err.Error()
		s.mu.Unlock()
		s.findBlocking(ctx)
		reason := s.failure()
		if ctx.Err() != nil {
			reason = "interrupted"
		}
		out := rollout.Outcome{Triggered: true, StartedAt: triggered, Reason: reason}
		w.Record(rollout.Event{Time: s.now(), Type: rollout.RolloutFailed, Reason: "drain", Detail: s.failure()})
		return StepResult{Outcome: out}
	}
	s.mu.Lock()
	s.drained = true
	s.mu.Unlock()
	left := timeout - time.Since(start)
	if timeout > 0 && left <= 0 {
		left = time.Millisecond
	}
	return StepResult{Outcome: w.WaitReplicas(ctx, left)}
}

// refusals is the drain helper's ErrOut: it counts, per pod, the
// evictions a disruption budget refused (kubectl prints one line each).
func (s *drainState) refusals() (io.Writer, func()) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if !strings.Contains(line, "disruption budget") {
				continue
			}
			// error when evicting pods/"NAME" -n "NS" (will retry ...
			var name, ns string
			if _, err := fmt.Sscanf(line, "error when evicting pods/%q -n %q", &name, &ns); err != nil {
				continue
			}
			s.mu.Lock()
			if s.refused == nil {
				s.refused = map[string]int{}
			}
			s.refused[ns+"/"+name]++
			s.mu.Unlock()
		}
	}()
	return pw, func() { pw.Close(); <-done }
}

// findBlocking names the PodDisruptionBudgets that select a pod whose
// eviction was refused.
func (s *drainState) findBlocking(ctx context.Context) {
	s.mu.Lock()
	refused := make([]string, 0, len(s.refused))
	for ref := range s.refused {
		refused = append(refused, ref)
	}
	s.mu.Unlock()
	sort.Strings(refused)
	found := map[string]bool{}
	for _, ref := range refused {
		ns, name, _ := strings.Cut(ref, "/")
		pod, err := s.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		pdbs, err := s.client.PolicyV1().PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, pdb := range pdbs.Items {
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
				continue
			}
			found[fmt.Sprintf("%s/%s (allows %d disruptions)", ns, pdb.Name, pdb.Status.DisruptionsAllowed)] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocking = s.blocking[:0]
	for b := range found {
		s.blocking = append(s.blocking, b)
	}
	sort.Strings(s.blocking)
}

// failure says why the drain did not finish.
func (s *drainState) failure() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failureLocked()
}

func (s *drainState) failureLocked() string {
	msg := fmt.Sprintf("drain of node/%s did not finish", s.node)
	switch {
	case len(s.blocking) > 0:
		return msg + ": evictions refused by PodDisruptionBudget " + strings.Join(s.blocking, ", ")
	case len(s.refused) > 0:
		return msg + ": evictions refused by a disruption budget"
	case s.err != "":
		return msg + ": " + firstLine(s.err)
	}
	return msg
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// finish makes the node schedulable again when asked, or when the run
// cordoned it and the drain did not finish, and returns the drain's part of
// the report.
func (s *drainState) finish(ctx context.Context, uncordon bool, rep *reporter) *report.DrainInput {
	s.mu.Lock()
	in := &report.DrainInput{Node: s.node, Evicted: append([]string(nil), s.evicted...), Blocking: append([]string(nil), s.blocking...), Drained: s.drained}
	if s.err != "" {
		in.Error = s.failureLocked()
	}
	cordoned := s.cordoned
	s.mu.Unlock()
	if !cordoned || !uncordon {
		in.LeftCordoned = cordoned || s.wasCordoned
		return in
	}
	// The run's context may be done (an interruption): the node is put
	// back all the same, within a bound.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	err := errors.New("node not found")
	if node, gerr := s.client.CoreV1().Nodes().Get(ctx, s.node, metav1.GetOptions{}); gerr == nil {
		err = drain.RunCordonOrUncordon(&drain.Helper{Ctx: ctx, Client: s.client, Out: io.Discard, ErrOut: io.Discard}, node, false)
	} else {
		err = gerr
	}
	if err != nil {
		rep.warning(fmt.Sprintf("node/%s was cordoned by this run and could not be uncordoned: %v (kubectl uncordon %s)", s.node, err, s.node))
		in.LeftCordoned = true
		return in
	}
	rep.Notice(fmt.Sprintf("node/%s uncordoned", s.node))
	return in
}
