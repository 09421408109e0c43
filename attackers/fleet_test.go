package attackers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rollcheck/rollcheck/attack"
)

func TestSharesSumToTheRate(t *testing.T) {
	for _, c := range []struct {
		rate attack.Rate
		n    int
		want string
	}{
		{attack.Rate{Freq: 100, Per: time.Second}, 3, "34/1s 33/1s 33/1s"},
		{attack.Rate{Freq: 5, Per: time.Second}, 3, "2/1s 2/1s 1/1s"},
		{attack.Rate{Freq: 2, Per: time.Second}, 3, "7/10s 7/10s 6/10s"},
		{attack.Rate{Freq: 9, Per: 100 * time.Millisecond}, 3, "3/100ms 3/100ms 3/100ms"},
	} {
		s, err := Shares(c.rate, c.n)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		sum := 0.0
		for _, r := range s {
			got = append(got, rateArg(r))
			sum += r.PerSecond()
		}
		if strings.Join(got, " ") != c.want || sum < c.rate.PerSecond()-1e-9 || sum > c.rate.PerSecond()+1e-9 {
			t.Errorf("Shares(%v, %d) = %v (sum %v), want %s", c.rate, c.n, got, sum, c.want)
		}
	}
}

func TestOffsetIsTheMinimumRTTSample(t *testing.T) {
	base := time.Unix(1000, 0)
	var c clockState
	// The remote clock is 300ms ahead; the slow sample's asymmetric delay
	// would put the estimate 40ms off.
	c.addRound([]Sample{
		{Sent: base, Remote: base.Add(300*time.Millisecond + 80*time.Millisecond), Received: base.Add(90 * time.Millisecond)},
		{Sent: base, Remote: base.Add(300*time.Millisecond + 1*time.Millisecond), Received: base.Add(2 * time.Millisecond)},
	})
	c.addRound([]Sample{{Sent: base, Remote: base.Add(305*time.Millisecond + 2*time.Millisecond), Received: base.Add(4 * time.Millisecond)}})
	e := c.estimate()
	if e.Offset != 300*time.Millisecond || e.Bound != time.Millisecond || e.Spread != 5*time.Millisecond || e.Samples != 3 || e.Rounds != 2 {
		t.Fatalf("estimate %+v, want offset 300ms ± 1ms, spread 5ms, 3 samples in 2 rounds", e)
	}
}

// fakeAttacker is one pod's clock server and stream.
type fakeAttacker struct {
	startQuery string // POST /start's query
	skew       time.Duration
	srv        *httptest.Server
	started    chan struct{}
	pr         *io.PipeReader
	pw         *io.PipeWriter
	enc        *attack.StreamEncoder
}

type fakeTransport struct {
	mu   sync.Mutex
	pods map[string]*fakeAttacker
}

func (t *fakeTransport) get(pod string) *fakeAttacker {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pods[pod]
}

func (t *fakeTransport) Forward(_ context.Context, _, pod string, port int) (string, func(), error) {
	return t.get(pod).srv.URL, func() {}, nil
}

func (t *fakeTransport) Logs(_ context.Context, _, pod string) (io.ReadCloser, error) {
	return t.get(pod).pr, nil
}

func newFakeAttacker(t *testing.T, skew time.Duration) *fakeAttacker {
	a := &fakeAttacker{skew: skew, started: make(chan struct{})}
	var once sync.Once
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/clock":
			_ = json.NewEncoder(w).Encode(clockAnswer{Time: time.Now().Add(skew)})
		case "/start":
			once.Do(func() {
				a.startQuery = r.URL.RawQuery
				close(a.started)
			})
		}
	}))
	t.Cleanup(a.srv.Close)
	a.pr, a.pw = io.Pipe()
	a.enc = attack.NewStreamEncoder(a.pw)
	a.enc.Skew = skew
	return a
}

