package diagnosis

import (
	"math"
	"sort"
	"time"

	"github.com/rollcheck/rollcheck/attack"
)

// TerminatingPod holds the measured durations of one pod's termination, in
// seconds on the rollcheck clock. Absent values were not observed.
type TerminatingPod struct {
	Pod               string   `json:"pod"`
	GraceSeconds      *float64 `json:"grace_seconds,omitempty"`
	DeletionToUnready *float64 `json:"deletion_to_unready_seconds,omitempty"`
	DeletionToRemoved *float64 `json:"deletion_to_removed_seconds,omitempty"`
	DeletionToExit    *float64 `json:"deletion_to_exit_seconds,omitempty"`
	// DeletionToExitMin and Max bound when the container exited, from its
	// finishedAt (whole seconds), when the exit was seen later than it
	// can have happened (a real kubelet reports exits seconds late).
	DeletionToExitMin       *float64 `json:"deletion_to_exit_min_seconds,omitempty"`
	DeletionToExitMax       *float64 `json:"deletion_to_exit_max_seconds,omitempty"`
	ExitCode                *int32   `json:"exit_code,omitempty"`
	DeletionToLastSuccess   *float64 `json:"deletion_to_last_success_seconds,omitempty"`
	DeletionToFirstFailure  *float64 `json:"deletion_to_first_failure_seconds,omitempty"`
	UnreadyToLastSuccess    *float64 `json:"unready_to_last_success_seconds,omitempty"`
	UnreadyToLastRoutedFail *float64 `json:"unready_to_last_routed_failure_seconds,omitempty"`
	RoutingLag              *float64 `json:"routing_lag_seconds,omitempty"` // last request routed to the pod − endpoint not ready
	Failures                int      `json:"failures"`
	RoutingLagFromDeletion  bool     `json:"routing_lag_from_deletion,omitempty"` // no endpoint event: lag counted from deletion
	// RoutingLagUpTo is how long the routing may have lasted, when longer
	// than RoutingLag: failures tied to the pod that fit another cause, or
	// another old pod, as well came until then, and measure no lag.
	RoutingLagUpTo *float64 `json:"routing_lag_up_to_seconds,omitempty"`
	// Containers are each container's exit after the deletion, the first
	// to exit first, when the pod had more than one (a sidecar beside the
	// app: which one stopped first decides what the front met).
	Containers []ContainerStop `json:"containers,omitempty"`
}

// ContainerStop is one container's exit after its pod's deletion: within
// [Min, Max] seconds after it (the kubelet's finishedAt has whole seconds,
// and a real kubelet reports an exit late).
type ContainerStop struct {
	Name     string  `json:"name"`
	ExitMin  float64 `json:"deletion_to_exit_min_seconds"`
	ExitMax  float64 `json:"deletion_to_exit_max_seconds"`
	ExitCode *int32  `json:"exit_code,omitempty"`
}

// NewPod holds the measured start-up of one pod created during the run.
type NewPod struct {
	Pod                 string   `json:"pod"`
	CreatedToReady      *float64 `json:"created_to_ready_seconds,omitempty"`
	StartedToReady      *float64 `json:"started_to_ready_seconds,omitempty"`
	ReadyToFirstSuccess *float64 `json:"ready_to_first_success_seconds,omitempty"`
	ReadyToLastFailure  *float64 `json:"ready_to_last_failure_seconds,omitempty"`
	Failures            int      `json:"failures"`
}

