package compare

import (
	"bytes"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/internal/fixture"
)

func TestCompare(t *testing.T) {
	before, bo := fixture.Run(map[int]int{12: 20, 13: 10}, 100)
	after, ao := fixture.Run(nil, 100)
	b := report.Build(report.Input{Deployment: "web", Namespace: "default", Action: "restart", Attack: before, Outcome: bo, Drained: bo.CompletedAt.Add(time.Second), Thresholds: report.DefaultThresholds()})
	a := report.Build(report.Input{Deployment: "web", Namespace: "default", Action: "restart", Attack: after, Outcome: ao, Drained: ao.CompletedAt.Add(time.Second), Thresholds: report.DefaultThresholds()})

	t.Run("an improvement is no regression", func(t *testing.T) {
		c := Compare([]*report.Report{b}, a, DefaultGate())
		if reg := c.Regressions(); len(reg) != 0 {
			t.Errorf("regressions %v", reg)
		}
		var buf bytes.Buffer
		if err := WriteComparison(c, &buf); err != nil {
			t.Fatal(err)
		}
		golden(t, "compare.txt", buf.Bytes())
	})
	t.Run("failures appearing from zero are a regression", func(t *testing.T) {
		reg := Compare([]*report.Report{a}, b, DefaultGate()).Regressions()
		for _, want := range []string{"verdict", "failed requests", "disrupted seconds"} {
			if !slices.Contains(reg, want) {
				t.Errorf("regressions %v lack %q", reg, want)
			}
		}
	})
	t.Run("any rise in failed requests is a regression, whatever the tolerance", func(t *testing.T) {
		more, mo := fixture.Run(map[int]int{12: 21, 13: 10}, 100)
		m := report.Build(report.Input{Attack: more, Outcome: mo, Drained: mo.CompletedAt.Add(time.Second), Thresholds: report.DefaultThresholds()})
		if reg := Compare([]*report.Report{b}, m, Gate{Tolerance: 0.5, Floors: DefaultFloors()}).Regressions(); !slices.Contains(reg, "failed requests") {
			t.Errorf("31 vs 30 failures not flagged with 50%% tolerance: %v", reg)
		}
	})
}

func TestCompareGate(t *testing.T) {
	// A p99 floor of 5 ms, to judge the seed pair's few milliseconds.
	gate := Gate{Tolerance: 0.1, Floors: Floors{P99: 5 * time.Millisecond, Disrupted: 500 * time.Millisecond, Duration: 2 * time.Second}}
	withP99 := func(n night, p99 time.Duration) night { n.p99 = p99; return n }
	withFailures := func(n night, f int) night { n.failures = f; return n }
	tests := []struct {
		name       string
		before     []night
		after      night
		gate       Gate
		regressed  []string // exactly these
		limitOfP99 string
	}{
		{name: "the fixed seed pair is no regression: 113 failures to 0, p99 6.0 ms to 7.1 ms is jitter below the floor",
			before: []night{seedAsIs}, after: seedToBe, gate: gate, limitOfP99: "11.0"},
		{name: "the default floor of 250 ms lets the demo's fix on a busy node through: p99 13.1 ms to 56.6 ms",
			before: []night{withP99(demoAsIs, 13100*time.Microsecond)}, after: withP99(demoToBe, 56600*time.Microsecond), gate: DefaultGate(), limitOfP99: "263.1"},
		{name: "the default floor still fails a rollout that holds requests: p99 56.6 ms to 5027 ms",
			before: []night{withP99(demoToBe, 56600*time.Microsecond)}, after: withP99(demoToBe, 5027*time.Millisecond), gate: DefaultGate(),
			regressed: []string{"p99 latency in rollout (ms)"}, limitOfP99: "306.6"},
		{name: "a p99 beyond both the tolerance and the floor regresses",
			before: []night{seedToBe}, after: withP99(seedToBe, 13*time.Millisecond), gate: gate, regressed: []string{"p99 latency in rollout (ms)"}, limitOfP99: "12.1"},
		{name: "a p99 beyond the floor but within the tolerance does not",
			before: []night{withP99(seedToBe, 100*time.Millisecond)}, after: withP99(seedToBe, 108*time.Millisecond), gate: gate, limitOfP99: "110.0"},
		{name: "a p99 beyond the tolerance but within the floor does not",
			before: []night{withP99(seedToBe, 2*time.Millisecond)}, after: withP99(seedToBe, 6*time.Millisecond), gate: gate, limitOfP99: "7.0"},
		{name: "a floor set higher lets a bigger rise through",
			before: []night{seedToBe}, after: withP99(seedToBe, 13*time.Millisecond), gate: Gate{Tolerance: 0.1, Floors: Floors{P99: 10 * time.Millisecond, Disrupted: time.Second, Duration: 2 * time.Second}}, limitOfP99: "17.1"},
		// The synthetic runs count in 1 s buckets: one failure disrupts 1 s,
		// above the 0.5 s floor.
		{name: "one failed request from none regresses, and the verdict with it",
			before: []night{seedToBe}, after: withFailures(seedToBe, 1), gate: gate, regressed: []string{"verdict", "failed requests", "disrupted seconds"}, limitOfP99: "12.1"},
		{name: "with several baselines, a p99 their spread reached is no regression",
			before: []night{withP99(seedToBe, 2*time.Millisecond), withP99(seedToBe, 3*time.Millisecond), withP99(seedToBe, 20*time.Millisecond)},
			after:  withP99(seedToBe, 19*time.Millisecond), gate: gate, limitOfP99: "20.0"},
		{name: "with several baselines, a p99 beyond their spread and the floor regresses",
			before: []night{withP99(seedToBe, 2*time.Millisecond), withP99(seedToBe, 3*time.Millisecond), withP99(seedToBe, 4*time.Millisecond)},
			after:  withP99(seedToBe, 9*time.Millisecond), gate: gate, regressed: []string{"p99 latency in rollout (ms)"}, limitOfP99: "8.0"},
		{name: "with several baselines, failures are judged against their median",
			before: []night{withFailures(seedAsIs, 100), withFailures(seedAsIs, 110), withFailures(seedAsIs, 120)},
			after:  withFailures(seedAsIs, 111), gate: gate, regressed: []string{"failed requests"}, limitOfP99: "11.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := compareNights(t, tt.before, tt.after, tt.gate, tt.regressed)
			for _, r := range c.Rows {
				if r.Metric == "p99 latency in rollout (ms)" && r.Limit != tt.limitOfP99 {
					t.Errorf("p99 regresses above %q, want %q", r.Limit, tt.limitOfP99)
				}
			}
		})
	}
}