// TestFleetMergesResultsOnOneClock: pods are created with the run's labels
// and owner, the headers go to a Secret (not the args), results come back
// on rollcheck's clock whatever the attacker's skew, a stream that ends
// early names its attacker, and Delete removes everything.
func TestFleetMergesResultsOnOneClock(t *testing.T) {
	kube := fake.NewClientset()
	tr := &fakeTransport{pods: map[string]*fakeAttacker{}}
	skews := []time.Duration{400 * time.Millisecond, 0, -250 * time.Millisecond}
	kube.PrependReactor("create", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		pod := action.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		i := len(tr.pods)
		tr.mu.Lock()
		tr.pods[pod.Name] = newFakeAttacker(t, skews[i])
		tr.mu.Unlock()
		pod.Spec.NodeName = "node-" + string(rune('a'+i))
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		return false, nil, nil
	})
	header := http.Header{"Authorization": {"Bearer secret-token"}}
	cfg := Config{
		Count: 3, Image: "rollcheck/rollcheck:test", Namespace: "ns", RunID: "r1", MaxRun: time.Minute,
		ClockEvery: 50 * time.Millisecond,
		Attack: attack.Config{Targets: []attack.Target{{Method: "GET", URL: "http://web.ns.svc/", Header: header}},
			Rate: attack.Rate{Freq: 30, Per: time.Second}, Timeout: time.Second, PodHeader: "X-Pod-Name"},
	}
	ctx := t.Context()
	f, err := Start(ctx, kube, tr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pods, _ := kube.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{LabelSelector: LabelRun + "=r1," + LabelRole + "=" + RoleAttacker})
	if len(pods.Items) != 3 {
		t.Fatalf("%d attacker pods, want 3", len(pods.Items))
	}
	for _, p := range pods.Items {
		args := strings.Join(p.Spec.Containers[0].Args, " ")
		if strings.Contains(args, "secret-token") || !strings.Contains(args, "--rate 10/1s") || !strings.Contains(args, "--wait-start") {
			t.Errorf("pod %s args %q: want its share, --wait-start and no header", p.Name, args)
		}
		if len(p.OwnerReferences) != 1 || p.OwnerReferences[0].Name != OwnerName("r1") || p.Spec.ActiveDeadlineSeconds == nil {
			t.Errorf("pod %s: owner %v deadline %v", p.Name, p.OwnerReferences, p.Spec.ActiveDeadlineSeconds)
		}
	}
	sec, err := kube.CoreV1().Secrets("ns").Get(ctx, OwnerName("r1")+"-headers", metav1.GetOptions{})
	if err != nil || !strings.Contains(sec.StringData[headersKey], "Authorization: Bearer secret-token") {
		t.Fatalf("headers Secret %v %v", sec, err)
	}

	var mu sync.Mutex
	var fed []*vegeta.Result
	feed := func(r *vegeta.Result, _ bool) bool {
		mu.Lock()
		fed = append(fed, r)
		mu.Unlock()
		return true
	}
	if err := f.Go(ctx, sinkFunc(feed)); err != nil {
		t.Fatal(err)
	}
	// Each attacker sends 10 results at known true times; the second
	// one's stream has a line that is no record amid them (a log line of
	// its runtime), which is skipped; the third one's stream then ends
	// without an end record (it died).
	truth := time.Now().Truncate(time.Millisecond)
	for i, name := range []string{"rollcheck-attacker-r1-0", "rollcheck-attacker-r1-1", "rollcheck-attacker-r1-2"} {
		a := tr.get(name)
		<-a.started
		_ = a.enc.Header(attack.StreamRecord{Attacker: name, Start: truth, Rate: 10})
		for k := range 10 {
			_ = a.enc.Result(&vegeta.Result{Seq: uint64(k), Timestamp: truth.Add(time.Duration(k) * 10 * time.Millisecond), Code: 200}, true, "web-1")
			if i == 1 && k == 4 {
				_ = a.enc.Flush()
				_, _ = io.WriteString(a.pw, "E1204 14:00:00.000000 1 log.go:1] not a record\n")
			}
		}
		_ = a.enc.Beacon(attack.StreamRecord{Seq: 1, Time: truth, Requests: 10})
		if i == 2 {
			// It died: its pod failed, and its log ends there.
			p, err := kube.CoreV1().Pods("ns").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p.Status.Phase = corev1.PodFailed
			if _, err := kube.CoreV1().Pods("ns").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			_ = a.pw.Close()
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(fed)
		mu.Unlock()
		if n == 30 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	<-f.members[2].done
	// Deleting the pods ends the two live streams with their end records.
	kube.PrependReactor("delete", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		a := tr.get(action.(k8stesting.DeleteAction).GetName())
		_ = a.enc.End(attack.StreamRecord{Time: time.Now(), Requests: 10})
		_ = a.pw.Close()
		return false, nil, nil
	})
	f.Stop()
	mu.Lock()
	if len(fed) != 30 {
		t.Fatalf("%d results fed, want 30", len(fed))
	}
	for _, r := range fed {
		d := r.Timestamp.Sub(truth)
		if d < -50*time.Millisecond || d > 150*time.Millisecond || r.Headers.Get("X-Pod-Name") != "web-1" {
			t.Errorf("result at %s from the truth (pod %q), want within [0,90ms] ± the clock bound", d, r.Headers.Get("X-Pod-Name"))
		}
	}
	mu.Unlock()
	in := f.Inputs()
	for i, a := range in {
		if err := (a.Offset - skews[i]).Abs(); err > a.Bound+time.Millisecond || a.ClockSamples < startBurst {
			t.Errorf("attacker %d offset %s ± %s, want %s within the bound (%d samples)", i, a.Offset, a.Bound, skews[i], a.ClockSamples)
		}
	}
	if in[0].Problem != "" && !strings.HasPrefix(in[0].Problem, "fell behind") || !strings.HasPrefix(in[2].Problem, "died") {
		t.Errorf("problems %q, %q; want the third attacker died", in[0].Problem, in[2].Problem)
	}
	f.members[1].mu.Lock()
	bad := f.members[1].badLines
	f.members[1].mu.Unlock()
	if bad != 1 || in[1].Problem != "" && !strings.HasPrefix(in[1].Problem, "fell behind") {
		t.Errorf("the second attacker: %d lines skipped, problem %q; want its one log line skipped and its stream read on", bad, in[1].Problem)
	}
	f.Delete()
	left, _ := kube.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
	cms, _ := kube.CoreV1().ConfigMaps("ns").List(ctx, metav1.ListOptions{})
	if len(left.Items) != 0 || len(cms.Items) != 0 {
		t.Fatalf("left %d pods and %d ConfigMaps", len(left.Items), len(cms.Items))
	}
}

