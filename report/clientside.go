package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// ClientTimeoutShare is how close to the client's request timeout the
// baseline's p99 latency may come: at or above it, the service's normal
// latency already reaches the client's limit, and a timeout in the rollout
// cannot be told from that limit.
const ClientTimeoutShare = 0.8

// clientSide is what of the failures the load generator's own machine
// caused rather than the cluster. Those are left out of every count the
// thresholds and the diagnosis read, and make the run INCONCLUSIVE.
type clientSide struct {
	client   int    // failures of class client
	example  string // the error of the first recorded one
	timeouts int    // failures of class timeout, when they cannot be told from the client's limit; else 0
	baseP99  time.Duration
	timeout  time.Duration
}

func clientSideOf(in Input) clientSide {
	a := in.Attack
	if a == nil {
		return clientSide{}
	}
	cs := clientSide{client: a.ByClass[attack.ClassClient], timeout: in.Timeout}
	for _, f := range a.FailureList {
		if f.Class == attack.ClassClient {
			cs.example = f.Error
			break
		}
	}
	if in.Outcome.Triggered {
		cs.baseP99 = baselineP99(a, in.Outcome.StartedAt)
	}
	if n := a.ByClass[attack.ClassTimeout]; n > 0 && cs.slowBaseline() {
		cs.timeouts = n
	}
	return cs
}

// slowBaseline reports whether the baseline's p99 latency reached
// ClientTimeoutShare of the client's timeout.
func (cs clientSide) slowBaseline() bool {
	return cs.timeout > 0 && cs.baseP99 > 0 && float64(cs.baseP99) >= ClientTimeoutShare*float64(cs.timeout)
}

// excluded reports whether failures of class c are the client's.
func (cs clientSide) excluded(c attack.Class) bool {
	return c == attack.ClassClient || c == attack.ClassTimeout && cs.timeouts > 0
}

// baselineP99 is the p99 latency of the baseline, read from its buckets:
// the 99th percentile, by requests, of the buckets' own p99 (the exact
// distribution is not kept per phase).
func baselineP99(a *attack.Result, trigger time.Time) time.Duration {
	return bucketQuantile(a, a.Start, trigger, 0.99, p99, nil)
}

// clusterView is a copy of a without the client's failures, neither as
// failures nor as requests: they never tested the cluster. Phases,
// thresholds, disrupted time, steps and the diagnosis read this view; the
// load's summary, buckets and failure list in the report keep them.
func clusterView(a *attack.Result, cs clientSide) *attack.Result {
	if cs.client == 0 && cs.timeouts == 0 {
		return a
	}
	v := *a
	v.ByClass = make(map[attack.Class]int, len(a.ByClass))
	for c, n := range a.ByClass {
		if !cs.excluded(c) {
			v.ByClass[c] = n
		}
	}
	v.FailureList = make([]attack.Failure, 0, len(a.FailureList))
	for _, f := range a.FailureList {
		if !cs.excluded(f.Class) {
			v.FailureList = append(v.FailureList, f)
		}
	}
	v.Buckets = make([]attack.Bucket, len(a.Buckets))
	removed := 0
	for i, b := range a.Buckets {
		out := b
		out.ByClass = nil
		for c, n := range b.ByClass {
			if cs.excluded(c) {
				out.Total -= n
				removed += n
				continue
			}
			if out.ByClass == nil {
				out.ByClass = map[attack.Class]int{}
			}
			out.ByClass[c] = n
		}
		v.Buckets[i] = out
	}
	v.Requests -= removed
	v.Failures -= removed
	v.Dropped = v.Failures - len(v.FailureList)
	return &v
}

// clientCheck: failures of the load generator's own machine (no local
// port, no file descriptor, a name its resolver cannot resolve) say nothing
// about the rollout, and the requests they stood for tested nothing.
func clientCheck(cs clientSide) Check {
	c := Check{Code: CheckClientFailures, Name: "no failure on the load generator's machine", Inconclusive: true, Partial: true,
		Passed: cs.client == 0, Message: "no request failed on the load generator's machine"}
	if cs.client > 0 {
		c.Message = fmt.Sprintf("%d requests failed on the load generator's own machine (class client", cs.client) +
			format.Pick(cs.example != "", fmt.Sprintf(", e.g. %q", format.Truncate(cs.example, 100)), "") +
			"), not in the cluster: they are not counted against the rollout, and the rollout was not tested by them"
	}
	return c
}

