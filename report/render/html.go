package render

import (
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
	"github.com/rollcheck/rollcheck/rollout"
)

// The HTML report is one self-contained file: SVG drawn here in Go (no chart
// library, nothing fetched, works from file://), with native SVG tooltips and
// a few lines of inline script that show a clicked mark's details. Drawing
// the SVG in Go keeps the one computed report.Report the only source: the page only
// lays it out.

const (
	leftMargin = 230 // room for pod names
	plotWidth  = format.SVGWidth - leftMargin - 20
	chartH     = 180
	laneH      = 18
)

// phase colours of the swimlanes, shared with the legend.
var laneColors = []struct{ Name, Color string }{
	{"starting", "#cfd8dc"},
	{"ready, in endpoints", "#66bb6a"},
	{"terminating, still a ready endpoint", "#ffa726"},
	{"terminating, endpoint not ready", "#ef6c00"},
	{"removed from endpoints", "#bdbdbd"},
}

var classColors = map[string]string{
	"502": "#d32f2f", "503": "#7b1fa2", "504": "#f57c00", "other-5xx": "#c2185b", "4xx": "#5d4037",
	"refused": "#1976d2", "reset": "#0097a7", "eof": "#455a64", "timeout": "#fbc02d", "other": "#616161",
}

// timeScale maps run time to x.
type timeScale struct {
	t0  time.Time
	dur float64
}

func (ts timeScale) x(t time.Time) float64 {
	if ts.dur <= 0 {
		return leftMargin
	}
	v := t.Sub(ts.t0).Seconds() / ts.dur
	return leftMargin + math.Max(0, math.Min(1, v))*plotWidth
}

// WriteHTML renders the report as one self-contained HTML page: the
// summary the text prints by default (verdict, causes, fixes, load,
// rollout, pods), then a chart of success rate and latency with failures
// marked by class, one swimlane per pod with its lifecycle phases, and the
// tables of steps and connections.
func WriteHTML(r *report.Report, w io.Writer) error {
	t0 := r.Start()
	end := t0
	if len(r.Phases) > 0 {
		end = r.Phases[len(r.Phases)-1].End
	}
	for _, e := range r.Events {
		if e.Time.After(end) {
			end = e.Time
		}
	}
	ts := timeScale{t0: t0, dur: end.Sub(t0).Seconds()}
	page := htmlPage{
		Report:    r,
		Summary:   htmlSummaryOf(r),
		Title:     fmt.Sprintf("rollcheck %s: %s", r.Verdict, r.Workload()),
		Chart:     template.HTML(chartSVG(r, ts)),
		Lanes:     template.HTML(lanesSVG(r, ts, "swimlanes", nil)),
		Attackers: template.HTML(attackersSVG(r, ts)),
		Classes:   classLegend(),
		LaneColor: laneColors,
	}
	// Many pods: the ones that failed requests first, in lanes of their
	// own, and every pod's lane folded below them.
	if page.Pods = len(report.PodLives(r.Events)); page.Pods > manyLanes {
		if failed := failedPods(r); len(failed) > 0 {
			page.FailedPods = len(failed)
			page.FailedLanes = template.HTML(lanesSVG(r, ts, "swimlanes-failed", failed))
		}
	}
	if err := htmlTmpl.Execute(w, page); err != nil {
		return fmt.Errorf("writing HTML report: %w", err)
	}
	return nil
}

type htmlPage struct {
	*report.Report
	Summary htmlSummary
	Title   string
	Chart   template.HTML
	Lanes   template.HTML
	// With more than manyLanes pods, FailedLanes are the lanes of the
	// FailedPods that failed requests ("": fewer pods, or none failed);
	// Pods counts them all.
	FailedLanes      template.HTML
	Pods, FailedPods int
	Attackers        template.HTML // report/attackers.go; "" without attackers
	Classes          []struct{ Name, Color string }
	LaneColor        []struct{ Name, Color string }
}

func classLegend() []struct{ Name, Color string } {
	var out []struct{ Name, Color string }
	for _, c := range []string{"502", "503", "504", "other-5xx", "4xx", "refused", "reset", "eof", "timeout", "other"} {
		out = append(out, struct{ Name, Color string }{c, classColors[c]})
	}
	return out
}