// The targets' TLS settings reach every attacker pod: the flags in its
// arguments, the CA bundle through the run's Secret and its environment,
// never in its arguments.
func TestAttackerPodsGetTheTargetTLSSettings(t *testing.T) {
	ca := "-----BEGIN CERTIFICATE-----\nQ0EgYnVuZGxl\n-----END CERTIFICATE-----\n"
	f := &Fleet{runID: "r1", cfg: Config{Namespace: "ns", Image: "rollcheck/rollcheck:test", BeaconEvery: time.Second,
		Attack: attack.Config{Targets: []attack.Target{{Method: "GET", URL: "https://web.ns.svc/"}}, Timeout: time.Second,
			TLS: attack.TLS{CA: []byte(ca), ServerName: "web.example.internal"}}}}
	data := f.secretData()
	if data[targetCAKey] != ca || len(data) != 1 {
		t.Fatalf("the run's Secret holds %v, want the CA bundle only", data)
	}
	pod := f.pod(podSpec{name: "a", rate: attack.Rate{Freq: 1, Per: time.Second}, secret: data})
	c := pod.Spec.Containers[0]
	args := strings.Join(c.Args, " ")
	if !strings.Contains(args, "--target-server-name web.example.internal") || strings.Contains(args, "Q0EgYnVuZGxl") || strings.Contains(args, "--target-insecure") {
		t.Errorf("args %q: want the server name, neither the CA nor insecure", args)
	}
	if env := fromSecret(c.Env); len(env) != 1 || env[0].Name != TargetCAEnv || env[0].ValueFrom.SecretKeyRef.Key != targetCAKey || env[0].ValueFrom.SecretKeyRef.Name != f.secretName() {
		t.Errorf("env %+v, want %s from the run's Secret", c.Env, TargetCAEnv)
	}
	f.cfg.Attack.TLS = attack.TLS{Insecure: true}
	if data := f.secretData(); data != nil {
		t.Errorf("a Secret %v with nothing to hold", data)
	}
	pod = f.pod(podSpec{name: "a", rate: attack.Rate{Freq: 1, Per: time.Second}})
	if args := strings.Join(pod.Spec.Containers[0].Args, " "); !strings.Contains(args, "--target-insecure") || len(fromSecret(pod.Spec.Containers[0].Env)) != 0 {
		t.Errorf("insecure: args %q env %v", args, pod.Spec.Containers[0].Env)
	}
}