// Measurements are the numbers a person would otherwise estimate by hand.
type Measurements struct {
	TerminatingPods []TerminatingPod `json:"terminating_pods"`
	NewPods         []NewPod         `json:"new_pods"`
	// MinReadyEndpoints is the fewest ready endpoints of the Service during
	// the rollout; absent when no endpoint was watched.
	MinReadyEndpoints *int `json:"min_ready_endpoints,omitempty"`
	// NoReadySeconds is how long the Service had no ready endpoint from the
	// trigger to the end of the load: the downtime a Recreate rollout or a
	// switch to unready pods causes, whatever the load balancer adds to it.
	NoReadySeconds *float64 `json:"no_ready_endpoints_seconds,omitempty"`
	MaxRoutingLag  *float64 `json:"max_routing_lag_seconds,omitempty"`
	// MaxRoutingLagUpTo is the largest TerminatingPod.RoutingLagUpTo, when
	// it is larger than MaxRoutingLag (or no lag was measured): the
	// routing lag is then known only to lie between the two.
	MaxRoutingLagUpTo *float64 `json:"max_routing_lag_up_to_seconds,omitempty"`
	// SlowestKubeProxy is the node whose kube-proxy took longest to apply
	// the removal of a pod that failed requests under KUBE_PROXY_LAG.
	SlowestKubeProxy *SlowestProxy `json:"slowest_kube_proxy,omitempty"`
	MaxShutdown      *float64      `json:"max_shutdown_seconds,omitempty"` // deletion → clean exit, minus preStop
	// ShutdownByContainer is MaxShutdown for each container, by name: the
	// grace period must hold each container's own preStop and shutdown,
	// not the longest preStop of one plus the longest shutdown of another.
	ShutdownByContainer map[string]float64 `json:"shutdown_seconds_by_container,omitempty"`
	// LongestCut is the longest a request cut in flight at an exit had
	// been open (INFLIGHT_CUT): the least such a request needs.
	LongestCut *float64 `json:"longest_cut_seconds,omitempty"`
	// slowestTimedOut: the run's slowest request is one that hit the
	// client's timeout (a target that never answered), not a request
	// that took that long to serve.
	slowestTimedOut bool
}

// shutdown is how long a container took to exit after its preStop: from
// the deletion to its exit, less its own preStop sleep (a container's
// exit minus another's preStop would count one preStop against the
// other's shutdown). preStops are by container name; a container not in
// it (no name, or the spec unknown) is taken to run preStop.
func shutdown(del time.Time, name string, x exit, preStops map[string]time.Duration, preStop time.Duration) (time.Duration, bool) {
	if x.code != nil && *x.code == exitCodeKilled {
		return 0, false // SIGKILLed at the end of the grace period: no shutdown of its own
	}
	ps, ok := preStops[name]
	if !ok {
		ps = preStop
	}
	// The latest the exit can have happened: a real kubelet reports it
	// seconds late, and its finishedAt bounds it (life.exitHi).
	return max(x.hi.Sub(del)-ps, 0), true
}

func secsPtr(d time.Duration) *float64 {
	v := math.Round(d.Seconds()*1000) / 1000
	return &v
}

