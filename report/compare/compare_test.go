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
	gate := DefaultGate()
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
			var before []*report.Report
			for _, n := range tt.before {
				before = append(before, n.build())
			}
			c := Compare(before, tt.after.build(), tt.gate)
			if reg := c.Regressions(); !slices.Equal(reg, tt.regressed) {
				t.Errorf("regressions %q, want %q", reg, tt.regressed)
			}
			for _, r := range c.Rows {
				if r.Metric == "p99 latency in rollout (ms)" && r.Limit != tt.limitOfP99 {
					t.Errorf("p99 regresses above %q, want %q", r.Limit, tt.limitOfP99)
				}
			}
		})
	}
}

func TestCompareSavedSeedPair(t *testing.T) {
	before, err := report.ReadFile("testdata/seed-as-is.json")
	if err != nil {
		t.Fatal(err)
	}
	after, err := report.ReadFile("testdata/seed-to-be.json")
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
	golden(t, "compare-seed.txt", buf.Bytes())
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
