// Package report joins the attack's buckets and failures with the rollout's
// timeline into one computed result (phases, counts, disrupted time, verdict),
// which renderers then only print. The verdict is computed once, in Build,
// together with the diagnosis (package diagnosis): every failure tied to a
// pod and the phase of its lifecycle, the causes (stable codes), the
// measured lags and the settings to change.
package report

import (
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/preflight"
	"github.com/rollcheck/rollcheck/report/diagnosis"
	"github.com/rollcheck/rollcheck/report/internal/format"
	"github.com/rollcheck/rollcheck/rollout"
	"github.com/rollcheck/rollcheck/workload"
)

// Schema is the identifier of the JSON report format. New fields may be added
// within a version; none are renamed or removed.
const Schema = "rollcheck.report/v1"

// Verdict is the answer of a run.
type Verdict string

// Verdicts.
const (
	Pass         Verdict = "PASS"
	Fail         Verdict = "FAIL"
	Inconclusive Verdict = "INCONCLUSIVE"
)

// Verdicts are every verdict, in the order dashboards list them.
var Verdicts = []Verdict{Pass, Fail, Inconclusive}

// MinAchievedRatio is the share of the target rate the load must reach for a
// verdict other than INCONCLUSIVE.
const MinAchievedRatio = 0.95

// Thresholds decide FAIL. A negative ratio disables that check.
type Thresholds struct {
	MaxFailures     int           `json:"max_failures"`
	MaxFailureRatio float64       `json:"max_failure_ratio"` // <0: off
	MaxDisrupted    time.Duration `json:"max_disrupted_ns"`
	MinSuccessRatio float64       `json:"min_success_ratio"` // <0: off
}

// DefaultThresholds allows no failure at all.
func DefaultThresholds() Thresholds {
	return Thresholds{MaxFailures: 0, MaxFailureRatio: -1, MaxDisrupted: 0, MinSuccessRatio: -1}
}

// Input is everything a report is built from.
type Input struct {
	Namespace string
	// Kind is the workload's kind, lower case as kubectl spells it
	// (deployment, statefulset, daemonset); "" is a Deployment. Deployment
	// is its name, whatever the kind.
	Kind        workload.Kind
	Deployment  string
	Action      string
	Services    []string
	Targets     []string
	Attack      *attack.Result
	Events      []rollout.Event
	Outcome     rollout.Outcome
	Thresholds  Thresholds
	Interrupted bool
	// Preflight are the static findings on the Deployment (rollcheck lint).
	Preflight []preflight.Finding
	// Skipped says why the rollout was not triggered ("" when it was).
	Skipped string
	// Spec is the Deployment as it was before the rollout (nil: unknown);
	// recommendations compare their values with its settings.
	Spec *appsv1.Deployment
	// Settings are the workload's settings as the workload model read them
	// (workload.ReadObject; rollcheck run sets them for every kind); nil:
	// read from Spec.
	Settings *workload.Deployment
	// Diagnosis tunes the attribution windows; zero values take defaults.
	Diagnosis DiagnosisOptions
	// Steps are the steps of a canary or of --repeat; nil for one rollout.
	Steps []StepInput
	// Replaces says the action is meant to replace pods (a restart, a new
	// image, an apply, someone else's rollout): a run after which no pod was
	// replaced has tested nothing. False for a switch and canary steps,
	// which move traffic or scale by design.
	Replaces bool
	// Drained is when every pod the rollout removed was gone, with its
	// endpoints (zero: not seen); NotDrained says why the run did not see
	// it ("" when it did, or when the rollout did not complete).
	Drained    time.Time
	NotDrained string
	// SwitchService names the Service of a blue/green switch to Spec's
	// Deployment ("" for other actions): advice is about the switch then.
	SwitchService string
	// Timeout is the client's request timeout (zero: unknown): timeouts
	// when the baseline was already about that slow are the client's.
	Timeout time.Duration
	// Attackers are the attacker pods that sent the load, as the fleet saw them (attack.AttackerPod).
	Attackers []attack.AttackerPod
	// TLS is how the https targets' certificates were checked; nil when
	// no target is https.
	TLS *TargetTLS
	// Front is what carried the load to the pods (nil: not known, as in
	// reports written before it).
	Front *Front
	// Weights is a weighted canary's route and pods (nil for other runs).
	Weights *WeightsInput
	// Drain is a node drain's node, evictions and blocking budgets (nil
	// for other runs).
	Drain *DrainInput
	// KubeProxy is what the run read of the nodes' kube-proxies (nil: it
	// did not try).
	KubeProxy *KubeProxyInput
	// NodeTargets is the front's node targets when they are nodes before a
	// Service with externalTrafficPolicy Local (nil otherwise).
	NodeTargets *NodeTargets
}

