package diagnosis

import (
	"math"
	"sort"
	"time"

	"github.com/rollcheck/rollcheck/rollout"
)

// readySteps is the number of ready endpoints of one Service over time.
type readySteps struct {
	at []time.Time
	n  []int
	// zeroEnd[i] is when the latest run of zero ready endpoints up to step
	// i ended (at[i] itself when step i has zero); zero time if none.
	zeroEnd []time.Time
}

// zeroWithin reports whether the Service had no ready endpoint at some
// moment in [t-w, t]: a load balancer that registers targets with a lag
// answers 503 for a while after endpoints come back.
func (s readySteps) zeroWithin(t time.Time, w time.Duration) bool {
	i := sort.Search(len(s.at), func(i int) bool { return s.at[i].After(t) }) - 1
	if i < 0 {
		return false
	}
	if s.n[i] == 0 {
		return true
	}
	return !s.zeroEnd[i].IsZero() && !s.zeroEnd[i].Before(t.Add(-w))
}

// count returns the ready endpoints at t, or -1 before the first event.
func (s readySteps) count(t time.Time) int {
	i := sort.Search(len(s.at), func(i int) bool { return s.at[i].After(t) })
	if i == 0 {
		return -1
	}
	return s.n[i-1]
}

// min returns the fewest ready endpoints in [from, to].
func (s readySteps) min(from, to time.Time) (int, bool) {
	m, ok := math.MaxInt, false
	if c := s.count(from); c >= 0 {
		m, ok = c, true
	}
	for i, t := range s.at {
		if t.After(from) && !t.After(to) && s.n[i] < m {
			m, ok = s.n[i], true
		}
	}
	return m, ok
}

// zeroFor is how long there were no ready endpoints within [from, to].
func (s readySteps) zeroFor(from, to time.Time) time.Duration {
	var d time.Duration
	for i, t := range s.at {
		if s.n[i] != 0 {
			continue
		}
		end := to
		if i+1 < len(s.at) {
			end = s.at[i+1]
		}
		start := t
		if start.Before(from) {
			start = from
		}
		if end.After(to) {
			end = to
		}
		if end.After(start) {
			d += end.Sub(start)
		}
	}
	return d
}

// readyEndpoints follows the ready condition of each endpoint of the
// primary Service (the first one named, else the first one seen).
func readyEndpoints(evs []rollout.Event, services []string) readySteps {
	primary := ""
	if len(services) > 0 {
		primary = services[0]
	}
	ready := map[string]bool{}
	n := 0
	var s readySteps
	for _, e := range evs {
		if e.Type != rollout.EndpointAdded && e.Type != rollout.EndpointChanged && e.Type != rollout.EndpointRemoved {
			continue
		}
		if primary == "" {
			primary = e.Service
		}
		if e.Service != primary && e.Service != "" {
			continue
		}
		key := e.Pod + "/" + e.IP
		was := ready[key]
		now := e.Type != rollout.EndpointRemoved && e.Ready != nil && *e.Ready
		if now {
			ready[key] = true
		} else {
			delete(ready, key)
		}
		switch {
		case now && !was:
			n++
		case !now && was:
			n--
		}
		if k := len(s.at); k > 0 && s.at[k-1].Equal(e.Time) {
			s.n[k-1] = n
			continue
		}
		s.at = append(s.at, e.Time)
		s.n = append(s.n, n)
	}
	s.zeroEnd = make([]time.Time, len(s.at))
	for i := range s.at {
		switch {
		case s.n[i] == 0:
			s.zeroEnd[i] = s.at[i]
		case i > 0 && s.n[i-1] == 0:
			s.zeroEnd[i] = s.at[i]
		case i > 0:
			s.zeroEnd[i] = s.zeroEnd[i-1]
		}
	}
	return s
}