// compareNights compares the reports the nights build and checks that
// exactly the metrics regressed regressed.
func compareNights(t *testing.T, before []night, after night, g Gate, regressed []string) *Comparison {
	t.Helper()
	var reports []*report.Report
	for _, n := range before {
		reports = append(reports, n.build())
	}
	c := Compare(reports, after.build(), g)
	if reg := c.Regressions(); !slices.Equal(reg, regressed) {
		t.Errorf("regressions %q, want %q", reg, regressed)
	}
	return c
}

func TestCompareDurationGate(t *testing.T) {
	took := func(n night, d time.Duration) night { n.took = d; return n }
	failOn := DefaultGate()
	failOn.FailOnDuration = true
	floor5s := DefaultGate()
	if err := floor5s.SetFloor("duration", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	const duration = "rollout duration (s)"
	tests := []struct {
		name        string
		before      []night
		after       night
		gate        Gate
		regressed   []string // exactly these
		informative []string // exactly these
		limit       string   // of the rollout duration
		role        Role
	}{
		{name: "the demo's fix is no regression: 131 failures to 0, FAIL to PASS, the rollout 1.9 s to 4.9 s only informs",
			before: []night{demoAsIs}, after: demoToBe, gate: DefaultGate(), informative: []string{duration}, limit: "31.9", role: GatesPastGrowth},
		{name: "the demo's fix undone regresses on failed requests and the verdict, not on the faster rollout",
			before: []night{demoToBe}, after: demoAsIs, gate: DefaultGate(), regressed: []string{"verdict", "failed requests", "disrupted seconds"},
			informative: []string{"failed: 502", "success ratio", "causes"}, limit: "34.9", role: GatesPastGrowth},
		{name: "a rollout from 10 s to 50 s (x5, +40 s) regresses by default",
			before: []night{seedToBe}, after: slowRollout, gate: DefaultGate(), regressed: []string{duration}, limit: "40.0", role: GatesPastGrowth},
		{name: "a rollout from 10 s to 25 s (x2.5 but +15 s) only informs",
			before: []night{seedToBe}, after: took(seedToBe, 25*time.Second), gate: DefaultGate(), informative: []string{duration}, limit: "40.0", role: GatesPastGrowth},
		{name: "a rollout from 300 s to 340 s (+40 s but x1.13) only informs",
			before: []night{took(seedToBe, 300*time.Second)}, after: took(seedToBe, 340*time.Second), gate: DefaultGate(), informative: []string{duration}, limit: "600.0", role: GatesPastGrowth},
		{name: "with several baselines, a duration their spread reached is no regression",
			before: []night{took(seedToBe, 5*time.Second), took(seedToBe, 6*time.Second), took(seedToBe, 45*time.Second)},
			after:  took(seedToBe, 44*time.Second), gate: DefaultGate(), informative: []string{duration}, limit: "45.0", role: GatesPastGrowth},
		{name: "failing on duration makes the demo's 1.9 s to 4.9 s regress past +10% and the 2 s floor",
			before: []night{demoAsIs}, after: demoToBe, gate: failOn, regressed: []string{duration}, limit: "3.9", role: Gates},
		{name: "a duration floor the user sets makes the duration gate at that floor",
			before: []night{demoAsIs}, after: demoToBe, gate: floor5s, limit: "6.9", role: Gates},
		{name: "a duration floor the user sets fails a rollout past it",
			before: []night{seedToBe}, after: took(seedToBe, 16*time.Second), gate: floor5s, regressed: []string{duration}, limit: "15.0", role: Gates},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := compareNights(t, tt.before, tt.after, tt.gate, tt.regressed)
			if info := c.Informative(); !slices.Equal(info, tt.informative) {
				t.Errorf("informative %q, want %q", info, tt.informative)
			}
			i := slices.IndexFunc(c.Rows, func(r Row) bool { return r.Metric == duration })
			if i < 0 {
				t.Fatalf("no %s row in %+v", duration, c.Rows)
			}
			if r := c.Rows[i]; r.Limit != tt.limit || r.Role != tt.role {
				t.Errorf("duration %s to %s: regresses above %q as %q, want above %q as %q", r.Before, r.After, r.Limit, r.Role, tt.limit, tt.role)
			}
		})
	}
}