// Phase is one part of the run on the rollcheck clock.
type Phase struct {
	Name     string    `json:"name"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Requests int       `json:"requests"`
	Failures int       `json:"failures"`
}

// Load summarizes the load.
type Load struct {
	Targets      []string       `json:"target"`
	Rate         float64        `json:"rate"`
	AchievedRate float64        `json:"achieved_rate"`
	Requests     int            `json:"requests"`
	Failures     int            `json:"failures"`
	SuccessRatio float64        `json:"success_ratio"`
	ByClass      map[string]int `json:"by_class"`
	LatencyP50   float64        `json:"latency_p50_seconds"`
	LatencyP99   float64        `json:"latency_p99_seconds"`
	LatencyMax   float64        `json:"latency_max_seconds"`
	// TLS is how the https targets' certificates were checked; absent
	// when no target is https.
	TLS *TargetTLS `json:"tls,omitempty"`
	// HTTP2: the responses came over HTTP/2 (--http2: h2c on http://
	// targets, ALPN on https://), a connection per target.
	HTTP2 bool `json:"http2,omitempty"`
	// Conns are the keep-alive connections the load held and the pods that
	// answered on them (from the pod header); absent when none was seen.
	Conns *attack.ConnCount `json:"connections_held,omitempty"`
}

// Rollout summarizes the rollout.
type Rollout struct {
	Namespace string `json:"namespace"`
	// Kind is the workload's kind (deployment, statefulset, daemonset);
	// absent in reports of Deployments written before it existed.
	Kind        string     `json:"kind,omitempty"`
	Deployment  string     `json:"deployment"`
	Action      string     `json:"action"`
	Services    []string   `json:"services,omitempty"`
	Triggered   bool       `json:"triggered"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	Completed   bool       `json:"completed"`
	Duration    float64    `json:"duration_seconds"`
	Reason      string     `json:"reason,omitempty"`
	// RemovedGoneAt is when the last pod the rollout removed was gone,
	// endpoints included; absent when the run did not see it.
	RemovedGoneAt *time.Time `json:"removed_gone_at,omitempty"`
	// LoadEndedAt is when the load stopped, to compare with RemovedGoneAt.
	LoadEndedAt *time.Time `json:"load_ended_at,omitempty"`
}

// Report is the computed result of a run. JSON field names are the v1 schema.
type Report struct {
	Schema           string           `json:"schema"`
	Verdict          Verdict          `json:"verdict"`
	Reasons          []string         `json:"reasons"`
	Interrupted      bool             `json:"interrupted"`
	Checks           []Check          `json:"checks"`
	Thresholds       Thresholds       `json:"thresholds"`
	Load             Load             `json:"load"`
	Rollout          Rollout          `json:"rollout"`
	DisruptedSeconds float64          `json:"disrupted_seconds"`
	Phases           []Phase          `json:"phases"`
	FailuresByPod    map[string]int   `json:"failures_by_pod,omitempty"`
	Events           []rollout.Event  `json:"events"`
	Failures         []attack.Failure `json:"failures"`
	FailuresDropped  int              `json:"failures_dropped"`
	BucketWidth      float64          `json:"bucket_width_seconds"`
	Buckets          []attack.Bucket  `json:"buckets"`

	// Diagnosis (issue 4). Causes are ordered by failures, UNATTRIBUTED last.
	Causes []Cause `json:"causes"`
	// Preflight are the lint findings on the Deployment before the run.
	Preflight       []preflight.Finding `json:"preflight"`
	Recommendations []Recommendation    `json:"recommendations"`
	Measurements    Measurements        `json:"measurements"`
	// Attribution says how failures were tied to pods: pod-header,
	// time-window or mixed; "" when no failure was tied to a pod.
	Attribution string       `json:"attribution,omitempty"`
	Attributed  []Attributed `json:"attributed"`

	// Steps are the per-step results of a canary or of --repeat, and
	// StepSummary their aggregate; absent for a single rollout.
	Steps       []Step       `json:"steps,omitempty"`
	StepSummary *StepSummary `json:"step_summary,omitempty"`
	// WeightedCanary is the route a weighted canary's steps shifted; its
	// steps carry their Share.
	WeightedCanary *WeightedCanary `json:"weighted_canary,omitempty"`
	// Drain is the node a drain emptied, the pods it evicted and their
	// replacements; nil for other runs.
	Drain *Drain `json:"drain,omitempty"`
	// KubeProxy is when each node's kube-proxy applied each removal; nil
	// when the run did not read them.
	KubeProxy *KubeProxy `json:"kube_proxy,omitempty"`

	// Connections splits the load by connection kind (connections.go).
	Connections *Connections `json:"connections,omitempty"`
	// Attackers are the pods that sent the load (--attackers).
	Attackers []Attacker `json:"attackers,omitempty"`
	// Front is what carried the load to the pods, given or inferred;
	// absent in reports written before it.
	Front *Front `json:"front,omitempty"`
}