// fromSecret is the variables of env that a Secret gives.
func fromSecret(env []corev1.EnvVar) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, e := range env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			out = append(out, e)
		}
	}
	return out
}

// The attackers use their connections as the run resolved them: a run's
// Config gives Connections (its KeepAlive switch left false), and the pods
// must not fall back to a new connection per request.
func TestAttackerPodsKeepTheRunsConnections(t *testing.T) {
	for _, c := range []struct {
		cfg  attack.Config
		want attack.Connections
	}{
		{attack.Config{Connections: attack.ConnectionsReused}, attack.ConnectionsReused},
		{attack.Config{Connections: attack.ConnectionsBoth}, attack.ConnectionsBoth},
		{attack.Config{Connections: attack.ConnectionsNew, KeepAlive: true}, attack.ConnectionsNew},
		{attack.Config{KeepAlive: true}, attack.ConnectionsReused},
		{attack.Config{}, attack.ConnectionsNew},
	} {
		c.cfg.Targets, c.cfg.Timeout = []attack.Target{{Method: "GET", URL: "http://web.ns.svc/"}}, time.Second
		f := &Fleet{runID: "r1", cfg: Config{Namespace: "ns", Image: "rollcheck/rollcheck:test", BeaconEvery: time.Second, Attack: c.cfg}}
		pod := f.pod(podSpec{name: "a", rate: attack.Rate{Freq: 1, Per: time.Second}})
		args := strings.Join(pod.Spec.Containers[0].Args, " ")
		if !strings.Contains(args, "--connections "+string(c.want)+" ") || strings.Contains(args, "--keepalive") {
			t.Errorf("connections %q keepalive %v: args %q, want --connections %s", c.cfg.Connections, c.cfg.KeepAlive, args, c.want)
		}
		// New connections leave TIME_WAITs on the attacker's side: the
		// pod has the widest source port range.
		if sc := pod.Spec.SecurityContext; sc == nil || len(sc.Sysctls) != 1 || sc.Sysctls[0].Name != "net.ipv4.ip_local_port_range" || sc.Sysctls[0].Value != "1024 65535" {
			t.Errorf("pod security context %+v, want the source port range 1024 65535", sc)
		}
	}
}

