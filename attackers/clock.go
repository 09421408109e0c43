package attackers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Sample is one clock round trip to an attacker, NTP style: Sent (t0) and
// Received (t2) on rollcheck's clock, Remote (t1) on the attacker's.
type Sample struct {
	Sent, Remote, Received time.Time
}

// RTT is the round trip of the sample.
func (s Sample) RTT() time.Duration { return s.Received.Sub(s.Sent) }

// Offset is the attacker's clock minus rollcheck's, assuming the request
// and the answer took the same time: t1 − (t0+t2)/2. The true offset is
// within Bound of it whatever the split.
func (s Sample) Offset() time.Duration {
	mid := s.Sent.Add(s.RTT() / 2)
	return s.Remote.Sub(mid)
}

// Bound is the error bound of Offset: half the round trip.
func (s Sample) Bound() time.Duration { return s.RTT() / 2 }

// Estimate is an attacker's clock offset from the samples taken so far:
// the sample of the shortest round trip (the least queueing, hence the
// tightest bound) gives Offset and Bound; Spread is max − min over the
// best sample of each round, which shows drift during the run.
type Estimate struct {
	Offset  time.Duration
	Bound   time.Duration
	Spread  time.Duration
	Samples int
	Rounds  int
}

// clockState accumulates rounds of samples.
type clockState struct {
	best       Sample
	have       bool
	roundBests []time.Duration
	samples    int
}

// addRound folds one burst of samples in; it returns false when the burst
// had none.
func (c *clockState) addRound(round []Sample) bool {
	if len(round) == 0 {
		return false
	}
	best := round[0]
	for _, s := range round[1:] {
		if s.RTT() < best.RTT() {
			best = s
		}
	}
	c.samples += len(round)
	c.roundBests = append(c.roundBests, best.Offset())
	if !c.have || best.RTT() < c.best.RTT() {
		c.best, c.have = best, true
	}
	return true
}

func (c *clockState) estimate() Estimate {
	if !c.have {
		return Estimate{}
	}
	e := Estimate{Offset: c.best.Offset(), Bound: c.best.Bound(), Samples: c.samples, Rounds: len(c.roundBests)}
	lo, hi := c.roundBests[0], c.roundBests[0]
	for _, o := range c.roundBests[1:] {
		lo, hi = min(lo, o), max(hi, o)
	}
	e.Spread = hi - lo
	return e
}

// clockAnswer is the body of GET /clock.
type clockAnswer struct {
	Time time.Time `json:"time"`
}

// sampleClock does one round trip to base+"/clock" with now as the local
// clock.
func sampleClock(ctx context.Context, hc *http.Client, base string, now func() time.Time) (Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/clock", nil)
	if err != nil {
		return Sample{}, err
	}
	t0 := now()
	resp, err := hc.Do(req)
	if err != nil {
		return Sample{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	t2 := now()
	if err != nil {
		return Sample{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Sample{}, fmt.Errorf("GET /clock: %s", resp.Status)
	}
	var a clockAnswer
	if err := json.Unmarshal(body, &a); err != nil || a.Time.IsZero() {
		return Sample{}, fmt.Errorf("GET /clock: not a time: %.80q", body)
	}
	return Sample{Sent: t0, Remote: a.Time, Received: t2}, nil
}

// burst takes n samples in a row, keeping those that succeed; the error is
// the last one when none did.
func burst(ctx context.Context, hc *http.Client, base string, n int, now func() time.Time) ([]Sample, error) {
	var out []Sample
	var last error
	for range n {
		s, err := sampleClock(ctx, hc, base, now)
		if err != nil {
			last = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, last
	}
	return out, nil
}
