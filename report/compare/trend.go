package compare

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// The trend page shows many runs over time, for a nightly job: one chart per
// series (verdict, failed requests, disrupted seconds, failures by cause, p99
// latency in the rollout) with one point per run, in the order of the runs'
// start, and a table of the runs. Like the run report it is one
// self-contained file whose SVG is drawn here in Go from the saved reports.

const (
	trendLeft   = 70 // room for the y axis labels
	trendPlotW  = format.SVGWidth - trendLeft - 20
	trendChartH = 120
)

var verdictColors = map[report.Verdict]string{report.Pass: "#2e7d32", report.Inconclusive: "#ef6c00", report.Fail: "#c62828"}

// causeColors colour the causes' bars; a cause not listed takes grey.
var causeColors = map[report.CauseCode]string{
	report.TerminatingPodStillRouted: "#d32f2f", report.LBDeregistrationLag: "#7b1fa2", report.InflightCut: "#f57c00",
	report.NoReadyEndpoints: "#1976d2", report.NewPodNotServing: "#0097a7", report.KeptConnectionClosed: "#5d4037",
	report.DrainNoReadyEndpoints: "#303f9f", report.DrainTooFewReadyPods: "#5c6bc0",
	report.SidecarStoppedFirst: "#8d6e63", report.AppReadyBeforeSidecar: "#00838f",
	report.Unattributed: "#616161",
}

// trendRun is one run on the page.
type trendRun struct {
	*report.Report
	Start time.Time
	When  string // its start, in UTC: "2026-11-24 12:00"
	P99   float64
}

// WriteTrend renders several reports as one self-contained HTML page of the
// runs over time, ordered by their start.
func WriteTrend(reports []*report.Report, w io.Writer) error {
	if len(reports) == 0 {
		return errors.New("writing trend page: no report")
	}
	runs := make([]trendRun, len(reports))
	for i, r := range reports {
		start := r.Start()
		runs[i] = trendRun{Report: r, Start: start, When: start.UTC().Format("2006-01-02 15:04"), P99: r.RolloutP99()}
	}
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Start.Before(runs[j].Start) })
	verdicts := map[report.Verdict]int{}
	var workloads []string
	for _, r := range runs {
		verdicts[r.Verdict]++
		wl := fmt.Sprintf("%s (%s) in %s", r.Workload(), r.Rollout.Action, r.Rollout.Namespace)
		if !slices.Contains(workloads, wl) {
			workloads = append(workloads, wl)
		}
	}
	codes := trendCauses(runs)
	page := trendPage{
		Title:     fmt.Sprintf("rollcheck trend: %d runs, %s to %s", len(runs), runs[0].When, runs[len(runs)-1].When),
		Workloads: strings.Join(workloads, ", "),
		Counts:    fmt.Sprintf("%d PASS, %d FAIL, %d INCONCLUSIVE", verdicts[report.Pass], verdicts[report.Fail], verdicts[report.Inconclusive]),
		Runs:      runs,
		Verdict:   template.HTML(verdictSVG(runs)),
		Failures: template.HTML(lineSVG(runs, "failures", "failed requests", func(r trendRun) (float64, string, bool) {
			return float64(r.Load.Failures), fmt.Sprintf("%d of %d failed", r.Load.Failures, r.Load.Requests), true
		})),
		Disrupted: template.HTML(lineSVG(runs, "disrupted", "disrupted seconds", func(r trendRun) (float64, string, bool) {
			return r.DisruptedSeconds, fmt.Sprintf("disrupted %.1fs", r.DisruptedSeconds), true
		})),
		Causes: template.HTML(causesSVG(runs, codes)),
		P99: template.HTML(lineSVG(runs, "p99", "p99 in rollout (ms)", func(r trendRun) (float64, string, bool) {
			if r.P99 == 0 {
				return 0, "p99 not measured (no rollout)", false
			}
			return r.P99 * 1000, "p99 in rollout " + format.Secs(r.P99), true
		})),
	}
	for _, c := range codes {
		page.CauseColors = append(page.CauseColors, struct{ Name, Color string }{string(c), causeColor(c)})
	}
	if err := trendTmpl.Execute(w, page); err != nil {
		return fmt.Errorf("writing trend page: %w", err)
	}
	return nil
}

type trendPage struct {
	Title, Workloads, Counts                  string
	Runs                                      []trendRun
	Verdict, Failures, Disrupted, Causes, P99 template.HTML
	CauseColors                               []struct{ Name, Color string }
}

// trendCauses are the causes of every run, most failures first.
func trendCauses(runs []trendRun) []report.CauseCode {
	total := map[report.CauseCode]int{}
	for _, r := range runs {
		for _, c := range r.Causes {
			total[c.Code] += c.Failures
		}
	}
	codes := make([]report.CauseCode, 0, len(total))
	for c := range total {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool {
		if total[codes[i]] != total[codes[j]] {
			return total[codes[i]] > total[codes[j]]
		}
		return codes[i] < codes[j]
	})
	return codes
}

func causeColor(c report.CauseCode) string {
	if col, ok := causeColors[c]; ok {
		return col
	}
	return "#9e9e9e"
}

