package attackers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/rollcheck/rollcheck/attack"
)

// Defaults applied by Start.
const (
	DefaultBeaconEvery  = time.Second
	DefaultClockEvery   = 2 * time.Second
	DefaultReadyTimeout = 2 * time.Minute
	// BehindRatio is the share of its rate an attacker must reach; below,
	// the run is INCONCLUSIVE naming it.
	BehindRatio = 0.9

	startBurst = 16 // clock samples before the start
	runBurst   = 4  // clock samples per round during the run
)

// Config is one fleet.
type Config struct {
	// Count is the number of attacker pods; the rate is split among them.
	Count     int
	Image     string
	Namespace string
	// Attack is the run's load: targets (with headers), total rate,
	// timeout, connection settings, pod header.
	Attack attack.Config
	// MaxRun is the longest the run may take from the start of the load;
	// the pods' activeDeadlineSeconds and the attacks' own bound follow
	// from it.
	MaxRun       time.Duration
	BeaconEvery  time.Duration
	ClockEvery   time.Duration
	ReadyTimeout time.Duration
	// Skew is a test-only clock error given to the first attacker.
	Skew time.Duration
	// RunID names the run's objects (default: random).
	RunID string
	// Now is rollcheck's clock (time.Now when nil).
	Now func() time.Time
	// Logf receives what the fleet does (nil: nothing). Never user input.
	Logf func(format string, args ...any)
}

// Transport reaches the attacker pods through the API server.
type Transport interface {
	// Forward opens a tunnel to the pod's port and returns its local
	// base URL (http://127.0.0.1:N) and a function closing it.
	Forward(ctx context.Context, namespace, pod string, port int) (string, func(), error)
	// Logs follows the container's log from its start.
	Logs(ctx context.Context, namespace, pod string) (io.ReadCloser, error)
}

// Fleet is a run's attacker pods.
type Fleet struct {
	cfg      Config
	kube     kubernetes.Interface
	tr       Transport
	runID    string
	ownerUID types.UID
	members  []*member

	feed      Sink
	startedAt time.Time
	stoppedAt time.Time

	bg          context.Context // the followers and the sampler
	cancel      context.CancelFunc
	sampleCtx   context.Context // the sampler alone: it ends first at Stop
	stopSampler context.CancelFunc
	sampler     sync.WaitGroup
	stopped     bool
}

// member is one attacker.
type member struct {
	spec podSpec
	node string
	cpu  string
	mem  string
	base string
	shut func()
	hc   *http.Client

	done chan struct{} // closed when its stream has ended

	mu          sync.Mutex
	clock       clockState
	requests    int
	failures    int
	first, last time.Time // corrected request times
	ended       bool      // end record seen
	stopping    bool
	problem     string
	badLines    int

	failureTimes []time.Time
}