// TestAttackerPodsRunOnTheCoresTheyAskFor: an attacker's GOMAXPROCS is the
// cores its CPU request rounds up to, not the node's.
func TestAttackerPodsRunOnTheCoresTheyAskFor(t *testing.T) {
	for _, c := range []struct {
		rate      int
		cpu, proc string
	}{{1, "100m", "1"}, {500, "200m", "1"}, {4500, "1", "1"}, {5000, "1100m", "2"}, {12000, "2500m", "3"}} {
		f := &Fleet{runID: "r1", cfg: Config{Namespace: "ns", Image: "rollcheck/rollcheck:test", BeaconEvery: time.Second,
			Attack: attack.Config{Targets: []attack.Target{{Method: "GET", URL: "http://web.ns.svc/"}}, Timeout: time.Second}}}
		ctr := f.pod(podSpec{name: "a", rate: attack.Rate{Freq: c.rate, Per: time.Second}}).Spec.Containers[0]
		var procs []string
		for _, e := range ctr.Env {
			if e.Name == "GOMAXPROCS" {
				procs = append(procs, e.Value)
			}
		}
		if cpu := ctr.Resources.Requests.Cpu().String(); cpu != c.cpu || len(procs) != 1 || procs[0] != c.proc {
			t.Errorf("%d/s: CPU request %s, GOMAXPROCS %v; want %s and %s", c.rate, cpu, procs, c.cpu, c.proc)
		}
	}
}

// sinkFunc is a Sink of results alone (v1 streams), its buckets from no
// origin.
type sinkFunc func(*vegeta.Result, bool) bool

func (f sinkFunc) Feed(r *vegeta.Result, reused bool) bool { return f(r, reused) }
func (sinkFunc) Merge(*attack.Summary, time.Duration) bool { return false }
func (sinkFunc) StartedAt() time.Time                      { return time.Time{} }

// recordingSink keeps what a fleet gives it.
type recordingSink struct {
	origin  time.Time
	mu      sync.Mutex
	fed     []*vegeta.Result
	merged  []*attack.Summary
	offsets []time.Duration
}

func (s *recordingSink) Feed(r *vegeta.Result, _ bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fed = append(s.fed, r)
	return true
}

func (s *recordingSink) Merge(sm *attack.Summary, offset time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.merged, s.offsets = append(s.merged, sm), append(s.offsets, offset)
	return true
}

func (s *recordingSink) StartedAt() time.Time { return s.origin }

