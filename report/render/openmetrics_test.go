package render

import (
	"bytes"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rollcheck/rollcheck/report"
)

func TestOpenMetricsOfTheSeedPairParse(t *testing.T) {
	type sample struct {
		family string
		labels map[string]string // beyond namespace, workload and action
		value  float64
	}
	tests := []struct {
		file   string
		want   []sample
		absent []string
	}{
		{file: "../compare/testdata/seed-as-is.json", want: []sample{
			{"rollcheck_verdict", map[string]string{"verdict": "FAIL"}, 1},
			{"rollcheck_verdict", map[string]string{"verdict": "PASS"}, 0},
			{"rollcheck_verdict", map[string]string{"verdict": "INCONCLUSIVE"}, 0},
			{"rollcheck_requests", nil, 3000},
			{"rollcheck_requests_by_class", map[string]string{"class": "ok"}, 2887},
			{"rollcheck_requests_by_class", map[string]string{"class": "502"}, 113},
			{"rollcheck_failed_requests", nil, 113},
			{"rollcheck_failed_requests_by_cause", map[string]string{"cause": "TERMINATING_POD_STILL_ROUTED"}, 113},
			{"rollcheck_disrupted_seconds", nil, 3},
			{"rollcheck_rollout_completed", nil, 1},
			{"rollcheck_rollout_duration_seconds", nil, 10},
			{"rollcheck_rollout_latency_p99_seconds", nil, 0.006},
			{"rollcheck_max_routing_lag_seconds", nil, 2.29}, // the last failure at 14.34 s, unready at 12.05 s
			{"rollcheck_start_time_seconds", nil, float64(t0.Unix())},
		}},
		{file: "../compare/testdata/seed-to-be.json", want: []sample{
			{"rollcheck_verdict", map[string]string{"verdict": "PASS"}, 1},
			{"rollcheck_failed_requests", nil, 0},
			{"rollcheck_disrupted_seconds", nil, 0},
			{"rollcheck_rollout_latency_p99_seconds", nil, 0.0071},
		}, absent: []string{"rollcheck_failed_requests_by_cause", "rollcheck_max_routing_lag_seconds"}},
	}
	for _, tt := range tests {
		t.Run(tt.file+" parses with the Prometheus text parser and carries its results", func(t *testing.T) {
			r, err := report.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := WriteOpenMetrics(r, &buf); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if !strings.HasSuffix(out, "\n# EOF\n") {
				t.Errorf("no final # EOF line:\n%s", out)
			}
			// The textfile collector and the Pushgateway parse with the
			// legacy names' rules, newer parsers with UTF-8's.
			legacy := expfmt.NewTextParser(model.LegacyValidation)
			if _, err := legacy.TextToMetricFamilies(strings.NewReader(out)); err != nil {
				t.Errorf("does not parse with legacy names: %v", err)
			}
			p := expfmt.NewTextParser(model.UTF8Validation)
			families, err := p.TextToMetricFamilies(strings.NewReader(out))
			if err != nil {
				t.Fatalf("does not parse: %v\n%s", err, out)
			}
			for name, mf := range families {
				if mf.GetType() != dto.MetricType_GAUGE {
					t.Errorf("%s is a %s, want a gauge", name, mf.GetType())
				}
				for _, m := range mf.GetMetric() {
					if m.TimestampMs != nil {
						t.Errorf("%s has a timestamp, which the textfile collector refuses", name)
					}
				}
			}
			for _, w := range tt.want {
				labels := map[string]string{"namespace": "default", "workload": "deployment/web", "action": "restart"}
				for k, v := range w.labels {
					labels[k] = v
				}
				got, ok := find(families[w.family], labels)
				if !ok {
					t.Errorf("no %s%v in:\n%s", w.family, labels, out)
					continue
				}
				if diff := got - w.value; diff > 1e-9 || diff < -1e-9 {
					t.Errorf("%s%v = %g, want %g", w.family, w.labels, got, w.value)
				}
			}
			for _, name := range tt.absent {
				if _, ok := families[name]; ok {
					t.Errorf("%s present, want none", name)
				}
			}
		})
	}
}

// find returns the value of the series of mf with exactly these labels.
func find(mf *dto.MetricFamily, labels map[string]string) (float64, bool) {
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			match = match && labels[l.GetName()] == l.GetValue()
		}
		if match {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}
