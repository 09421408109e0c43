package diagnosis

import (
	"time"

	"github.com/rollcheck/rollcheck/attack"
)

// inflightTol allows for the delay between a container's exit and the
// receipt of the status update that reports it.
const inflightTol = 100 * time.Millisecond

// windowable reports whether a failure of this class can come from a pod
// that is starting or gone without the pod naming itself: an answer the app
// wrote itself (500, 4xx) would have carried its pod header.
func windowable(c attack.Class) bool {
	switch c {
	case attack.Class502, attack.Class503, attack.Class504, attack.ClassRefused, attack.ClassReset, attack.ClassEOF, attack.ClassTimeout:
		return true
	}
	return false
}

// inflight reports whether the failure was a request open when p's
// container exited.
func inflight(p *life, it item) bool {
	if p.exited.IsZero() || it.n != 1 {
		return false
	}
	// The class, not the error's text: a refused connection (class
	// refused) never reached the pod, so no request of it was cut.
	switch it.class {
	case attack.ClassReset, attack.ClassEOF:
	case attack.Class502, attack.Class504:
		// The load balancer also answers 502 at once to a refused
		// connection; only a request it held open was cut.
		if it.lat < inflightTol {
			return false
		}
	default:
		return false
	}
	end := it.t.Add(it.lat)
	if p.exitStamped {
		// The exit is known only within its bounds (life.exitLo): the
		// request was open before the exit surely had happened and ended
		// when it may have. A request that began within the bounds is
		// left to the other causes: it may have met a pod that had
		// already stopped.
		return it.t.Before(p.exitLo) && !end.Before(p.exitLo.Add(-inflightTol)) && !end.After(p.exitHi.Add(inflightTol))
	}
	return it.t.Before(p.exited) && !end.Before(p.exited.Add(-inflightTol))
}

// classify applies the cause rules of DESIGN.md to one failure whose
// response named p (nil: no pod explains it).
func classify(p *life, it item, preStop time.Duration, opt Options) CauseCode {
	if p == nil {
		return Unattributed
	}
	if inflight(p, it) {
		return InflightCut
	}
	if !p.del.IsZero() && !it.t.Before(p.del) {
		return routedCode(p, it, preStop, opt)
	}
	if !p.initial && (p.ready.IsZero() && !p.created.IsZero() && !it.t.Before(p.created) ||
		!p.ready.IsZero() && !it.t.After(p.ready.Add(opt.StartWindow))) {
		return NewPodNotServing
	}
	return Unattributed
}

// routedCode names the cause of a failure of terminating pod p still being
// routed to: a pod that stopped at once on SIGTERM, or one that kept
// serving for a while (preStop, drain) but not as long as it was routed to.
func routedCode(p *life, it item, preStop time.Duration, opt Options) CauseCode {
	stop := p.stop()
	if end := it.t.Add(it.lat); stop.IsZero() || stop.After(end) {
		stop = end
	}
	if preStop > 0 || stop.Sub(p.del) >= opt.PromptStop {
		return LBDeregistrationLag
	}
	return TerminatingPodStillRouted
}

// code names the cause of a weighed failure.
func (wg weighing) code(it item, preStop time.Duration, opt Options) CauseCode {
	switch wg.kind {
	case kindInflight:
		return InflightCut
	case kindRouted:
		return routedCode(wg.p, it, preStop, opt)
	case kindNew:
		return NewPodNotServing
	}
	return Unattributed
}