// axis draws phase bands and a seconds axis over height h.
func axis(s *format.SVG, r *report.Report, ts timeScale, h float64) {
	shade := map[string]string{"baseline": "#f5f5f5", "rollout": "#fff8e1", "settle": "#f1f8e9"}
	for _, p := range r.Phases {
		x0, x1 := ts.x(p.Start), ts.x(p.End)
		s.F(`<rect class="phase" x="%.1f" y="0" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`, x0, math.Max(0, x1-x0), h, shade[p.Name], format.Esc(p.Name))
		s.F(`<text x="%.1f" y="12" class="lbl">%s</text>`, x0+3, format.Esc(p.Name))
	}
	step := niceStep(ts.dur)
	for t := 0.0; t <= ts.dur+1e-9 && step > 0; t += step {
		x := ts.x(ts.t0.Add(time.Duration(t * float64(time.Second))))
		s.F(`<line x1="%.1f" y1="0" x2="%.1f" y2="%.1f" class="grid"/>`, x, x, h)
		s.F(`<text x="%.1f" y="%.1f" class="tick">%gs</text>`, x, h+12, t)
	}
}

func niceStep(dur float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600} {
		if dur/s <= 15 {
			return s
		}
	}
	return 1200
}

// chartSVG draws the success rate (left axis, %) and p50/p99 latency (right
// axis) per bucket, with a mark per failed bucket coloured by its main class.
func chartSVG(r *report.Report, ts timeScale) string {
	var s format.SVG
	top, h := 20.0, float64(chartH)
	s.F(`<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" role="img" aria-label="success rate and latency over time">`, format.SVGWidth, top+h+30, format.SVGWidth, top+h+30)
	s.F(`<g transform="translate(0,%.0f)">`, top)
	axis(&s, r, ts, h)
	maxLat := 0.0
	for _, b := range r.Buckets {
		maxLat = math.Max(maxLat, b.P99.Seconds())
	}
	if maxLat == 0 {
		maxLat = 0.001
	}
	var ok, p50, p99 []string
	for _, b := range r.Buckets {
		if b.Total == 0 {
			continue
		}
		x := ts.x(b.Start)
		ok = append(ok, fmt.Sprintf("%.1f,%.1f", x, h-h*float64(b.OK)/float64(b.Total)))
		p50 = append(p50, fmt.Sprintf("%.1f,%.1f", x, h-h*b.P50.Seconds()/maxLat))
		p99 = append(p99, fmt.Sprintf("%.1f,%.1f", x, h-h*b.P99.Seconds()/maxLat))
	}
	s.F(`<polyline class="p99" points="%s"/>`, strings.Join(p99, " "))
	s.F(`<polyline class="p50" points="%s"/>`, strings.Join(p50, " "))
	s.F(`<polyline class="ok" points="%s"/>`, strings.Join(ok, " "))
	bw := math.Max(2, plotWidth*r.BucketWidth/math.Max(ts.dur, 1e-9))
	// The pods named by each bucket's failures, in one pass over the failures.
	podsIn := map[int][]string{}
	if len(r.Buckets) > 0 && r.BucketWidth > 0 {
		first := r.Buckets[0].Start
		for _, f := range r.Failures {
			i := int(f.Time.Sub(first).Seconds() / r.BucketWidth)
			if f.Pod != "" && !slices.Contains(podsIn[i], f.Pod) {
				podsIn[i] = append(podsIn[i], f.Pod)
			}
		}
	}
	for i, b := range r.Buckets {
		if b.Failed() == 0 {
			continue
		}
		main, parts := "", []string{}
		n := 0
		for c, k := range b.ByClass {
			parts = append(parts, fmt.Sprintf("%s: %d", c, k))
			if k > n || (k == n && string(c) < main) {
				main, n = string(c), k
			}
		}
		sort.Strings(parts)
		pods := podsIn[int(b.Start.Sub(r.Buckets[0].Start).Seconds()/r.BucketWidth+0.5)]
		detail := fmt.Sprintf("%s: %d of %d failed (%s)", format.Offset(ts.t0, b.Start), b.Failed(), b.Total, strings.Join(parts, ", "))
		if len(pods) > 0 {
			detail += "; pods " + strings.Join(pods, ", ")
		}
		hgt := math.Max(3, h*float64(b.Failed())/float64(b.Total))
		s.F(`<rect class="fail" data-i="%d" data-detail="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`,
			i, format.Esc(detail), ts.x(b.Start), h-hgt, bw, hgt, classColors[main], format.Esc(detail))
	}
	s.F(`<text x="4" y="%.0f" class="lbl">success %%</text><text x="4" y="%.0f" class="lbl">p99 max %s</text>`, h/2, h/2+14, format.Esc(format.Secs(maxLat)))
	s.F(`</g></svg>`)
	return s.B.String()
}