// Build computes the report, including the verdict and its reasons.
func Build(in Input) *Report {
	a := in.Attack
	if a == nil {
		a = &attack.Result{}
	}
	r := &Report{
		Schema:          Schema,
		Interrupted:     in.Interrupted,
		Thresholds:      in.Thresholds,
		Events:          in.Events,
		Failures:        a.FailureList,
		FailuresDropped: a.Dropped,
		BucketWidth:     a.BucketWidth.Seconds(),
		Buckets:         a.Buckets,
	}
	if r.Events == nil {
		r.Events = []rollout.Event{}
	}
	if r.Failures == nil {
		r.Failures = []attack.Failure{}
	}
	if r.Buckets == nil {
		r.Buckets = []attack.Bucket{}
	}
	byClass := map[string]int{}
	for c, n := range a.ByClass {
		byClass[string(c)] = n
	}
	r.Load = Load{
		Targets:      in.Targets,
		Rate:         a.Rate,
		AchievedRate: a.AchievedRate,
		Requests:     a.Requests,
		Failures:     a.Failures,
		ByClass:      byClass,
		LatencyP50:   a.P50.Seconds(),
		LatencyP99:   a.P99.Seconds(),
		LatencyMax:   a.Max.Seconds(),
		TLS:          in.TLS,
		HTTP2:        a.HTTP2,
		Conns:        a.Conns,
	}
	if a.Requests > 0 {
		r.Load.SuccessRatio = float64(a.Requests-a.Failures) / float64(a.Requests)
	}
	r.Connections = buildConnections(in.Attack)
	// From here on, the client's own failures are not the cluster's.
	a = clusterView(a, clientSideOf(in))
	o := in.Outcome
	r.Rollout = Rollout{
		Namespace:  in.Namespace,
		Kind:       string(in.Kind),
		Deployment: in.Deployment,
		Action:     in.Action,
		Services:   in.Services,
		Triggered:  o.Triggered,
		Completed:  o.Completed,
		Reason:     o.Reason,
	}
	if o.Triggered {
		s := o.StartedAt
		r.Rollout.StartedAt = &s
		if o.Completed {
			c := o.CompletedAt
			r.Rollout.CompletedAt = &c
			r.Rollout.Duration = c.Sub(s).Seconds()
		}
	}
	if in.Skipped != "" {
		r.Rollout.Reason = in.Skipped
	}
	if !in.Drained.IsZero() {
		g := in.Drained
		r.Rollout.RemovedGoneAt = &g
	}
	if !a.End.IsZero() {
		e := a.End
		r.Rollout.LoadEndedAt = &e
	}
	r.Phases = phases(a, o)
	r.Steps, r.StepSummary = buildSteps(in.Steps, a, in.Thresholds, in.Weights)
	r.WeightedCanary = weightedCanary(in.Weights)
	r.Drain = buildDrain(in.Drain, in.Events)
	r.KubeProxy = buildKubeProxy(in.KubeProxy, in.Events)
	r.DisruptedSeconds = disrupted(a.Buckets, a.BucketWidth)
	r.FailuresByPod = failuresByPod(a.FailureList)
	d := diagnosis.Diagnose(diagnosis.Input{Attack: a, Events: in.Events, Outcome: in.Outcome, Services: in.Services,
		Spec: in.Spec, Settings: in.Settings, SwitchService: in.SwitchService, Front: frontName(in.Front), Options: in.Diagnosis,
		Backends: backends(in.Weights, in.Steps), Drain: drainDiagnosis(in.Drain), ProxyLags: proxyLags(r.KubeProxy), NodeTargets: in.NodeTargets})
	r.Causes, r.Measurements, r.Attribution, r.Attributed = d.Causes, d.Measurements, d.Attribution, d.Attributed
	nodes := podNodes(in.Events)
	for i, a := range r.Attributed {
		r.Attributed[i].Node = nodes[a.Pod]
	}
	if r.Causes == nil {
		r.Causes = []Cause{}
	}
	if r.Attributed == nil {
		r.Attributed = []Attributed{}
	}
	r.Preflight = in.Preflight
	if r.Preflight == nil {
		r.Preflight = []preflight.Finding{}
	}
	markPredicted(r.Causes, r.Preflight)
	markUncertain(r, in)
	markQueued(r, in, clientSideOf(in))
	r.Recommendations = d.Recommend(r.Causes)
	r.Attackers = buildAttackers(in.Attackers)
	r.Front = in.Front
	r.Checks = append(checks(r, in), attackersCheck(r.Attackers)...)
	if r.WeightedCanary != nil {
		r.Checks = append(r.Checks, canaryShareCheck(r))
	}
	completionUnseen(r, in)
	r.Verdict, r.Reasons = decide(r.Checks)
	if r.Verdict == Pass {
		r.Reasons = []string{fmt.Sprintf("%d requests, 0 over the thresholds; rollout completed in %s", r.Load.Requests, format.Took(r.Rollout.Duration))}
	}
	if in.TLS != nil && !in.TLS.Verified {
		r.Reasons = append(r.Reasons, InsecureReason)
	}
	return r
}