// An attacker pod writes the summarized stream (v2) in the run's buckets:
// its arguments ask for it, POST /start gives it the run's origin on its
// own clock, and its summaries reach the run with its clock's offset, the
// failures one by one on the run's clock, its requests counting both.
func TestFleetMergesSummariesOnOneClock(t *testing.T) {
	kube := fake.NewClientset()
	tr := &fakeTransport{pods: map[string]*fakeAttacker{}}
	const skew = 400 * time.Millisecond
	kube.PrependReactor("create", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		pod := action.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		tr.mu.Lock()
		tr.pods[pod.Name] = newFakeAttacker(t, skew)
		tr.mu.Unlock()
		pod.Spec.NodeName = "node-a"
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		return false, nil, nil
	})
	cfg := Config{Count: 1, Image: "rollcheck/rollcheck:test", Namespace: "ns", RunID: "r2", MaxRun: time.Minute, ClockEvery: 50 * time.Millisecond,
		Attack: attack.Config{Targets: []attack.Target{{Method: "GET", URL: "http://web.ns.svc/"}}, Rate: attack.Rate{Freq: 10, Per: time.Second},
			Timeout: time.Second, PodHeader: "X-Pod-Name", BucketWidth: 250 * time.Millisecond}}
	ctx := t.Context()
	f, err := Start(ctx, kube, tr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pods, _ := kube.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
	if args := strings.Join(pods.Items[0].Spec.Containers[0].Args, " "); !strings.Contains(args, "--summarize --bucket 250ms") {
		t.Errorf("args %q: want the summarized stream in the run's buckets", args)
	}
	origin := time.Now().Truncate(time.Millisecond)
	sink := &recordingSink{origin: origin}
	if err := f.Go(ctx, sink); err != nil {
		t.Fatal(err)
	}
	a := tr.get("rollcheck-attacker-r2-0")
	<-a.started
	q, err := url.ParseQuery(a.startQuery)
	if err != nil {
		t.Fatal(err)
	}
	got, err := time.Parse(time.RFC3339Nano, q.Get("origin"))
	if err != nil {
		t.Fatalf("POST /start?%s: %v", a.startQuery, err)
	}
	bound := f.Inputs()[0].Bound + time.Millisecond
	if d := got.Sub(origin.Add(skew)); d.Abs() > bound {
		t.Errorf("origin %s on the attacker's clock, want the run's %s plus its skew %s (± %s)", got, origin, skew, bound)
	}
	a.enc.Version = attack.StreamVersionSummary
	_ = a.enc.Header(attack.StreamRecord{Attacker: "a", Start: origin, Rate: 10})
	sm := &attack.Summary{Origin: origin, Width: 250 * time.Millisecond, First: origin.Add(10 * time.Millisecond), Last: origin.Add(900 * time.Millisecond),
		Buckets: []attack.SummaryBucket{{Index: 0, Counts: []attack.SummaryCount{{Stream: attack.StreamReused, Reused: true, Pod: "web-1", N: 7}}, HistLo: 40, Hist: []uint32{7}, Max: time.Millisecond}}}
	_ = a.enc.Summary(0, sm)
	_ = a.enc.Result(&vegeta.Result{Timestamp: origin.Add(500 * time.Millisecond), Code: 503, URL: "http://web.ns.svc/"}, true, "")
	_ = a.enc.End(attack.StreamRecord{Time: time.Now(), Requests: 8, Failures: 1})
	_ = a.pw.Close()
	<-f.members[0].done
	sink.mu.Lock()
	if len(sink.merged) != 1 || len(sink.fed) != 1 {
		t.Fatalf("%d summaries and %d results, want 1 and 1", len(sink.merged), len(sink.fed))
	}
	if d := sink.offsets[0] - skew; d.Abs() > bound || sink.merged[0].Origin.Add(-sink.offsets[0]).Sub(origin).Abs() > bound {
		t.Errorf("summary merged with offset %s (origin %s), want the attacker's skew %s", sink.offsets[0], sink.merged[0].Origin, skew)
	}
	if d := sink.fed[0].Timestamp.Sub(origin.Add(500 * time.Millisecond)); d.Abs() > bound {
		t.Errorf("the failure at %s from where it was sent on the run's clock", d)
	}
	sink.mu.Unlock()
	in := f.Inputs()[0]
	if in.Requests != 8 || in.Failures != 1 {
		t.Errorf("the attacker counted %d requests, %d failed; want 8 and 1", in.Requests, in.Failures)
	}
	f.Delete()
}

// scriptedLogs serves each opening of a pod's log from the next of its
// texts, as a log read again after the API server's stream was cut or
// the kubelet rotated the file.
type scriptedLogs struct {
	*fakeTransport
	mu     sync.Mutex
	texts  []string
	opened int
}

func (s *scriptedLogs) Logs(context.Context, string, string) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened >= len(s.texts) {
		return nil, errors.New("no more log")
	}
	s.opened++
	return io.NopCloser(strings.NewReader(s.texts[s.opened-1])), nil
}