// manyLanes is the count of pods above which the HTML shows the pods that
// failed requests in lanes of their own, every pod's lane folded below.
const manyLanes = 40

// failedPods are the pods a failure was tied to, by its pod header or by
// the diagnosis.
func failedPods(r *report.Report) map[string]bool {
	out := map[string]bool{}
	for _, f := range r.Failures {
		if f.Pod != "" {
			out[f.Pod] = true
		}
	}
	for _, a := range r.Attributed {
		if a.Pod != "" && a.Failures > 0 {
			out[a.Pod] = true
		}
	}
	return out
}

// lanesSVG draws one row per pod (of only those in keep, when it is not
// nil) with its lifecycle phases, its failures and lifecycle event marks,
// and a row for the ReplicaSet scaling steps; id is the svg's.
func lanesSVG(r *report.Report, ts timeScale, id string, keep map[string]bool) string {
	lives := report.PodLives(r.Events)
	names := make([]string, 0, len(lives))
	for n := range lives {
		if keep == nil || keep[n] {
			names = append(names, n)
		}
	}
	first := func(p report.PodLife) time.Time {
		if p.Initial {
			return ts.t0
		}
		for _, t := range []time.Time{p.Created, p.Started, p.Ready, p.Deleted} {
			if !t.IsZero() {
				return t
			}
		}
		return ts.t0
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := first(lives[names[i]]), first(lives[names[j]])
		if !a.Equal(b) {
			return a.Before(b)
		}
		return names[i] < names[j]
	})
	byPod := map[string][]int{} // failure indexes by pod, in one pass
	for i, f := range r.Failures {
		if f.Pod != "" {
			byPod[f.Pod] = append(byPod[f.Pod], i)
		}
	}
	rows := len(names) + 1
	h := float64(rows*laneH + 4)
	var s format.SVG
	s.F(`<svg id="%s" xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" role="img" aria-label="pod lifecycles">`, id, format.SVGWidth, h+20, format.SVGWidth, h+20)
	axis(&s, r, ts, h)
	end := ts.t0.Add(time.Duration(ts.dur * float64(time.Second)))
	for i, n := range names {
		p := lives[n]
		y := float64(i*laneH + 2)
		s.F(`<g class="lane" data-pod="%s"><text x="4" y="%.1f" class="pod">%s</text>`, format.Esc(n), y+12, format.Esc(n))
		startTime := first(p)
		if p.Initial {
			startTime = ts.t0
		}
		stopTime := end
		if !p.Exited.IsZero() {
			stopTime = p.Exited
		}
		segs := []struct {
			from, to time.Time
			color    int
		}{
			{startTime, p.Ready, 0},
			{orT(p.Ready, startTime, p.Initial), p.Deleted, 1},
			{p.Deleted, p.Unready, 2},
			{orT(p.Unready, p.Deleted, false), p.Removed, 3},
			{p.Removed, stopTime, 4},
		}
		for _, sg := range segs {
			from, to := sg.from, sg.to
			if from.IsZero() {
				continue
			}
			if to.IsZero() || to.After(stopTime) {
				to = stopTime
			}
			if !to.After(from) {
				continue
			}
			c := laneColors[sg.color]
			s.F(`<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s: %s to %s</title></rect>`,
				ts.x(from), y, math.Max(1, ts.x(to)-ts.x(from)), laneH-4, c.Color, format.Esc(n+" "+c.Name), format.Offset(ts.t0, from), format.Offset(ts.t0, to))
		}
		if !p.Exited.IsZero() {
			code := "?"
			if p.ExitCode != nil {
				code = fmt.Sprint(*p.ExitCode)
			}
			label := "exited " + code
			if code == "137" {
				label = "killed (137)"
			}
			s.F(`<text x="%.1f" y="%.1f" class="exit"><title>%s at %s</title>✕</text>`, ts.x(p.Exited)-4, y+11, format.Esc(label), format.Offset(ts.t0, p.Exited))
		}
		for _, fi := range byPod[n] {
			f := r.Failures[fi]
			detail := fmt.Sprintf("%s %s %s", format.Offset(ts.t0, f.Time), f.Class, f.Error)
			s.F(`<rect class="fail" data-detail="%s" x="%.1f" y="%.1f" width="2" height="%d" fill="%s"><title>%s</title></rect>`,
				format.Esc(n+": "+detail), ts.x(f.Time), y, laneH-4, classColors[string(f.Class)], format.Esc(detail))
		}
		s.F(`</g>`)
	}
	y := float64(len(names)*laneH + 2)
	s.F(`<g class="lane"><text x="4" y="%.1f" class="pod">ReplicaSets</text>`, y+12)
	for _, e := range r.Events {
		if e.Type != rollout.ReplicaSetScaled && e.Type != rollout.RolloutTriggered && e.Type != rollout.RolloutComplete && e.Type != rollout.RolloutFailed {
			continue
		}
		label := string(e.Type)
		if e.Replicas != nil {
			label = fmt.Sprintf("%s scaled to %d", e.ReplicaSet, *e.Replicas)
		}
		s.F(`<rect class="step" x="%.1f" y="%.1f" width="3" height="%d"><title>%s at %s</title></rect>`, ts.x(e.Time), y, laneH-4, format.Esc(label), format.Offset(ts.t0, e.Time))
	}
	s.F(`</g></svg>`)
	return s.B.String()
}