// phases splits the run at the trigger and at completion. Requests are
// counted by bucket (a bucket straddling a boundary counts in the phase its
// start falls in); failures by their exact start time when every failure was
// recorded, so a failure just after the trigger is never blamed on the
// baseline, nor one that started before the trigger and ended after it.
func phases(a *attack.Result, o rollout.Outcome) []Phase {
	if a.Start.IsZero() {
		return []Phase{}
	}
	var out []Phase
	switch {
	case !o.Triggered:
		out = []Phase{{Name: "baseline", Start: a.Start, End: a.End}}
	case o.Completed:
		out = []Phase{{Name: "baseline", Start: a.Start, End: o.StartedAt}, {Name: "rollout", Start: o.StartedAt, End: o.CompletedAt}, {Name: "settle", Start: o.CompletedAt, End: a.End}}
	default:
		out = []Phase{{Name: "baseline", Start: a.Start, End: o.StartedAt}, {Name: "rollout", Start: o.StartedAt, End: a.End}}
	}
	last := len(out) - 1
	index := func(t time.Time) int {
		for i := last; i > 0; i-- {
			if !t.Before(out[i].Start) {
				return i
			}
		}
		return 0
	}
	exact := a.Dropped == 0
	for _, b := range a.Buckets {
		i := index(b.Start)
		out[i].Requests += b.Total
		if !exact {
			out[i].Failures += b.Failed()
		}
	}
	if exact {
		for _, f := range a.FailureList {
			i := index(f.Time)
			// A request in flight at the trigger that failed after it
			// (cut when a pod stopped, say) is the rollout's, not a sign
			// that the service was unhealthy before any change.
			if i == 0 && last > 0 && !f.Time.Add(f.Latency).Before(out[1].Start) {
				i = 1
				out[0].Requests--
				out[1].Requests++
			}
			out[i].Failures++
		}
	}
	return out
}

// disrupted is the union of failed buckets, in seconds.
func disrupted(bs []attack.Bucket, width time.Duration) float64 {
	n := 0
	for _, b := range bs {
		if b.Failed() > 0 {
			n++
		}
	}
	return (time.Duration(n) * width).Seconds()
}

