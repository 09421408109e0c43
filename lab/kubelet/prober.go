package kubelet

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
)

// startProbes runs the startup probe, then readiness and liveness. A failed
// liveness or startup probe sends the Killing message on restart.
func (c *container) startProbes(ctx context.Context, gen int, restart chan<- string) {
	w := c.w
	requestRestart := func(msg string) {
		select {
		case restart <- msg:
		default:
		}
	}
	afterStartup := func() {
		c.setProbeResult(gen, func() {
			c.started = true
			if !c.startedOnce {
				c.startedOnce = true
				close(c.startedCh)
			}
		})
		if p := c.spec.ReadinessProbe; p == nil {
			c.setProbeResult(gen, func() { c.ready = true })
		} else {
			go c.probeLoop(ctx, "Readiness", p, failed, func(ok bool) bool {
				c.setProbeResult(gen, func() { c.ready = ok })
				return false
			})
		}
		if p := c.spec.LivenessProbe; p != nil {
			go c.probeLoop(ctx, "Liveness", p, succeeded, func(ok bool) bool {
				if !ok {
					requestRestart(fmt.Sprintf("Container %s failed liveness probe, will be restarted", c.spec.Name))
				}
				return !ok
			})
		}
	}
	p := c.spec.StartupProbe
	if p == nil {
		afterStartup()
		return
	}
	go c.probeLoop(ctx, "Startup", p, unknown, func(ok bool) bool {
		if ok {
			afterStartup()
		} else if !w.isTerminating() {
			requestRestart(fmt.Sprintf("Container %s failed startup probe, will be restarted", c.spec.Name))
		}
		return true
	})
}

// setProbeResult applies f if the probed process is still the running one.
func (c *container) setProbeResult(gen int, f func()) {
	w := c.w
	w.mu.Lock()
	if c.gen != gen || c.state.Running == nil {
		w.mu.Unlock()
		return
	}
	f()
	w.mu.Unlock()
	w.markDirty()
}

// probeLoop probes every period and calls set when the result flips after
// successThreshold/failureThreshold consecutive results; set returns true to
// stop. Liveness and startup stop once the pod terminates (their result is
// then taken as success); readiness keeps running.
func (c *container) probeLoop(ctx context.Context, kind string, p *v1.Probe, initial probeResult, set func(bool) bool) {
	w := c.w
	secs := func(v, def int32) time.Duration {
		if v <= 0 {
			v = def
		}
		return time.Duration(v) * time.Second
	}
	period := secs(p.PeriodSeconds, 10)
	timeout := secs(p.TimeoutSeconds, 1)
	success, failure := int(max(p.SuccessThreshold, 1)), int(p.FailureThreshold)
	if failure <= 0 {
		failure = 3
	}
	if d := time.Duration(p.InitialDelaySeconds) * time.Second; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
	result, last, run := initial, unknown, 0
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		if kind != "Readiness" && w.isTerminating() {
			return
		}
		ok, msg := w.probe(ctx, c, p.ProbeHandler, timeout)
		if ctx.Err() != nil {
			return
		}
		if !ok {
			w.event(c, v1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", kind, msg)
		}
		r := resultOf(ok)
		if r != last {
			run = 0
		}
		last = r
		if r == result {
			run = 0
		} else {
			run++
			need := failure
			if ok {
				need = success
			}
			if run >= need {
				result, run = r, 0
				if set(ok) {
					return
				}
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// probeResult is a probe worker's current result; startup starts unknown so
// its first failures count.
type probeResult int

const (
	unknown probeResult = iota
	succeeded
	failed
)

func resultOf(ok bool) probeResult {
	if ok {
		return succeeded
	}
	return failed
}