// Start creates the run's owner ConfigMap, the headers' Secret and the
// attacker pods, waits for every pod to run and answer on its clock port,
// and measures each clock. The load does not start yet: Go starts it. On
// error everything created is deleted again.
func Start(ctx context.Context, kube kubernetes.Interface, tr Transport, cfg Config) (*Fleet, error) {
	if cfg.BeaconEvery <= 0 {
		cfg.BeaconEvery = DefaultBeaconEvery
	}
	if cfg.ClockEvery <= 0 {
		cfg.ClockEvery = DefaultClockEvery
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RunID == "" {
		cfg.RunID = NewRunID()
	}
	if cfg.Attack.Timeout <= 0 {
		cfg.Attack.Timeout = attack.DefaultTimeout
	}
	if err := checkTargets(cfg.Attack.Targets, cfg.Attack.TLS); err != nil {
		return nil, err
	}
	shares, err := Shares(cfg.Attack.Rate, cfg.Count)
	if err != nil {
		return nil, err
	}
	f := &Fleet{cfg: cfg, kube: kube, tr: tr, runID: cfg.RunID}
	f.bg, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
	f.sampleCtx, f.stopSampler = context.WithCancel(f.bg)
	for i, r := range shares {
		s := podSpec{name: fmt.Sprintf("rollcheck-attacker-%s-%d", f.runID, i), index: i, rate: r}
		if i == 0 {
			s.skew = cfg.Skew
		}
		f.members = append(f.members, &member{spec: s, done: make(chan struct{})})
	}
	if err := f.create(ctx); err != nil {
		f.Delete()
		return nil, err
	}
	if err := f.waitReady(ctx); err != nil {
		f.Delete()
		return nil, err
	}
	if err := f.measure(ctx); err != nil {
		f.Delete()
		return nil, err
	}
	return f, nil
}

// RunID is the run's id, the value of its LabelRun.
func (f *Fleet) RunID() string { return f.runID }

func (f *Fleet) logf(format string, args ...any) {
	if f.cfg.Logf != nil {
		f.cfg.Logf(format, args...)
	}
}

func (f *Fleet) create(ctx context.Context) error {
	ns := f.cfg.Namespace
	cm, err := f.kube.CoreV1().ConfigMaps(ns).Create(ctx, f.ownerConfigMap(), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating the run's ConfigMap %s: %w", OwnerName(f.runID), err)
	}
	f.ownerUID = cm.UID
	data := f.secretData()
	if data != nil {
		if _, err := f.kube.CoreV1().Secrets(ns).Create(ctx, f.runSecret(data), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating the Secret of the request headers and target CA: %w", err)
		}
	}
	for _, m := range f.members {
		m.spec.secret = data
		if _, err := f.kube.CoreV1().Pods(ns).Create(ctx, f.pod(m.spec), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating attacker pod %s: %w", m.spec.name, err)
		}
	}
	f.logf("created %d attacker pods of run %s in namespace %s", len(f.members), f.runID, ns)
	return nil
}

// waitReady polls the pods until each is Ready, one fails, or the time is
// up; the error names the pods and what they wait for.
func (f *Fleet) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.ReadyTimeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		var waiting []string
		for _, m := range f.members {
			pod, err := f.kube.CoreV1().Pods(f.cfg.Namespace).Get(ctx, m.spec.name, metav1.GetOptions{})
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				return fmt.Errorf("attacker pod %s: %w", m.spec.name, err)
			}
			if why := podFailed(pod); why != "" {
				return fmt.Errorf("attacker pod %s cannot run: %s", m.spec.name, why)
			}
			if !podReady(pod) {
				waiting = append(waiting, m.spec.name+" ("+podState(pod)+")")
				continue
			}
			m.node = pod.Spec.NodeName
			c := pod.Spec.Containers[0].Resources.Requests
			m.cpu, m.mem = c.Cpu().String(), c.Memory().String()
		}
		if len(waiting) == 0 && ctx.Err() == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if len(waiting) == 0 {
				return ctx.Err()
			}
			return fmt.Errorf("attacker pods not ready after %s: %s", f.cfg.ReadyTimeout, strings.Join(waiting, ", "))
		case <-tick.C:
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podFailed says why a pod will never become ready ("" if it may still).
func podFailed(p *corev1.Pod) string {
	switch p.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		return fmt.Sprintf("phase %s %s", p.Status.Phase, p.Status.Message)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "CrashLoopBackOff":
				return w.Reason + ": " + w.Message
			}
		}
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf("container exited %d (%s)", t.ExitCode, t.Reason)
		}
	}
	return ""
}

func podState(p *corev1.Pod) string {
	if p.Spec.NodeName == "" {
		return "not scheduled"
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason
		}
	}
	return string(p.Status.Phase)
}