// orT returns t, or else fallback when allowed (an initial pod was ready
// from the start).
func orT(t, fallback time.Time, allow bool) time.Time {
	if t.IsZero() && allow {
		return fallback
	}
	return t
}

// htmlTmpl is the page; its "summary" template (summaryhtml.go) opens it.
var htmlTmpl = template.Must(template.Must(template.New("report").Funcs(template.FuncMap{"short": shortField, "connections": connectionsHTML, "deref": func(p *float64) float64 { return *p }}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{{.Title}}</title>
<style>
body{font:14px system-ui,sans-serif;margin:16px;color:#222}
.PASS{color:#2e7d32} .FAIL{color:#c62828} .INCONCLUSIVE{color:#ef6c00}
.conf{font-size:12px;padding:0 4px;border-radius:3px} .conf.high{background:#c8e6c9} .conf.medium{background:#fff3c4} .conf.low{background:#ffcdd2} code{background:#f3f3f3;padding:1px 3px}
svg{max-width:100%;height:auto} svg text.lbl,svg text.tick{font-size:10px;fill:#555} svg text.pod{font-size:11px;fill:#222}
svg .grid{stroke:#e0e0e0} svg .ok{fill:none;stroke:#2e7d32;stroke-width:1.5}
svg .p50{fill:none;stroke:#90caf9} svg .p99{fill:none;stroke:#1565c0}
svg .fail{cursor:pointer} svg .step{fill:#5c6bc0} svg text.exit{font-size:12px;fill:#b71c1c}
.legend span{display:inline-block;margin-right:12px} .sw{display:inline-block;width:10px;height:10px;margin-right:4px}
table.steps{border-collapse:collapse} table.steps td,table.steps th{border:1px solid #ccc;padding:2px 8px;text-align:left}
#details{min-height:1.4em;padding:4px;background:#fffde7;font-family:monospace}` + summaryCSS + `</style></head><body data-ok="0">
{{template "summary" .Summary}}
<h2>Requests</h2>
<div class="legend"><span><i class="sw" style="background:#2e7d32"></i>success %</span><span><i class="sw" style="background:#90caf9"></i>p50</span><span><i class="sw" style="background:#1565c0"></i>p99</span>{{range .Classes}}<span><i class="sw" style="background:{{.Color}}"></i>{{.Name}}</span>{{end}}</div>
{{.Chart}}
<div id="details">click a failure mark for its details</div>
<h2>Pods</h2>
<div class="legend">{{range .LaneColor}}<span><i class="sw" style="background:{{.Color}}"></i>{{.Name}}</span>{{end}}<span>✕ container exited</span></div>
{{if .FailedLanes}}<p>{{.Pods}} pods; the {{.FailedPods}} that failed requests:</p>
{{.FailedLanes}}
<details><summary>every pod ({{.Pods}})</summary>
{{.Lanes}}
</details>{{else}}{{.Lanes}}{{end}}
{{if .Attackers}}<h2>Attackers</h2>
{{.Attackers}}{{end}}
{{if .Steps}}<h2>Steps</h2><table class="steps"><tr><th>step</th><th>action</th><th>rollout</th><th>requests</th><th>failed</th><th>disrupted</th>{{if .WeightedCanary}}<th>canary share asked / received</th>{{end}}<th>result</th></tr>
{{range .Steps}}<tr><td>{{.Name}}</td><td>{{.Detail}}</td><td>{{if .Completed}}{{printf "%.1f" .RolloutSeconds}}s{{else}}incomplete: {{.Reason}}{{end}}</td><td>{{.Requests}}</td><td>{{.Failures}}</td><td>{{printf "%.1f" .DisruptedSeconds}}s</td>{{with .Share}}<td>{{printf "%.1f" .AskedCanaryPercent}}% / {{if .CanaryPercent}}{{printf "%.1f" (deref .CanaryPercent)}}%{{else}}unknown: {{.Unknown}}{{end}}{{if .Unnamed}} ({{.Unnamed}} named no pod){{end}}</td>{{end}}<td class="{{if .Passed}}PASS{{else}}FAIL{{end}}">{{if .Passed}}PASS{{else}}FAIL{{end}}</td></tr>
{{end}}</table>{{end}}
{{connections .Report}}
<script>
(function(){
  var d=document.getElementById('details');
  document.querySelectorAll('svg .fail').forEach(function(el){
    el.addEventListener('click',function(){d.textContent=el.getAttribute('data-detail');});
  });
  document.body.setAttribute('data-ok','1');
})();
</script>
</body></html>
`)).New("summary").Parse(summaryTmpl)).Lookup("report")

// attackersSVG draws one lane per attacker: its active span (first to
// last request), failures as marks, and its problem in the tooltip.
func attackersSVG(r *report.Report, ts timeScale) string {
	if len(r.Attackers) == 0 {
		return ""
	}
	h := float64(len(r.Attackers)*laneH + 4)
	var s format.SVG
	s.F(`<svg id="attackers" xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" role="img" aria-label="attacker pods">`, format.SVGWidth, h+20, format.SVGWidth, h+20)
	axis(&s, r, ts, h)
	for i, a := range r.Attackers {
		y := float64(i*laneH + 2)
		s.F(`<g class="attacker" data-pod="%s"><text x="4" y="%.1f" class="pod">%s</text>`, format.Esc(a.Pod), y+12, format.Esc(a.Pod))
		if a.Start != nil && a.End != nil {
			color := "#42a5f5"
			if a.Problem != "" {
				color = "#ef9a9a"
			}
			title := fmt.Sprintf("%s on %s: %.1f/s of %.1f/s, clock %+.1fms ± %.1fms, %s to %s", a.Pod, format.Dash(a.Node), a.Achieved, a.Share,
				1000*a.OffsetSeconds, 1000*a.BoundSeconds, format.Offset(ts.t0, *a.Start), format.Offset(ts.t0, *a.End))
			if a.Problem != "" {
				title += ": " + a.Problem
			}
			s.F(`<rect class="active" x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`,
				ts.x(*a.Start), y, math.Max(1, ts.x(*a.End)-ts.x(*a.Start)), laneH-4, color, format.Esc(title))
		}
		for _, t := range a.FailureTimes {
			s.F(`<rect class="fail" data-detail="%s" x="%.1f" y="%.1f" width="2" height="%d" fill="#d32f2f"><title>%s</title></rect>`,
				format.Esc(a.Pod+" failure at "+format.Offset(ts.t0, t)), ts.x(t)-1, y, laneH-4, format.Esc("failed at "+format.Offset(ts.t0, t)))
		}
		s.B.WriteString(`</g>`)
	}
	s.B.WriteString(`</svg>`)
	return s.B.String()
}

// connectionsHTML is the kind × class table of the HTML report ("" when no
// request failed or the report has no streams).
func connectionsHTML(r *report.Report) template.HTML {
	c := r.Connections
	if c == nil || failures(c) == 0 {
		return ""
	}
	var b strings.Builder
	classes := failedClasses(c)
	b.WriteString(`<h2>Failures by connection kind</h2><p><small>` + format.Esc(c.Mode) + ` connections; stream: the client that sent them (new: keep-alive off, reused: keep-alive); connection: reused if kept from an earlier request, else new</small></p>`)
	b.WriteString(`<table class="steps" id="connections"><tr><th>stream</th><th>connection</th><th>requests</th><th>failed</th>`)
	for _, cl := range classes {
		b.WriteString("<th>" + format.Esc(cl) + "</th>")
	}
	b.WriteString("</tr>")
	for _, k := range c.Kinds {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%d</td><td>%d</td>", format.Esc(string(k.Stream)), format.Esc(k.Connection), k.Requests, k.Failures)
		for _, cl := range classes {
			fmt.Fprintf(&b, "<td>%d</td>", k.ByClass[cl])
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table>")
	return template.HTML(b.String())
}
