package render

import (
	"fmt"
	"strings"

	"github.com/rollcheck/rollcheck/report"
)

// The HTML report opens on the summary the text prints by default
// (summary.go): the same value, laid out as HTML instead of lines. The page
// has room, so nothing is cut to a line budget, except the failing pods,
// which are listed worst first up to the text's count and the rest
// counted, as the text does.

// htmlSummary is a summary as the page lays it out.
type htmlSummary struct {
	summary
	Causes     []htmlCause // the summary's causes, each with how it was weighed
	Lines      []htmlLine  // preflight, load, streams, rollout, disrupted, steps, attackers, measured, pods
	FailedPods []summaryPod
	MorePods   int // pods that failed requests past FailedPods
	MoreSteps  int // failed steps past FailedSteps
}

// htmlCause is a cause of the summary with the report's cause it reads,
// whose weighing (what it rests on, the pods of the causes that fit as
// well, what would tell them apart, the lint rules that foresaw it) the
// text leaves to --details.
type htmlCause struct {
	summaryCause
	High    bool
	Weighed report.Cause
}

// htmlLine is one of the summary's labelled lines: "Load", "http://… at
// 100.0/s asked, …".
type htmlLine struct{ Label, Text string }

// htmlSummaryOf lays out the summary of r for the page.
func htmlSummaryOf(r *report.Report) htmlSummary {
	s := summarize(r)
	h := htmlSummary{summary: s}
	for i, c := range s.Causes {
		hc := htmlCause{summaryCause: c, High: c.Confidence == report.ConfidenceHigh}
		if i < len(r.Causes) { // summarize reads r.Causes in order, one each
			hc.Weighed = r.Causes[i]
		}
		h.Causes = append(h.Causes, hc)
	}
	for _, l := range []string{s.Preflight, s.Front, s.Load, s.Streams, s.Rollout, s.Drain, s.Steps, s.Weights, s.Attackers, s.Measured} {
		if l != "" {
			label, text, _ := strings.Cut(l, " ")
			h.Lines = append(h.Lines, htmlLine{label, strings.TrimSpace(text)})
		}
	}
	if len(s.Pods) > 0 && s.Verdict != report.Pass { // as the text: a PASS needs no pods
		pods := strings.Join(s.Pods, "; ")
		if len(s.FailedPods) > 0 && s.QuietPods > 0 {
			pods += fmt.Sprintf("; %s failed no request", plural(s.QuietPods, "pod", "pods"))
		}
		h.Lines = append(h.Lines, htmlLine{"Pods", pods})
	}
	full := summaryLevels[0]
	h.FailedPods = s.FailedPods[:min(len(s.FailedPods), full.pods)]
	h.MorePods = len(s.FailedPods) - len(h.FailedPods)
	h.FailedSteps = s.FailedSteps[:min(len(s.FailedSteps), full.steps)]
	h.MoreSteps = len(s.FailedSteps) - len(h.FailedSteps)
	return h
}

// summaryCSS styles the summary section.
const summaryCSS = `
#summary{max-width:1150px}
#summary h1{font-size:22px;margin:0 0 6px}
#summary h2{font-size:16px;margin:14px 0 4px}
#summary h2 small{font-weight:normal;color:#555}
#summary ul{margin:4px 0;padding-left:22px}
#summary .cause{margin:4px 0 8px;padding:2px 0 2px 10px;border-left:4px solid #bdbdbd}
#summary .cause.high{border-left-color:#c62828}
#summary .cause.high .code{color:#c62828}
#summary .evidence,#summary .why{color:#333}
#summary details{font-size:12px;color:#444}
#summary details summary{cursor:pointer;color:#1565c0}
#summary table.lines th{text-align:left;vertical-align:top;padding:1px 12px 1px 0;font-weight:600;color:#444}
#summary table.lines td{padding:1px 0}
#summary .fixes li{margin-bottom:4px}
#summary .right{color:#2e7d32;margin:2px 0}
`

// summaryTmpl is the summary section, named "summary" in the page's
// template; it runs on an htmlSummary.
const summaryTmpl = `<section id="summary" data-verdict="{{.Verdict}}">
<h1>rollcheck: <span class="verdict {{.Verdict}}">{{.Verdict}}</span> {{.Subject}}</h1>
<ul class="reasons">{{range .Reasons}}<li>{{.}}</li>{{end}}</ul>
{{- if .Causes}}
<h2>Causes{{if .Attribution}} <small>({{.Attribution}})</small>{{end}}</h2>
{{- range .Causes}}
<div class="cause{{if .High}} high{{end}}" data-code="{{.Code}}" data-confidence="{{.Confidence}}">
<b class="code">{{.Code}}</b>{{if .Confidence}} <span class="conf {{.Confidence}}">{{.Confidence}} confidence</span>{{end}} {{.Failed}}
<div class="evidence">{{.Evidence}}</div>
{{- if .Also}}<div class="also">{{.Also}}</div>{{end}}
{{- with .Weighed}}{{if .PredictedBy}}<div class="lint"><small>predicted by lint: {{range $i, $p := .PredictedBy}}{{if $i}} {{end}}<code>{{$p}}</code>{{end}}</small></div>{{end}}
{{- if or .Basis .Alternatives .SeparateBy .Uncertain}}
<details><summary>how it was weighed</summary>
{{- if .Basis}}<div>rests on: {{range $i, $b := .Basis}}{{if $i}}; {{end}}{{$b}}{{end}}</div>{{end}}
{{- range .Alternatives}}<div>fits as well: <b>{{.Code}}</b> ({{range $i, $p := .Pods}}{{if $i}} {{end}}{{$p}}{{end}}) for {{.Failures}} of them</div>{{end}}
{{- if .SeparateBy}}<div>to tell them apart: {{range $i, $s := .SeparateBy}}{{if $i}}; {{end}}{{$s}}{{end}}</div>{{end}}
{{- if .Uncertain}}<div>uncertain: {{.Uncertain}}</div>{{end}}
</details>{{end}}{{end}}
</div>
{{- end}}
{{- end}}
{{- if .Fixes}}
<h2>Fix</h2>
<ul class="fixes">{{range .Fixes}}<li{{if .Withheld}} class="withheld"{{end}}><code>{{short .Field}}</code>: {{.Current}} → <b>{{.Suggested}}</b>{{if .Why}}<br><small class="why">{{.Why}}</small>{{end}}</li>{{end}}</ul>
{{- end}}
{{- if and .Right (ne .Verdict "PASS")}}
<p class="right">already right: {{range $i, $r := .Right}}{{if $i}}, {{end}}{{$r}}{{end}}</p>
{{- end}}
<table class="lines">{{range .Lines}}<tr><th>{{.Label}}</th><td>{{.Text}}</td></tr>{{end}}</table>
{{- if or .FailedSteps .MoreSteps}}
<ul class="steps">{{range .FailedSteps}}<li>{{.}}</li>{{end}}{{if .MoreSteps}}<li>and {{.MoreSteps}} more failed steps (the steps table below)</li>{{end}}</ul>
{{- end}}
{{- if .FailedPods}}
<h2>Pods that failed requests <small>(worst first)</small></h2>
<ul class="pods">{{range .FailedPods}}<li data-pod="{{.Pod}}"><b>{{.Pod}}</b> {{.Failures}} failed{{if .Detail}} <small>({{.Detail}})</small>{{end}}</li>{{end}}
{{- if .MorePods}}<li class="more">and {{.MorePods}} more {{if eq .MorePods 1}}pod{{else}}pods{{end}} that failed requests (the swimlanes below)</li>{{end}}</ul>
{{- end}}
</section>`