// measure opens each pod's clock tunnel and takes the first burst of
// samples.
func (f *Fleet) measure(ctx context.Context) error {
	return f.eachMember(func(m *member) error {
		if err := f.connect(ctx, m); err != nil {
			return fmt.Errorf("attacker %s: clock port not reachable: %w", m.spec.name, err)
		}
		round, err := burst(ctx, m.hc, m.base, startBurst, f.cfg.Now)
		if err != nil {
			return fmt.Errorf("attacker %s: clock not readable: %w", m.spec.name, err)
		}
		m.mu.Lock()
		m.clock.addRound(round)
		e := m.clock.estimate()
		m.mu.Unlock()
		f.logf("attacker %s on %s: clock offset %s ± %s", m.spec.name, m.node, e.Offset, e.Bound)
		return nil
	})
}

// eachMember runs do for every member at once and joins their errors.
func (f *Fleet) eachMember(do func(*member) error) error {
	errs := make([]error, len(f.members))
	var wg sync.WaitGroup
	for i, m := range f.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = do(m)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// connect (re)opens m's tunnel to its clock port.
func (f *Fleet) connect(ctx context.Context, m *member) error {
	if m.shut != nil {
		m.shut()
	}
	base, shut, err := f.tr.Forward(ctx, f.cfg.Namespace, m.spec.name, ClockPort)
	if err != nil {
		return err
	}
	m.base, m.shut = base, shut
	m.hc = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	return nil
}

// Sink takes the attackers' results on rollcheck's clock: each failure
// (and, from an attacker of the v1 stream, each success) by Feed, the
// summaries of successes by Merge; StartedAt is the origin of its
// buckets. The run's *attack.Attack is one.
type Sink interface {
	Feed(r *vegeta.Result, reused bool) bool
	Merge(sm *attack.Summary, offset time.Duration) bool
	StartedAt() time.Time
}

// Go starts the load of every attacker at once, feeding its results, on
// rollcheck's clock, to sink. The results stream until Stop.
func (f *Fleet) Go(ctx context.Context, sink Sink) error {
	f.feed = sink
	origin := sink.StartedAt()
	for _, m := range f.members {
		// A log stream may answer only once the container writes (the
		// header comes at the start): open it in the follower.
		go f.follow(m)
	}
	f.startedAt = f.cfg.Now()
	err := f.eachMember(func(m *member) error {
		// The summaries' buckets start where the run's do, on the
		// attacker's clock.
		u := m.base + "/start"
		if !origin.IsZero() {
			m.mu.Lock()
			off := m.clock.estimate().Offset
			m.mu.Unlock()
			u += "?origin=" + url.QueryEscape(origin.Add(off).Format(time.RFC3339Nano))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
		resp, err := m.hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				err = errors.New(resp.Status)
			}
		}
		if err != nil {
			return fmt.Errorf("attacker %s: starting its load: %w", m.spec.name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	f.sampler.Add(1)
	go f.sample()
	return nil
}

// podEnd describes how m's pod ended, when the API says.
func (f *Fleet) podEnd(m *member) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pod, err := f.kube.CoreV1().Pods(f.cfg.Namespace).Get(ctx, m.spec.name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	if why := podFailed(pod); why != "" {
		return " (" + why + ")"
	}
	return ""
}

// sample measures the clocks every ClockEvery until Stop; a round that
// fails after one reconnect makes the attacker's clock unreachable.
func (f *Fleet) sample() {
	defer f.sampler.Done()
	t := time.NewTicker(f.cfg.ClockEvery)
	defer t.Stop()
	for {
		select {
		case <-f.sampleCtx.Done():
			return
		case <-t.C:
		}
		for _, m := range f.members {
			round, err := burst(f.sampleCtx, m.hc, m.base, runBurst, f.cfg.Now)
			if err != nil && f.sampleCtx.Err() == nil {
				if cerr := f.connect(f.sampleCtx, m); cerr == nil {
					round, err = burst(f.sampleCtx, m.hc, m.base, runBurst, f.cfg.Now)
				}
			}
			if f.sampleCtx.Err() != nil {
				return
			}
			m.mu.Lock()
			if err != nil && m.problem == "" && !m.stopping {
				m.problem = "its clock could not be reached: " + err.Error()
			}
			m.clock.addRound(round)
			m.mu.Unlock()
		}
	}
}

// Stop ends the load: the pods are deleted (SIGTERM: each attacker ends its
// stream with an end record), and their streams are read to their end,
// waiting at most the request timeout and a margin. Every result up to
// then has been fed when Stop returns. The objects are left to Delete.
func (f *Fleet) Stop() {
	if f.stopped {
		return
	}
	f.stopped = true
	f.stoppedAt = f.cfg.Now()
	// The clocks are not sampled while the pods go away.
	f.stopSampler()
	f.sampler.Wait()
	for _, m := range f.members {
		m.mu.Lock()
		m.stopping = true
		m.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range f.members {
		err := f.kube.CoreV1().Pods(f.cfg.Namespace).Delete(ctx, m.spec.name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			f.logf("deleting attacker %s: %v", m.spec.name, err)
		}
	}
	wait := time.NewTimer(f.cfg.Attack.Timeout + 15*time.Second)
	defer wait.Stop()
	for _, m := range f.members {
		if f.feed == nil {
			break // never started: no stream
		}
		select {
		case <-m.done:
		case <-wait.C:
			m.mu.Lock()
			if m.problem == "" {
				m.problem = "its stream did not end after it was stopped"
			}
			m.mu.Unlock()
		}
	}
	f.cancel()
	for _, m := range f.members {
		if m.shut != nil {
			m.shut()
		}
	}
}

// Delete removes the run's objects (the owner ConfigMap, whose garbage
// collection takes the rest, and the Secret and pods directly), waiting a
// bounded time for the pods to be gone. Safe after Stop, on error paths,
// and more than once.
func (f *Fleet) Delete() {
	f.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), f.cfg.Attack.Timeout+30*time.Second)
	defer cancel()
	ns := f.cfg.Namespace
	bg := metav1.DeletePropagationBackground
	if err := f.kube.CoreV1().ConfigMaps(ns).Delete(ctx, OwnerName(f.runID), metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
		f.logf("deleting ConfigMap %s: %v", OwnerName(f.runID), err)
	}
	if err := f.kube.CoreV1().Secrets(ns).Delete(ctx, f.secretName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		f.logf("deleting Secret %s-headers: %v", OwnerName(f.runID), err)
	}
	for _, m := range f.members {
		if err := f.kube.CoreV1().Pods(ns).Delete(ctx, m.spec.name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			f.logf("deleting attacker %s: %v", m.spec.name, err)
		}
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		list, err := f.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelRun + "=" + f.runID})
		if err == nil && len(list.Items) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			f.logf("attacker pods of run %s still terminating; `rollcheck cleanup` removes leftovers", f.runID)
			return
		case <-tick.C:
		}
	}
}

// Inputs are the attackers for the report, after Stop.
func (f *Fleet) Inputs() []attack.AttackerPod {
	span := f.stoppedAt.Sub(f.startedAt)
	var out []attack.AttackerPod
	for _, m := range f.members {
		m.mu.Lock()
		e := m.clock.estimate()
		in := attack.AttackerPod{
			Pod: m.spec.name, Node: m.node, CPURequest: m.cpu, MemoryRequest: m.mem,
			Share: m.spec.rate.PerSecond(), Requests: m.requests, Failures: m.failures,
			Start: m.first, End: m.last, Offset: e.Offset, Bound: e.Bound, Spread: e.Spread, ClockSamples: e.Samples,
			Problem: m.problem, FailureTimes: m.failureTimes,
		}
		m.mu.Unlock()
		if f.feed != nil && span > 0 {
			in.Achieved = float64(in.Requests) / span.Seconds()
			if in.Problem == "" && in.Achieved < BehindRatio*in.Share {
				in.Problem = fmt.Sprintf("fell behind: %.1f/s of its %.1f/s share (below %.0f%%)", in.Achieved, in.Share, 100*BehindRatio)
			}
		}
		out = append(out, in)
	}
	return out
}