// measure computes the per-pod durations and the minimum ready endpoints.
func measure(in Input, a *attack.Result, pods map[string]*life, steps readySteps, preStop time.Duration, preStops map[string]time.Duration, fm frontModel) Measurements {
	m := Measurements{TerminatingPods: []TerminatingPod{}, NewPods: []NewPod{}}
	names := make([]string, 0, len(pods))
	for n := range pods {
		names = append(names, n)
	}
	sort.Strings(names)
	var maxLag, maxUpTo, maxShut time.Duration
	hasLag, hasUpTo, hasShut := false, false, false
	for _, n := range names {
		p := pods[n]
		if !p.del.IsZero() {
			tp := TerminatingPod{Pod: n, ExitCode: p.exitCode, Failures: p.terminatingFailures}
			if p.graceKnown {
				tp.GraceSeconds = secsPtr(p.grace)
			}
			tp.DeletionToUnready = span(p.del, p.unready)
			tp.DeletionToRemoved = span(p.del, p.removed)
			if !p.exited.IsZero() {
				tp.DeletionToExit = secsPtr(p.exited.Sub(p.del))
				if p.exitStamped {
					tp.DeletionToExitMin, tp.DeletionToExitMax = secsPtr(p.exitLo.Sub(p.del)), secsPtr(p.exitHi.Sub(p.del))
				}
			}
			exits := p.exits
			if len(exits) == 0 && !p.exited.IsZero() {
				exits = map[string]exit{"": {at: p.exited, lo: p.exitLo, hi: p.exitHi, code: p.exitCode}}
			}
			for name, x := range exits {
				sh, ok := shutdown(p.del, name, x, preStops, preStop)
				if !ok {
					continue
				}
				if !hasShut || sh > maxShut {
					maxShut, hasShut = sh, true
				}
				if name != "" {
					if m.ShutdownByContainer == nil {
						m.ShutdownByContainer = map[string]float64{}
					}
					m.ShutdownByContainer[name] = max(m.ShutdownByContainer[name], *secsPtr(sh))
				}
			}
			tp.Containers = containerStops(p)
			tp.DeletionToLastSuccess = span(p.del, p.lastOK)
			tp.DeletionToFirstFailure = span(p.del, p.firstTermFail)
			ref := p.unready
			if ref.IsZero() {
				ref = p.del
				tp.RoutingLagFromDeletion = true
			}
			last := time.Time{}
			if !p.lastOK.IsZero() && !p.lastOK.Before(p.del) {
				tp.UnreadyToLastSuccess = secsPtr(p.lastOK.Sub(ref))
				// Through a front that pins connections, a late success
				// may have come over a connection kept since before the
				// endpoint turned not-ready: it shows no routing then.
				if !fm.keepsConnections() {
					last = p.lastOK
				}
			}
			if !p.lastRouted.IsZero() {
				tp.UnreadyToLastRoutedFail = secsPtr(p.lastRouted.Sub(ref))
				if p.lastRouted.After(last) {
					last = p.lastRouted
				}
			}
			if !last.IsZero() {
				// A success after the deletion but before the endpoint
				// turned not ready shows no routing after it: no lag,
				// not a negative one.
				lag := max(last.Sub(ref), 0)
				tp.RoutingLag = secsPtr(lag)
				if !hasLag || lag > maxLag {
					maxLag, hasLag = lag, true
				}
			}
			if unsure := maxTime(p.lastRoutedUnsure, p.lastRoutedShared); unsure.After(last) {
				up := max(unsure.Sub(ref), 0)
				tp.RoutingLagUpTo = secsPtr(up)
				if !hasUpTo || up > maxUpTo {
					maxUpTo, hasUpTo = up, true
				}
			} else if last.IsZero() {
				tp.RoutingLagFromDeletion = false
			}
			m.TerminatingPods = append(m.TerminatingPods, tp)
		}
		if !p.initial && (!p.created.IsZero() || !p.ready.IsZero()) {
			np := NewPod{Pod: n, Failures: p.newFailures}
			if !p.ready.IsZero() {
				np.CreatedToReady = span(p.created, p.ready)
				np.StartedToReady = span(p.started, p.ready)
				np.ReadyToFirstSuccess = span(p.ready, p.firstOK)
				np.ReadyToLastFailure = span(p.ready, p.lastNewFail)
			}
			m.NewPods = append(m.NewPods, np)
		}
	}
	if hasLag {
		m.MaxRoutingLag = secsPtr(maxLag)
	}
	if hasUpTo && (!hasLag || maxUpTo > maxLag) {
		m.MaxRoutingLagUpTo = secsPtr(maxUpTo)
	}
	if hasShut {
		m.MaxShutdown = secsPtr(maxShut)
	}
	from, to := in.Outcome.StartedAt, in.Outcome.CompletedAt
	if !in.Outcome.Triggered || from.IsZero() {
		from = a.Start
	}
	if to.IsZero() || !in.Outcome.Completed {
		to = a.End
	}
	if from.IsZero() && len(in.Events) > 0 {
		from, to = in.Events[0].Time, in.Events[len(in.Events)-1].Time
	}
	if n, ok := steps.min(from, to); ok {
		m.MinReadyEndpoints = &n
		if in.Outcome.Triggered && !a.End.IsZero() {
			m.NoReadySeconds = secsPtr(steps.zeroFor(from, a.End))
		}
	}
	return m
}

// span is the time from from to to in seconds, or nil when either was not
// seen.
func span(from, to time.Time) *float64 {
	if from.IsZero() || to.IsZero() {
		return nil
	}
	return secsPtr(to.Sub(from))
}

// containerStops lists p's containers' exits after its deletion, the
// earliest first (by the earliest each can have happened), when more than
// one exited.
func containerStops(p *life) []ContainerStop {
	if len(p.exits) < 2 {
		return nil
	}
	out := make([]ContainerStop, 0, len(p.exits))
	for name, x := range p.exits {
		out = append(out, ContainerStop{Name: name, ExitMin: x.lo.Sub(p.del).Seconds(), ExitMax: x.hi.Sub(p.del).Seconds(), ExitCode: x.code})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ExitMin != out[j].ExitMin {
			return out[i].ExitMin < out[j].ExitMin
		}
		return out[i].Name < out[j].Name
	})
	return out
}