// An attacker's log that ends without its end record while its pod runs
// is read again, and only what is new counts: read again from its start,
// nothing is counted twice and nothing is missing; read from after a
// rotation that dropped records, the gap is named and the run cannot
// PASS on it.
func TestFleetResumesACutStream(t *testing.T) {
	t0 := time.Now().Truncate(time.Millisecond)
	var recs []string
	encode := func(write func(e *attack.StreamEncoder)) string {
		var b strings.Builder
		e := attack.NewStreamEncoder(&b)
		e.Version = attack.StreamVersionSummary
		write(e)
		_ = e.Flush()
		return b.String()
	}
	recs = append(recs, encode(func(e *attack.StreamEncoder) { _ = e.Header(attack.StreamRecord{Attacker: "a", Start: t0, Rate: 10}) }))
	for s := range 4 {
		recs = append(recs, encode(func(e *attack.StreamEncoder) {
			_ = e.Summary(uint64(s), &attack.Summary{Origin: t0, Width: time.Second, First: t0.Add(time.Duration(s) * time.Second), Last: t0.Add(time.Duration(s) * time.Second),
				Buckets: []attack.SummaryBucket{{Index: s, Counts: []attack.SummaryCount{{Stream: attack.StreamReused, Reused: true, Pod: "web-1", N: 9}}, HistLo: 40, Hist: []uint32{9}, Max: time.Millisecond}}})
			if s == 1 {
				_ = e.Result(&vegeta.Result{Seq: 15, Timestamp: t0.Add(1500 * time.Millisecond), Code: 503, URL: "http://web/"}, true, "")
			}
			_ = e.Beacon(attack.StreamRecord{Seq: uint64(s), Time: t0.Add(time.Duration(s+1) * time.Second)})
		}))
	}
	recs = append(recs, encode(func(e *attack.StreamEncoder) {
		_ = e.End(attack.StreamRecord{Time: t0.Add(4 * time.Second), Requests: 37, Failures: 1})
	}))
	whole := strings.Join(recs, "")
	cutAfterSecond := strings.Join(recs[:3], "")
	// Second 1's record without its failure: the beacons and summaries
	// all there, only the end's count tells.
	lostFailure := strings.Join(append(append([]string{}, recs[:2]...), strings.SplitAfterN(recs[2], "\n", 2)[0]), "") + strings.SplitAfterN(recs[2], "\n", 3)[2] + strings.Join(recs[3:], "")

	for _, c := range []struct {
		name      string
		texts     []string
		summaries int
		fed       int
		problem   string
	}{
		{"read again from its start", []string{cutAfterSecond, whole}, 4, 1, ""},
		{"read from after a rotation that dropped a second", []string{cutAfterSecond, strings.Join(recs[4:], "")}, 3, 1, "lost the records between its beacons 1 and 3"},
		{"read again without a failure it had sent", []string{strings.Join(recs[:2], ""), lostFailure}, 4, 0, "lost 1 of the 37 requests it sent (1 of them failed, 0 failures read)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			kube := fake.NewClientset()
			tr := &scriptedLogs{fakeTransport: &fakeTransport{pods: map[string]*fakeAttacker{}}, texts: c.texts}
			kube.PrependReactor("create", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
				pod := action.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
				tr.mu.Lock()
				tr.pods[pod.Name] = newFakeAttacker(t, 0)
				tr.mu.Unlock()
				pod.Status.Phase = corev1.PodRunning
				pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
				return false, nil, nil
			})
			cfg := Config{Count: 1, Image: "rollcheck/rollcheck:test", Namespace: "ns", RunID: "r3", MaxRun: time.Minute, ClockEvery: 50 * time.Millisecond, BeaconEvery: time.Second,
				Attack: attack.Config{Targets: []attack.Target{{Method: "GET", URL: "http://web.ns.svc/"}}, Rate: attack.Rate{Freq: 10, Per: time.Second}, Timeout: time.Second}}
			f, err := Start(t.Context(), kube, tr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			sink := &recordingSink{origin: t0}
			if err := f.Go(t.Context(), sink); err != nil {
				t.Fatal(err)
			}
			select {
			case <-f.members[0].done:
			case <-time.After(10 * time.Second):
				t.Fatal("the stream was not read to its end")
			}
			sink.mu.Lock()
			merged, fed := len(sink.merged), len(sink.fed)
			sink.mu.Unlock()
			if merged != c.summaries || fed != c.fed || tr.opened != 2 {
				t.Errorf("%d summaries merged and %d results fed over %d openings; want %d, %d and 2", merged, fed, tr.opened, c.summaries, c.fed)
			}
			in := f.Inputs()[0]
			if want := 9*c.summaries + c.fed; in.Requests != want {
				t.Errorf("the attacker counted %d requests, want %d", in.Requests, want)
			}
			if c.problem == "" && in.Problem != "" && !strings.HasPrefix(in.Problem, "fell behind") || c.problem != "" && !strings.Contains(in.Problem, c.problem) {
				t.Errorf("problem %q, want %q", in.Problem, c.problem)
			}
			f.Delete()
		})
	}
}
