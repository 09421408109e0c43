package render

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/internal/fixture"
)

// rollingRestart is a synthetic restart of n replicas, surge 25%: from 10 s
// the new pods come in waves of n/4 (at least 1), each wave Ready 0.5 s
// after it was created; an old pod is deleted as each new one turns Ready
// and exits at once, and the load balancer still sends it one request
// 0.1 s later, which is refused (the seed's as-is, once per pod).
func rollingRestart(n int) report.Input {
	tl := fixture.NewTimeline()
	wave := max(n/4, 1)
	step := 8.0 / float64((n+wave-1)/wave) // the waves span 8 s
	for i := range n {
		old, young := fmt.Sprintf("web-old-%03d", i), fmt.Sprintf("web-new-%03d", i)
		tl.Running(old)
		w := float64(i / wave)
		c := 10 + w*step
		tl.Started(young, c, c+0.3, c+0.5)
		d := c + 0.5 + float64(i%wave)*0.001
		tl.Deleted(old, d, d+0.02, d+0.05, 2, d+0.2)
		tl.Fail(d+0.1, attack.ClassRefused, "", 2*time.Millisecond)
	}
	return report.Input{Namespace: "default", Deployment: "web", Action: "restart", Services: []string{"web"}, Targets: []string{"http://127.0.0.1:8080/"},
		Attack: tl.A, Events: tl.Sorted(), Outcome: tl.O, Drained: tl.O.CompletedAt, Thresholds: report.DefaultThresholds(), Spec: fixture.Deployment()}
}

type scaleOutputs struct {
	build                          time.Duration
	summaryLines, html, json, text int
	verdict                        report.Verdict
	causes                         []string
	events                         int
}

func renderScale(tb testing.TB, n int) scaleOutputs {
	tb.Helper()
	in := rollingRestart(n)
	began := time.Now()
	r := report.Build(in)
	out := scaleOutputs{build: time.Since(began), verdict: r.Verdict, events: len(in.Events)}
	for _, c := range r.Causes {
		out.causes = append(out.causes, string(c.Code))
	}
	var b bytes.Buffer
	if err := (TextOptions{Width: 100}).Write(r, &b); err != nil {
		tb.Fatal(err)
	}
	out.summaryLines = strings.Count(b.String(), "\n")
	b.Reset()
	if err := (TextOptions{Width: 100, Details: true}).Write(r, &b); err != nil {
		tb.Fatal(err)
	}
	out.text = b.Len()
	b.Reset()
	if err := WriteHTML(r, &b); err != nil {
		tb.Fatal(err)
	}
	out.html = b.Len()
	b.Reset()
	if err := WriteJSON(r, &b); err != nil {
		tb.Fatal(err)
	}
	out.json = b.Len()
	return out
}

// A rollout of 100 replicas gives the verdict and the causes of the same
// rollout of 4, and its outputs stay in proportion: the text summary a
// page (at most 40 lines, as for 4 pods), the JSON growing no faster than
// the events.
func TestAHundredPodsReportAsFourDo(t *testing.T) {
	four, hundred := renderScale(t, 4), renderScale(t, 100)
	if four.verdict != hundred.verdict || strings.Join(four.causes, " ") != strings.Join(hundred.causes, " ") {
		t.Errorf("4 pods: %s %v; 100 pods: %s %v; want the same verdict and causes", four.verdict, four.causes, hundred.verdict, hundred.causes)
	}
	if hundred.summaryLines > 40 {
		t.Errorf("the summary of 100 pods is %d lines, want a page (4 pods: %d)", hundred.summaryLines, four.summaryLines)
	}
	grow := float64(hundred.events) / float64(four.events)
	if r := float64(hundred.json) / float64(four.json); r > grow {
		t.Errorf("JSON %d bytes for 100 pods against %d for 4 (%.1fx), more than the events grew (%.1fx)", hundred.json, four.json, r, grow)
	}
	t.Logf("4 pods: %d events, summary %d lines, JSON %d B, HTML %d B; 100 pods: %d events, summary %d lines, JSON %d B, HTML %d B",
		four.events, four.summaryLines, four.json, four.html, hundred.events, hundred.summaryLines, hundred.json, hundred.html)
}

// BenchmarkReportHundredPods: the time to build the report of a rollout
// of 100 pods against 4 (report.Build, the diagnosis included), and the
// size of every output.
func BenchmarkReportHundredPods(b *testing.B) {
	for _, n := range []int{4, 100} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			in := rollingRestart(n)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				report.Build(in)
			}
			b.StopTimer()
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(per.Microseconds())/1e3, "ms/build")
			if b.N > 1 {
				o := renderScale(b, n)
				fmt.Printf("bench report_build_ms_%d_pods %.2f\n", n, float64(per.Microseconds())/1e3)
				fmt.Printf("bench report_summary_lines_%d_pods %d\n", n, o.summaryLines)
				fmt.Printf("bench report_details_bytes_%d_pods %d\n", n, o.text)
				fmt.Printf("bench report_html_bytes_%d_pods %d\n", n, o.html)
				fmt.Printf("bench report_json_bytes_%d_pods %d\n", n, o.json)
			}
		})
	}
}

// With many pods the HTML shows the ones that failed requests in lanes of
// their own and folds every pod's lane below them; with few, one set.
func TestManyPodsLanesShowTheFailedFirst(t *testing.T) {
	for _, n := range []int{4, 100} {
		r := report.Build(rollingRestart(n))
		var b bytes.Buffer
		if err := WriteHTML(r, &b); err != nil {
			t.Fatal(err)
		}
		html := b.String()
		all := 2 * n // old and new
		failed := failedPods(r)
		i := strings.Index(html, `<svg id="swimlanes-failed"`)
		if n*2 <= manyLanes {
			if i >= 0 {
				t.Errorf("%d pods: a separate set of failed lanes", all)
			}
			continue
		}
		if i < 0 || !strings.Contains(html, fmt.Sprintf("<details><summary>every pod (%d)</summary>", all)) {
			t.Fatalf("%d pods: no lanes of the failed pods first, every pod folded", all)
		}
		part := html[i : i+strings.Index(html[i:], "</svg>")]
		if got := strings.Count(part, `<g class="lane" data-pod=`); got != len(failed) || got == 0 || got >= all {
			t.Errorf("%d pods: %d lanes among the failed, want the %d that failed requests", all, got, len(failed))
		}
		if got := strings.Count(html[i+len(part):], `<g class="lane" data-pod=`); got != all {
			t.Errorf("every pod's lanes: %d, want %d", got, all)
		}
	}
}
