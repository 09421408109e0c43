package render

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

func TestHTMLIsSelfContainedAndEscapesUserStrings(t *testing.T) {
	a, o := run(map[int]int{12: 3}, 100)
	a.FailureList[0].Pod = `web-<script>alert(1)</script>`
	a.FailureList[0].Error = `Get "http://x/?a=<b>": EOF`
	yes, no := true, false
	evs := []rollout.Event{
		{Time: t0.Add(10 * time.Second), Type: rollout.RolloutTriggered},
		{Time: t0.Add(11 * time.Second), Type: rollout.PodCreated, Pod: "web-new"},
		{Time: t0.Add(12 * time.Second), Type: rollout.PodReady, Pod: "web-new"},
		{Time: t0.Add(1 * time.Second), Type: rollout.EndpointAdded, Pod: "web-old", Ready: &yes, Detail: "initial"},
		{Time: t0.Add(13 * time.Second), Type: rollout.DeletionRequested, Pod: "web-old"},
		{Time: t0.Add(13100 * time.Millisecond), Type: rollout.EndpointChanged, Pod: "web-old", Ready: &no},
		{Time: t0.Add(14 * time.Second), Type: rollout.ContainerExited, Pod: "web-old", ExitCode: ptr32(137)},
	}
	r := report.Build(report.Input{Deployment: "web", Namespace: "default", Action: "restart", Attack: a, Outcome: o, Drained: o.CompletedAt.Add(time.Second), Events: evs, Thresholds: report.DefaultThresholds()})
	var buf bytes.Buffer
	if err := WriteHTML(r, &buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{`id="summary"`, `id="chart"`, `id="swimlanes"`, `data-pod="web-old"`, `data-pod="web-new"`, "killed (137)", `class="fail"`, "FAIL"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>alert(1)") || strings.Contains(page, `<b>"`) {
		t.Error("a user-given string reached the page unescaped")
	}
	for _, banned := range []string{"http://", "https://"} {
		for _, line := range strings.Split(page, "\n") {
			if strings.Contains(line, "src=\""+banned) || strings.Contains(line, "href=\""+banned) {
				t.Errorf("page fetches from the network: %s", line)
			}
		}
	}
}

func ptr32(v int32) *int32 { return &v }
