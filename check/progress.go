package check

import (
	"context"
	"sync"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
)

// ProgressKind says what a Progress report is.
type ProgressKind int

// Kinds of progress.
const (
	// ProgressPhase: the run entered Phase (baseline, rollout, step NAME,
	// waiting, settle).
	ProgressPhase ProgressKind = iota
	// ProgressTick: the periodic view of the load and the rollout.
	ProgressTick
	// ProgressNotice: something the user waits on, in Message.
	ProgressNotice
	// ProgressWarning: something the user should know before or while the
	// run changes the cluster, in Message.
	ProgressWarning
)

// Progress is one report of what the run is doing.
type Progress struct {
	Kind    ProgressKind
	Phase   string
	Message string
	// Load and Rollout are the live counts, on ProgressPhase and
	// ProgressTick once the load has started.
	Load    attack.Snapshot
	Rollout rollout.Status
	// Backends are set in a weighted canary: each backend Service's
	// Deployment, live, where Rollout is only the stable one's.
	Backends []BackendProgress
	Started  bool // the load has started: Load and Rollout are set
}

// BackendProgress is one backend Service of a weighted canary and the
// live counts of the Deployment it selects.
type BackendProgress struct {
	Service string
	Status  rollout.Status
}

// Backend is a backend Service of a weighted canary and the Driver that
// follows the Deployment it selects.
type Backend struct {
	Service string
	Driver  *rollout.Driver
}

// Reporter is what a Step may tell the user while it runs.
type Reporter interface {
	// SetPhase names what the run does now (waiting, rollout, ...).
	SetPhase(phase string)
	// Notice says what the run waits on.
	Notice(msg string)
	// Tick reports the load and the rollout at once, as the periodic tick
	// does: a step calls it when it has just changed the cluster, so that
	// the user sees the rollout start (updated 0 of N) rather than the
	// state before it until the next tick.
	Tick()
}

// reporter sends Progress to the Config's callback one at a time, from the
// run and from its ticker.
type reporter struct {
	fn       func(Progress)
	mu       sync.Mutex
	phase    string
	atk      *attack.Attack
	status   *rollout.Driver
	backends []Backend
	done     chan struct{}
	wg       sync.WaitGroup
}

func newReporter(fn func(Progress)) *reporter {
	return &reporter{fn: fn, done: make(chan struct{})}
}

func (r *reporter) send(p Progress) {
	if r.fn == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p.Phase = r.phase
	if r.atk != nil {
		p.Started, p.Load, p.Rollout = true, r.atk.Snapshot(), r.status.Status()
		for _, b := range r.backends {
			p.Backends = append(p.Backends, BackendProgress{Service: b.Service, Status: b.Driver.Status()})
		}
	}
	r.fn(p)
}

func (r *reporter) Notice(msg string)  { r.send(Progress{Kind: ProgressNotice, Message: msg}) }
func (r *reporter) warning(msg string) { r.send(Progress{Kind: ProgressWarning, Message: msg}) }
func (r *reporter) Tick()              { r.send(Progress{Kind: ProgressTick}) }

// SetPhase names what the run does now; a change is reported at once.
func (r *reporter) SetPhase(phase string) {
	r.mu.Lock()
	changed := r.phase != phase
	r.phase = phase
	r.mu.Unlock()
	if changed {
		r.send(Progress{Kind: ProgressPhase})
	}
}

// start follows the load and the plan's rollout (and its backends, in a
// weighted canary) with a tick every every.
func (r *reporter) start(ctx context.Context, atk *attack.Attack, p *Plan, every time.Duration) {
	r.mu.Lock()
	r.atk, r.status, r.backends = atk, p.Status, p.Backends
	r.mu.Unlock()
	if r.fn == nil {
		return
	}
	if every <= 0 {
		every = 5 * time.Second
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.send(Progress{Kind: ProgressTick})
			case <-ctx.Done():
				return
			case <-r.done:
				return
			}
		}
	}()
}

// stop ends the ticks; it may be called more than once.
func (r *reporter) stop() {
	select {
	case <-r.done:
	default:
		close(r.done)
	}
	r.wg.Wait()
}
