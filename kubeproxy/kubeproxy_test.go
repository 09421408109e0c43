package kubeproxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// proxy is a fake kube-proxy's metrics: the syncs that have ended and the
// last queued change, as of now.
type proxy struct {
	syncs  [][2]time.Time // start, end
	queued []time.Time
}

func (p *proxy) text(now time.Time) []byte {
	var last, q time.Time
	n, sum := 0, 0.0
	for _, s := range p.syncs {
		if !s[1].After(now) {
			last, n, sum = s[1], n+1, sum+s[1].Sub(s[0]).Seconds()
		}
	}
	for _, t := range p.queued {
		if !t.After(now) {
			q = t
		}
	}
	sec := func(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
	return fmt.Appendf(nil, `# HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds The last time proxy rules were successfully synced
# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge
kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} %.6f
# HELP kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds The last time a sync of proxy rules was queued
# TYPE kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds gauge
kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family="IPv4"} %.6f
# HELP kubeproxy_sync_proxy_rules_duration_seconds SyncProxyRules latency in seconds
# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram
kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="+Inf"} %d
kubeproxy_sync_proxy_rules_duration_seconds_sum{ip_family="IPv4"} %.6f
kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"} %d
`, sec(last), sec(q), n, sum, n)
}

// pollAt polls the fake at each of the times.
func pollAt(t *testing.T, p *proxy, times ...time.Time) Node {
	t.Helper()
	var now time.Time
	w := New(func(context.Context, string) ([]byte, error) { return p.text(now), nil }, []string{"n1"}, 0, func() time.Time { return now })
	for _, at := range times {
		now = at
		if !w.Poll(context.Background(), "n1") {
			t.Fatal("poll gave up")
		}
	}
	return w.Nodes()[0]
}

func ms(base time.Time, d int) time.Time { return base.Add(time.Duration(d) * time.Millisecond) }

func every(base time.Time, from, to, step int) []time.Time {
	var out []time.Time
	for d := from; d <= to; d += step {
		out = append(out, ms(base, d))
	}
	return out
}

// A slow kube-proxy (minSyncPeriod 4 s) applies a change when its next
// sync may run: the lag is that sync's end, not the end of the sync in
// progress when the change came.
func TestSlowNodeAppliesAtItsNextSync(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	p := &proxy{
		syncs:  [][2]time.Time{{ms(base, 0), ms(base, 100)}, {ms(base, 900), ms(base, 1020)}, {ms(base, 5000), ms(base, 5110)}},
		queued: []time.Time{ms(base, 0), ms(base, 900), ms(base, 1030)},
	}
	n := pollAt(t, p, every(base, 50, 6000, 200)...)
	a := n.AppliedAt(ms(base, 1035)) // rollcheck saw the change 5 ms after kube-proxy
	if a.Lag == nil || *a.Lag != 4075*time.Millisecond || !a.Precise() {
		t.Fatalf("applied %+v (%s), want 4.075 s exactly", a, a.Describe())
	}
	if got := a.Describe(); !strings.HasPrefix(got, "4.0") || strings.Contains(got, " to ") {
		t.Errorf("describe %q", got)
	}
}

// A fast kube-proxy's syncs come faster than the polls: several end
// between two of them, and the lag is a range.
func TestFastNodeGivesARange(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	p := &proxy{}
	for d := 0; d < 3000; d += 50 {
		p.syncs = append(p.syncs, [2]time.Time{ms(base, d), ms(base, d+20)})
		p.queued = append(p.queued, ms(base, d))
	}
	n := pollAt(t, p, every(base, 10, 3000, 300)...)
	a := n.AppliedAt(ms(base, 1001))
	if a.Lag == nil || *a.Lag > 600*time.Millisecond || a.AtLeast > *a.Lag {
		t.Fatalf("applied %+v, want at most two poll intervals", a)
	}
	if a.Precise() {
		t.Errorf("a lag of %s..%s called precise", a.AtLeast, *a.Lag)
	}
}

// No reading, or none after the change: withheld, with the reason.
func TestLagWithheld(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	w := New(func(context.Context, string) ([]byte, error) { return nil, errors.New("403 Forbidden") }, []string{"n1"}, 0, func() time.Time { return base })
	for w.Poll(context.Background(), "n1") {
	}
	a := w.Nodes()[0].AppliedAt(base)
	if a.Lag != nil || a.Withheld != "kube-proxy's metrics were not read: 403 Forbidden" {
		t.Errorf("applied %+v", a)
	}
	p := &proxy{syncs: [][2]time.Time{{ms(base, 0), ms(base, 100)}}, queued: []time.Time{ms(base, 0)}}
	a = pollAt(t, p, every(base, 50, 2000, 200)...).AppliedAt(ms(base, 500))
	if a.Lag != nil || a.Withheld == "" {
		t.Errorf("applied %+v, want withheld: no sync after the change", a)
	}
	if _, err := parse([]byte("# TYPE up gauge\nup 1\n")); !errors.Is(err, errNoSyncMetrics) {
		t.Errorf("another server's metrics: %v", err)
	}
}

// A sync that began within Skew of the change may or may not have applied
// it: the lag is a range, up to the end of the first sync that surely
// began after it.
func TestSyncAtTheChangeGivesARange(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	p := &proxy{
		syncs:  [][2]time.Time{{ms(base, 0), ms(base, 100)}, {ms(base, 5002), ms(base, 5190)}, {ms(base, 9200), ms(base, 9300)}},
		queued: []time.Time{ms(base, 0), ms(base, 5000), ms(base, 5040), ms(base, 9200)},
	}
	n := pollAt(t, p, every(base, 50, 9500, 200)...)
	a := n.AppliedAt(ms(base, 5003))
	if a.Lag == nil || *a.Lag != 4297*time.Millisecond || a.AtLeast != 187*time.Millisecond || a.Precise() {
		t.Fatalf("applied %+v, want 0.187 to 4.297 s", a)
	}
	if got := a.Describe(); got != "0.19 to 4.30 s" {
		t.Errorf("describe %q", got)
	}
}

// The poll that saw the sync that began as the change came found the last
// change stamped before the sync began: every change kube-proxy had by
// then, this one included, was applied by it.
func TestQueuedStampProvesTheSync(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	p := &proxy{
		syncs:  [][2]time.Time{{ms(base, 0), ms(base, 100)}, {ms(base, 5002), ms(base, 5190)}, {ms(base, 9200), ms(base, 9300)}},
		queued: []time.Time{ms(base, 0), ms(base, 5000), ms(base, 9200)},
	}
	n := pollAt(t, p, every(base, 50, 9500, 200)...)
	a := n.AppliedAt(ms(base, 5003))
	if a.Lag == nil || *a.Lag != 187*time.Millisecond || !a.Precise() {
		t.Fatalf("applied %+v, want 0.187 s exactly", a)
	}
}

// kube-proxy may get a change before rollcheck does by more than Skew on a
// loaded machine: a sync that began 0.13 s before rollcheck saw the change,
// and ended 0.67 s after it, applied it when the poll that saw it found the
// last change stamped before the sync began (ci37: taken for the next
// sync, 7.9 s later). When a later change was stamped during that sync, it
// may or may not have: a range up to the next sync. When the change
// stamped during it came by the skew, it was this one: not applied.
func TestASyncBegunBeforeRollcheckSawTheChange(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	c := ms(base, 2000)
	syncs := [][2]time.Time{{ms(base, 1000), ms(base, 1100)}, {ms(base, 1870), ms(base, 2670)}, {ms(base, 9900), ms(base, 10000)}}
	for _, tc := range []struct {
		name         string
		queued       []time.Time
		lag, atLeast time.Duration
	}{
		{"every change stamped before it began", []time.Time{ms(base, 1000), ms(base, 1820), ms(base, 9850)}, 670 * time.Millisecond, 670 * time.Millisecond},
		{"a later change stamped during it", []time.Time{ms(base, 1000), ms(base, 1820), ms(base, 2400), ms(base, 9850)}, 8000 * time.Millisecond, 670 * time.Millisecond},
		{"this change stamped during it", []time.Time{ms(base, 1000), ms(base, 1990), ms(base, 9850)}, 8000 * time.Millisecond, 8000 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := pollAt(t, &proxy{syncs: syncs, queued: tc.queued}, every(base, 0, 10500, 200)...)
			a := n.AppliedAt(c)
			if a.Lag == nil || *a.Lag != tc.lag || a.AtLeast != tc.atLeast {
				t.Fatalf("applied %+v (%s), want %s to %s", a, a.Describe(), tc.atLeast, tc.lag)
			}
		})
	}
}