func failuresByPod(fs []attack.Failure) map[string]int {
	m := map[string]int{}
	for _, f := range fs {
		if f.Pod != "" {
			m[f.Pod]++
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// phase returns the named phase, or a zero Phase.
func (r *Report) phase(name string) Phase {
	for _, p := range r.Phases {
		if p.Name == name {
			return p
		}
	}
	return Phase{}
}

// CheckCode names a check for the code that weighs it; Name is the text
// people read (and the JUnit test case name), free to change.
type CheckCode string

// The checks of a run, in the order decide weighs them.
const (
	CheckFinished        CheckCode = "run-finished"
	CheckBaseline        CheckCode = "baseline-without-failures"
	CheckTriggered       CheckCode = "rollout-triggered"
	CheckRequests        CheckCode = "requests-sent"
	CheckCompleted       CheckCode = "rollout-completed"
	CheckMaxFailures     CheckCode = "max-failures"
	CheckMaxFailureRatio CheckCode = "max-failure-ratio"
	CheckMinSuccessRatio CheckCode = "min-success-ratio"
	CheckMaxDisrupted    CheckCode = "max-disrupted"
	CheckRate            CheckCode = "load-rate"
	CheckDrained         CheckCode = "removed-pods-gone"
	CheckReplaced        CheckCode = "pods-replaced"
	CheckWatches         CheckCode = "watches-unbroken"
	CheckRateWindows     CheckCode = "load-rate-per-window"
	CheckClientFailures  CheckCode = "no-client-failures"
	CheckClientTimeout   CheckCode = "timeouts-not-the-clients"
	CheckLoadCarried     CheckCode = "load-carried"
	CheckCanaryShare     CheckCode = "canary-received-traffic"
)

// Check is one judged condition of a run; the verdict is computed from the
// checks, and the JUnit report shows each as a test case.
type Check struct {
	// Code is the check's stable name for programs (added to schema v1;
	// absent in reports written before); Name is for people.
	Code    CheckCode `json:"code"`
	Name    string    `json:"name"`
	Passed  bool      `json:"passed"`
	Skipped bool      `json:"skipped,omitempty"` // not applicable (a threshold turned off, no rollout)
	// Inconclusive marks a check whose failure makes the run INCONCLUSIVE
	// rather than FAIL: it says the run could not judge the rollout.
	Inconclusive bool `json:"inconclusive,omitempty"`
	// Partial marks an Inconclusive check that says the run saw only part
	// of the rollout (the load fell short of its rate somewhere, the load
	// ended before the removed pods were gone): the failures it did see
	// still make a FAIL; without them the run is INCONCLUSIVE, not PASS.
	Partial bool   `json:"-"`
	Message string `json:"message"`
}

// checks evaluates every condition of the verdict, in the order decide
// weighs them.
func checks(r *Report, in Input) []Check {
	base := r.phase("baseline")
	judged := Phase{} // rollout and settle: the failures that are judged
	for _, p := range r.Phases {
		if p.Name != "baseline" {
			judged.Requests += p.Requests
			judged.Failures += p.Failures
		}
	}
	ratio := 0.0
	if judged.Requests > 0 {
		ratio = float64(judged.Failures) / float64(judged.Requests)
	}
	t := r.Thresholds
	reason := r.Rollout.Reason
	if reason == "" {
		reason = "did not complete"
	}
	disrupted := time.Duration(r.DisruptedSeconds * float64(time.Second))
	rate := Check{Code: CheckRate, Name: "load reached its rate", Inconclusive: true, Partial: true, Passed: true,
		Message: fmt.Sprintf("%.1f/s of %.1f/s", r.Load.AchievedRate, r.Load.Rate)}
	if r.Load.Rate > 0 && r.Load.AchievedRate < MinAchievedRatio*r.Load.Rate {
		rate.Passed = false
		rate.Message = fmt.Sprintf("load reached %.1f/s of the %.1f/s asked (%.0f%%, below %.0f%%): the service was not tested at the rate asked", r.Load.AchievedRate, r.Load.Rate, 100*r.Load.AchievedRate/r.Load.Rate, 100*MinAchievedRatio)
	}
	drained := drainedCheck(r, in)
	return []Check{
		{Code: CheckFinished, Name: "run finished", Inconclusive: true, Passed: !in.Interrupted,
			Message: format.Pick(in.Interrupted, "interrupted before the run finished: the report is partial", "not interrupted")},
		{Code: CheckBaseline, Name: "baseline without failures", Inconclusive: true, Passed: base.Failures == 0,
			Message: fmt.Sprintf("%d of %d requests failed in the baseline, before any change", base.Failures, base.Requests) +
				format.Pick(base.Failures > 0, ": the service was already unhealthy, so the rollout was not judged", "")},
		{Code: CheckTriggered, Name: "rollout triggered", Inconclusive: true, Passed: in.Skipped == "", Message: format.Pick(in.Skipped != "", in.Skipped, "triggered")},
		{Code: CheckRequests, Name: "requests sent", Inconclusive: true, Passed: r.Load.Requests > 0, Message: format.Pick(r.Load.Requests == 0, "no request was sent", fmt.Sprintf("%d requests", r.Load.Requests))},
		{Code: CheckCompleted, Name: "rollout completed", Skipped: !r.Rollout.Triggered, Passed: !r.Rollout.Triggered || r.Rollout.Completed,
			Message: format.Pick(r.Rollout.Triggered && !r.Rollout.Completed, fmt.Sprintf("rollout of %s did not complete: %s", r.Workload(), reason), "completed in "+format.Took(r.Rollout.Duration))},
		{Code: CheckMaxFailures, Name: "max-failures", Passed: judged.Failures <= t.MaxFailures,
			Message: fmt.Sprintf("%d requests failed during the rollout and settle (max %d)", judged.Failures, t.MaxFailures)},
		{Code: CheckMaxFailureRatio, Name: "max-failure-ratio", Skipped: t.MaxFailureRatio < 0, Passed: t.MaxFailureRatio < 0 || ratio <= t.MaxFailureRatio,
			Message: fmt.Sprintf("failure ratio %.4f is %s %.4f", ratio, format.Pick(ratio > t.MaxFailureRatio, "above", "within"), t.MaxFailureRatio)},
		{Code: CheckMinSuccessRatio, Name: "min-success-ratio", Skipped: t.MinSuccessRatio < 0, Passed: t.MinSuccessRatio < 0 || 1-ratio >= t.MinSuccessRatio,
			Message: fmt.Sprintf("success ratio %.4f is %s %.4f", 1-ratio, format.Pick(1-ratio < t.MinSuccessRatio, "below", "at least"), t.MinSuccessRatio)},
		{Code: CheckMaxDisrupted, Name: "max-disrupted", Passed: disrupted <= t.MaxDisrupted,
			Message: fmt.Sprintf("disrupted for %.1fs (max %s)", r.DisruptedSeconds, t.MaxDisrupted)},
		rate,
		drained,
		replacedCheck(r, in),
		watchesCheck(r, in),
		rateWindowsCheck(r, in),
		clientCheck(clientSideOf(in)),
		clientTimeoutCheck(clientSideOf(in)),
		loadCarriedCheck(r, in),
	}
}

// decide computes the verdict from the checks. Order matters: a run that was
// interrupted, or whose baseline already failed, cannot say anything about
// the rollout (INCONCLUSIVE); a rollout that did not complete or a broken
// threshold is a FAIL; a load that did not reach its rate cannot PASS.
func decide(cs []Check) (Verdict, []string) {
	var reasons, partial []string
	for _, c := range cs {
		switch {
		case c.Passed || c.Skipped:
		case c.Inconclusive && c.Partial:
			partial = append(partial, c.Message+"; no failure over the thresholds was seen")
		case c.Inconclusive:
			return Inconclusive, []string{c.Message}
		default:
			reasons = append(reasons, c.Message)
		}
	}
	if len(reasons) > 0 {
		return Fail, reasons
	}
	if len(partial) > 0 {
		return Inconclusive, partial
	}
	return Pass, nil
}

// SortedClasses returns the failing classes that occurred, most first.
func (r *Report) SortedClasses() []string {
	var out []string
	for c, n := range r.Load.ByClass {
		if c != string(attack.ClassOK) && n > 0 {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if r.Load.ByClass[out[i]] != r.Load.ByClass[out[j]] {
			return r.Load.ByClass[out[i]] > r.Load.ByClass[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}