// runX is the centre of run i of n.
func runX(i, n int) float64 { return trendLeft + (float64(i)+0.5)*trendPlotW/float64(n) }

// openSeries starts the SVG of one series with its run axis: a tick and the
// start of each run (every k-th, when they would crowd).
func openSeries(s *format.SVG, id, label string, runs []trendRun) {
	h := float64(trendChartH)
	s.F(`<svg class="series" id="series-%s" data-series="%s" xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" role="img" aria-label="%s by run">`,
		id, id, format.SVGWidth, h+40, format.Esc(label))
	s.F(`<g transform="translate(0,10)">`)
	s.F(`<line x1="%d" y1="%.0f" x2="%d" y2="%.0f" class="grid"/>`, trendLeft, h, trendLeft+trendPlotW, h)
	every := int(math.Ceil(float64(len(runs)) / 12))
	for i, r := range runs {
		x := runX(i, len(runs))
		s.F(`<line x1="%.1f" y1="0" x2="%.1f" y2="%.0f" class="grid"/>`, x, x, h)
		if i%every == 0 {
			s.F(`<text x="%.1f" y="%.0f" class="tick" text-anchor="middle">%s</text>`, x, h+14, format.Esc(r.When))
		}
	}
}

// yAxis labels the top and the middle of a chart whose top is top.
func yAxis(s *format.SVG, top float64, unit string) {
	h := float64(trendChartH)
	s.F(`<line x1="%d" y1="0" x2="%d" y2="0" class="grid"/><line x1="%d" y1="%.0f" x2="%d" y2="%.0f" class="grid"/>`,
		trendLeft, trendLeft+trendPlotW, trendLeft, h/2, trendLeft+trendPlotW, h/2)
	s.F(`<text x="4" y="10" class="lbl">%s</text><text x="4" y="%.0f" class="lbl">%s</text><text x="4" y="%.0f" class="lbl">0</text>`,
		format.Esc(trimFloat(top)+unit), h/2+4, format.Esc(trimFloat(top/2)+unit), h)
}