func TestCompareSavedPairs(t *testing.T) {
	tests := []struct {
		name          string
		before, after string
		golden        string
		lines         []string // in the output
	}{
		{name: "the seed pair's fix is no regression", before: "seed-as-is.json", after: "seed-to-be.json", golden: "compare-seed.txt",
			lines: []string{"No regression.\n"}},
		{name: "the demo pair's fix is no regression, and its slower rollout only informs", before: "demo-as-is.json", after: "demo-to-be.json", golden: "compare-demo.txt",
			lines: []string{"No regression.\n", "Worse, but only informing: rollout duration (s).\n", "Informs, gating only past x2 and +30s: rollout duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := report.ReadFile("testdata/" + tt.before)
			if err != nil {
				t.Fatal(err)
			}
			after, err := report.ReadFile("testdata/" + tt.after)
			if err != nil {
				t.Fatal(err)
			}
			c := Compare([]*report.Report{before}, after, DefaultGate())
			if reg := c.Regressions(); len(reg) != 0 {
				t.Errorf("the fixed configuration regressed: %v", reg)
			}
			var buf bytes.Buffer
			if err := WriteComparison(c, &buf); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.lines {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, buf.String())
				}
			}
			golden(t, tt.golden, buf.Bytes())
		})
	}
}

func TestGateFailOn(t *testing.T) {
	tests := []struct {
		name string
		want string // in the error; "" for none
	}{
		{name: "duration", want: ""},
		{name: "p99", want: "p99 gates already; a metric that only informs by default is one of: duration"},
		{name: "failed", want: "failed gates already"},
		{name: "latency", want: `no metric "latency"; a metric that only informs by default is one of: duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := DefaultGate()
			err := g.FailOn(tt.name)
			switch {
			case tt.want == "" && (err != nil || !g.FailOnDuration):
				t.Errorf("FailOn(%q): %v, gate %+v; want the duration to gate", tt.name, err, g)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("FailOn(%q): %v, want an error with %q", tt.name, err, tt.want)
			case tt.want != "" && g != DefaultGate():
				t.Errorf("FailOn(%q) changed the gate to %+v", tt.name, g)
			}
		})
	}
}

func TestGateSetFloor(t *testing.T) {
	g := DefaultGate()
	if err := g.SetFloor("p99", 10*time.Millisecond); err != nil || g.Floors.P99 != 10*time.Millisecond || g.FailOnDuration {
		t.Errorf("a p99 floor: %v, gate %+v; want p99 10ms and the duration still informing", err, g)
	}
	if err := g.SetFloor("duration", 5*time.Second); err != nil || g.Floors.Duration != 5*time.Second || !g.FailOnDuration {
		t.Errorf("a duration floor: %v, gate %+v; want 5s and the duration gating", err, g)
	}
	bad := DefaultGate()
	if err := bad.SetFloor("duration", -time.Second); err == nil || bad.FailOnDuration {
		t.Errorf("a negative duration floor: %v, gate %+v; want an error and no change", err, bad)
	}
}

func TestFloorsSet(t *testing.T) {
	var f Floors
	if err := f.Set("p99", 10*time.Millisecond); err != nil || f.P99 != 10*time.Millisecond {
		t.Errorf("p99: %v %v", f.P99, err)
	}
	err := f.Set("latency", time.Second)
	if err == nil || !strings.Contains(err.Error(), "p99, disrupted, duration") {
		t.Errorf("an unknown metric: %v, want the valid names listed", err)
	}
	if err := f.Set("disrupted", -time.Second); err == nil {
		t.Error("a negative floor was taken")
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	fixture.Golden(t, *update, name, got)
}