// clientTimeoutCheck: timeouts when the service was already about as slow
// as the client's timeout in the baseline cannot be told from the
// client's own limit; they are not counted, and the run cannot PASS.
func clientTimeoutCheck(cs clientSide) Check {
	c := Check{Code: CheckClientTimeout, Name: "timeouts told from the client's limit", Inconclusive: true, Partial: true, Passed: true}
	switch {
	case cs.timeout <= 0:
		c.Skipped, c.Message = true, "not applicable: the client's timeout is not known"
	case cs.timeouts > 0:
		c.Passed = false
		c.Message = fmt.Sprintf("%d requests timed out, but the baseline's p99 latency was already %s, %.0f%% of the client's %s timeout: these timeouts cannot be told from the client's own limit, so they are not counted (raise --timeout well above the service's normal latency)",
			cs.timeouts, format.Sec(cs.baseP99), 100*cs.baseP99.Seconds()/cs.timeout.Seconds(), format.Sec(cs.timeout))
	default:
		c.Message = fmt.Sprintf("the baseline's p99 latency %s is %.0f%% of the client's %s timeout", format.Sec(cs.baseP99), 100*cs.baseP99.Seconds()/cs.timeout.Seconds(), format.Sec(cs.timeout))
	}
	return c
}

// saturation is the evidence that the load was already not carried
// before the rollout's change (none when it was): the baseline's p99
// latency reached ClientTimeoutShare of the client's timeout (a backlog,
// dropped SYNs, a starved generator). A request's time is when it was
// sent; with
// seconds of queueing on the way, it no longer says when the request
// reached a pod, which is what a time window ties a failure to a pod by.
func saturation(cs clientSide) []string {
	var signs []string
	if cs.slowBaseline() {
		signs = append(signs, fmt.Sprintf("the baseline's p99 latency was already %s, %.0f%% of the client's %s timeout",
			format.Sec(cs.baseP99), 100*cs.baseP99.Seconds()/cs.timeout.Seconds(), format.Sec(cs.timeout)))
	}
	return signs
}

// loadCarriedCheck makes a run INCONCLUSIVE whose load the machine or the
// path to the service could not carry:
//   - the load was saturated before the change (saturation), and no
//     failure was tied to its pod by the pod's own answer: the baseline,
//     the run's control, already failed to carry the rate, and failures
//     tied by time window cannot be placed (issue 24: the lab's balancer
//     at 4,000/s, p50 2.08 s, gave LB_DEREGISTRATION_LAG "routed 6.64 s
//     after not-ready" at high confidence);
//   - or the load fell below MinAchievedRatio of its rate, and every
//     failure fits no pod starting or terminating (UNATTRIBUTED): the
//     load's own limit (a backlog, dropped SYNs), not the rollout's.
//
// A FAIL on either would send the user after a cause that is not there.
func loadCarriedCheck(r *Report, in Input) Check {
	cs := clientSideOf(in)
	c := Check{Code: CheckLoadCarried, Name: "the load was carried", Inconclusive: true, Passed: true}
	base := saturation(cs)
	signs := slices.Clone(base)
	if after := notCarriedAfter(r, in); after != "" {
		base = append(base, after)
	}
	if r.Load.Rate > 0 && r.Load.AchievedRate < MinAchievedRatio*r.Load.Rate {
		signs = append(signs, fmt.Sprintf("the load reached %.1f/s of the %.1f/s asked", r.Load.AchievedRate, r.Load.Rate))
	}
	unattributed, attributed, byHeader := 0, 0, 0
	for _, k := range r.Causes {
		if k.Code == Unattributed {
			unattributed += k.Failures
		} else {
			attributed += k.Failures
		}
	}
	for _, a := range r.Attributed {
		if a.By == ByPodHeader && a.Cause != Unattributed {
			byHeader += a.Failures
		}
	}
	switch {
	case len(base) > 0 && byHeader == 0:
		// No failure at all: the other checks name what they saw
		// (timeouts left out, a rate not reached); this one only keeps
		// the run from a PASS.
		c.Passed, c.Partial = false, unattributed+attributed == 0
		c.Message = fmt.Sprintf("the load was not carried%s: %s. A request's time is when it was sent, and these waited on the way, so ",
			format.Pick(cs.slowBaseline(), " before the rollout", ""), strings.Join(base, "; and "))
		if unattributed+attributed == 0 {
			c.Message += "a failure could have been hidden or delayed; no failure was seen"
		} else if attributed == 0 {
			c.Message += fmt.Sprintf("the %d failures fit no pod starting or terminating; they are the limit of the load or of the path to the service, not the rollout's", unattributed)
		} else {
			c.Message += fmt.Sprintf("the %d failures (%d tied to the rollout's pods by time window only) cannot be placed against the pods' transitions", unattributed+attributed, attributed)
		}
		c.Message += ": lower --rate, or split it over pods with --attackers (or raise --timeout well above the service's normal latency)"
	case len(signs) == 0:
		c.Message = "no sign of a saturated load"
	case unattributed == 0 || attributed > 0:
		c.Message = strings.Join(signs, "; ") + format.Pick(attributed > 0, "; the failures are tied to the rollout's pods", "; no failure to judge") +
			format.Pick(byHeader > 0, " by the pods' own answers, so they are judged", format.Pick(attributed > 0, ", so they are judged", ""))
	default:
		c.Passed = false
		c.Message = fmt.Sprintf("the load was not carried: %s, and the %d failures fit no pod starting or terminating; they are the limit of the load or of the path to the service, not the rollout's (lower --rate, or split it over pods with --attackers)",
			strings.Join(signs, " and "), unattributed)
	}
	return c
}
