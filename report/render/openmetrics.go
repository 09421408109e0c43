package render

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/rollcheck/rollcheck/report"
)

// The OpenMetrics output is for dashboards across runs: the node exporter's
// textfile collector and the Pushgateway keep the last run's values, so every
// metric is a gauge holding that run's number (a counter would claim to
// count across runs, which a one-shot file cannot). Gauges also read the
// same in the older Prometheus text format that both of them parse, where
// an OpenMetrics counter's "_total" samples would lose their type. The
// families are built with client_golang and encoded by expfmt; nothing here
// writes the format by hand.

// metricLabels label every family: which run of which workload.
var metricLabels = []string{"namespace", "workload", "action"}

// WriteOpenMetrics renders the report's results in the OpenMetrics text
// format (ending in "# EOF"): verdict, requests by class, failures by cause,
// disrupted time, rollout duration and its p99 latency, and the largest
// routing lag when one was measured, labelled by namespace, workload and
// action.
func WriteOpenMetrics(r *report.Report, w io.Writer) error {
	families, err := metricFamilies(r)
	if err != nil {
		return fmt.Errorf("writing OpenMetrics report: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeOpenMetrics), expfmt.WithUnit())
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("writing OpenMetrics report: %w", err)
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		if err := c.Close(); err != nil { // the "# EOF" line
			return fmt.Errorf("writing OpenMetrics report: %w", err)
		}
	}
	return nil
}

// metricFamilies gathers the report's gauges from a registry of their own.
func metricFamilies(r *report.Report) ([]*dto.MetricFamily, error) {
	reg := prometheus.NewPedanticRegistry()
	base := prometheus.Labels{"namespace": r.Rollout.Namespace, "workload": r.Workload(), "action": r.Rollout.Action}
	// gauge registers one family and returns a setter for its series; extra
	// names the labels beyond the common three.
	gauge := func(name, help string, extra ...string) func(v float64, values ...string) {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "rollcheck", Name: name, Help: help}, append(append([]string{}, metricLabels...), extra...))
		reg.MustRegister(g)
		return func(v float64, values ...string) {
			l := prometheus.Labels{}
			for k, x := range base {
				l[k] = x
			}
			for i, name := range extra {
				l[name] = values[i]
			}
			g.With(l).Set(v)
		}
	}
	verdict := gauge("verdict", "Verdict of the run: 1 for the verdict it reached, 0 for the others.", "verdict")
	for _, v := range report.Verdicts {
		verdict(b2f(r.Verdict == v), string(v))
	}
	gauge("requests", "Requests the run sent.")(float64(r.Load.Requests))
	byClass := gauge("requests_by_class", "Requests the run sent, by outcome class (ok, 502, refused, ...).", "class")
	for _, class := range slices.Sorted(maps.Keys(r.Load.ByClass)) {
		byClass(float64(r.Load.ByClass[class]), class)
	}
	gauge("failed_requests", "Requests that failed.")(float64(r.Load.Failures))
	byCause := gauge("failed_requests_by_cause", "Failed requests by diagnosed cause (TERMINATING_POD_STILL_ROUTED, ..., UNATTRIBUTED).", "cause")
	for _, c := range r.Causes {
		byCause(float64(c.Failures), string(c.Code))
	}
	gauge("success_ratio", "Share of requests that succeeded (0 to 1).")(r.Load.SuccessRatio)
	gauge("disrupted_seconds", "Time with failed requests, in buckets.")(r.DisruptedSeconds)
	gauge("rollout_completed", "1 when the rollout completed, else 0.")(b2f(r.Rollout.Completed))
	gauge("rollout_duration_seconds", "From the rollout's trigger to its completion.")(r.Rollout.Duration)
	if p99 := r.RolloutP99(); p99 > 0 {
		gauge("rollout_latency_p99_seconds", "99th percentile of latency during the rollout (an upper bound from the buckets).")(p99)
	}
	if lag := r.Measurements.MaxRoutingLag; lag != nil {
		gauge("max_routing_lag_seconds", "Largest routing lag: from a removed pod's endpoint turning not ready to the last request routed to it.")(*lag)
	}
	if t0 := r.Start(); !t0.IsZero() {
		gauge("start_time_seconds", "When the run started, in seconds since the Unix epoch.")(float64(t0.UnixNano()) / 1e9)
	}
	families, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	for _, mf := range families {
		if strings.HasSuffix(mf.GetName(), "_seconds") {
			mf.Unit = ptr("seconds")
		}
	}
	return families, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func ptr[T any](v T) *T { return &v }
