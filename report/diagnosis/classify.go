package diagnosis

import (
	"time"

	"github.com/rollcheck/rollcheck/attack"
)

// windowable reports whether a failure of this class can come from a pod
// that is starting or gone without the pod naming itself: an answer the app
// wrote itself (500, 4xx) would have carried its pod header.
func windowable(c attack.Class) bool {
	switch c {
	case attack.Class502, attack.Class503, attack.Class504, attack.ClassRefused, attack.ClassReset, attack.ClassEOF, attack.ClassTimeout,
		attack.ClassGoaway, attack.ClassStreamReset:
		return true
	}
	return false
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