// niceTop rounds a chart's largest value up to 1, 2 or 5 times a power of ten.
func niceTop(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// point draws run i's mark with the details a click shows.
func point(s *format.SVG, i int, r trendRun, x, y float64, color, detail string, measured bool) {
	class := "point"
	if !measured {
		class += " missing"
	}
	full := fmt.Sprintf("%s %s %s: %s", r.When, r.Workload(), r.Verdict, detail)
	s.F(`<circle class="%s" data-run="%d" data-detail="%s" cx="%.1f" cy="%.1f" r="5" fill="%s"><title>%s</title></circle>`,
		class, i, format.Esc(full), x, y, color, format.Esc(full))
}

// lineSVG draws one numeric series as a line with a point per run; value
// returns the run's value, its details and whether it was measured (a run
// without is drawn hollow at 0 and left out of the line).
func lineSVG(runs []trendRun, id, label string, value func(trendRun) (float64, string, bool)) string {
	var s format.SVG
	openSeries(&s, id, label, runs)
	h := float64(trendChartH)
	top := 0.0
	for _, r := range runs {
		v, _, _ := value(r)
		top = math.Max(top, v)
	}
	top = niceTop(top)
	yAxis(&s, top, "")
	var line []string
	for i, r := range runs {
		v, _, ok := value(r)
		if ok {
			line = append(line, fmt.Sprintf("%.1f,%.1f", runX(i, len(runs)), h-h*v/top))
		}
	}
	s.F(`<polyline class="trendline" points="%s"/>`, strings.Join(line, " "))
	for i, r := range runs {
		v, detail, ok := value(r)
		point(&s, i, r, runX(i, len(runs)), h-h*v/top, verdictColors[r.Verdict], detail, ok)
	}
	s.F(`</g></svg>`)
	return s.B.String()
}

// verdictSVG draws each run's verdict on its own row: PASS at the bottom,
// FAIL at the top.
func verdictSVG(runs []trendRun) string {
	var s format.SVG
	openSeries(&s, "verdict", "verdict", runs)
	h := float64(trendChartH)
	rowY := map[report.Verdict]float64{report.Pass: h - 10, report.Inconclusive: h / 2, report.Fail: 10}
	for _, v := range report.Verdicts {
		s.F(`<text x="4" y="%.0f" class="lbl">%s</text>`, rowY[v]+4, v)
	}
	var line []string
	for i, r := range runs {
		line = append(line, fmt.Sprintf("%.1f,%.1f", runX(i, len(runs)), rowY[r.Verdict]))
	}
	s.F(`<polyline class="trendline" points="%s"/>`, strings.Join(line, " "))
	for i, r := range runs {
		point(&s, i, r, runX(i, len(runs)), rowY[r.Verdict], verdictColors[r.Verdict], string(r.Verdict), true)
	}
	s.F(`</g></svg>`)
	return s.B.String()
}

// causesSVG draws a bar per run stacked by cause; a run without causes has
// an empty group, so that every run has its point.
func causesSVG(runs []trendRun, codes []report.CauseCode) string {
	var s format.SVG
	openSeries(&s, "causes", "failed requests by cause", runs)
	h := float64(trendChartH)
	top := 0.0
	for _, r := range runs {
		n := 0
		for _, c := range r.Causes {
			n += c.Failures
		}
		top = math.Max(top, float64(n))
	}
	top = niceTop(top)
	yAxis(&s, top, "")
	bw := math.Min(40, 0.6*trendPlotW/float64(len(runs)))
	for i, r := range runs {
		x := runX(i, len(runs))
		var parts []string
		for _, c := range r.Causes {
			parts = append(parts, fmt.Sprintf("%s %d", c.Code, c.Failures))
		}
		detail := "no cause"
		if len(parts) > 0 {
			detail = strings.Join(parts, ", ")
		}
		full := fmt.Sprintf("%s %s %s: %s", r.When, r.Workload(), r.Verdict, detail)
		s.F(`<g class="point" data-run="%d" data-detail="%s"><title>%s</title>`, i, format.Esc(full), format.Esc(full))
		y := h
		for _, code := range codes { // the same order in every bar
			for _, c := range r.Causes {
				if c.Code != code || c.Failures == 0 {
					continue
				}
				bh := h * float64(c.Failures) / top
				y -= bh
				s.F(`<rect class="cause" data-cause="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, format.Esc(string(code)), x-bw/2, y, bw, bh, causeColor(code))
			}
		}
		// A thin base keeps a run without causes clickable and visible.
		s.F(`<rect x="%.1f" y="%.1f" width="%.1f" height="2" fill="#bdbdbd"/></g>`, x-bw/2, h-1, bw)
	}
	s.F(`</g></svg>`)
	return s.B.String()
}

var trendTmpl = template.Must(template.New("trend").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{{.Title}}</title>
<style>
body{font:14px system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 8px} h2{font-size:16px;margin:16px 0 4px}
.PASS{color:#2e7d32} .FAIL{color:#c62828} .INCONCLUSIVE{color:#ef6c00}
svg text.lbl,svg text.tick{font-size:10px;fill:#555} svg .grid{stroke:#e0e0e0}
svg .trendline{fill:none;stroke:#90a4ae;stroke-width:1.5} svg .point{cursor:pointer}
svg circle.missing{fill:#fff;stroke:#9e9e9e;stroke-width:1.5}
.legend span{display:inline-block;margin-right:12px} .sw{display:inline-block;width:10px;height:10px;margin-right:4px}
table.runs{border-collapse:collapse} table.runs td,table.runs th{border:1px solid #ccc;padding:2px 8px;text-align:left}
#details{min-height:1.4em;padding:4px;background:#fffde7;font-family:monospace} tr.picked{background:#fffde7}
</style></head><body data-ok="0">
<h1>{{.Title}}</h1>
<p>{{.Workloads}}: {{.Counts}}.</p>
<div id="details">click a point for its run</div>
<h2>Verdict</h2>
{{.Verdict}}
<h2>Failed requests</h2>
{{.Failures}}
<h2>Disrupted seconds</h2>
{{.Disrupted}}
<h2>Failed requests by cause</h2>
<div class="legend">{{range .CauseColors}}<span><i class="sw" style="background:{{.Color}}"></i>{{.Name}}</span>{{else}}<span>no failure had a cause</span>{{end}}</div>
{{.Causes}}
<h2>p99 latency in the rollout (ms)</h2>
{{.P99}}
<h2>Runs</h2>
<table class="runs"><tr><th>start (UTC)</th><th>workload</th><th>action</th><th>verdict</th><th>requests</th><th>failed</th><th>disrupted</th><th>p99 in rollout</th><th>causes</th></tr>
{{range $i, $r := .Runs}}<tr data-run="{{$i}}"><td>{{.When}}</td><td>{{.Workload}} in {{.Rollout.Namespace}}</td><td>{{.Rollout.Action}}</td><td class="{{.Verdict}}">{{.Verdict}}</td><td>{{.Load.Requests}}</td><td>{{.Load.Failures}}</td><td>{{printf "%.1f" .DisruptedSeconds}}s</td><td>{{if .P99}}{{printf "%.1f" .P99ms}} ms{{else}}-{{end}}</td><td>{{range $i, $c := .Causes}}{{if $i}}, {{end}}{{$c.Code}} ({{$c.Failures}}){{else}}-{{end}}</td></tr>
{{end}}</table>
<script>
// A click on a point shows its run's details and marks its row in the table.
(function(){
  var details=document.getElementById('details'), rows=document.querySelectorAll('table.runs tr[data-run]');
  function pick(el){
    details.textContent=el.getAttribute('data-detail');
    rows.forEach(function(row){row.classList.toggle('picked',row.getAttribute('data-run')===el.getAttribute('data-run'));});
  }
  document.querySelectorAll('svg .point').forEach(function(el){el.addEventListener('click',function(){pick(el);});});
  document.body.setAttribute('data-ok','1');
})();
</script>
</body></html>
`))

// P99ms is the run's p99 in the rollout in milliseconds, for the table.
func (r trendRun) P99ms() float64 { return r.P99 * 1000 }
