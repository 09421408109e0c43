package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/check"
	"github.com/rollcheck/rollcheck/rollout"
)

func TestTheStatusLineSaysWhatIsMoving(t *testing.T) {
	load := attack.Snapshot{Elapsed: 12300 * time.Millisecond, Rate: 100, Requests: 1230}
	tests := []struct {
		name  string
		p     check.Progress
		want  string
		width int // the line must fit this
	}{
		{
			name: "before the trigger the pods are counted, not called updated",
			p: check.Progress{Kind: check.ProgressPhase, Phase: "baseline", Started: true, Load: load,
				Rollout: rollout.Status{Desired: 4, Updated: 4, Ready: 4, ReadyEndpoints: 4}},
			want: "  12.3s baseline  100 req/s  0/1230 failed  pods 4/4 ready 4 terminating 0  endpoints 4",
		},
		{
			name: "during the rollout the updated, ready and terminating pods follow it",
			p: check.Progress{Kind: check.ProgressTick, Phase: "rollout", Started: true, Load: load,
				Rollout: rollout.Status{Desired: 4, Updated: 1, Ready: 3, Terminating: 1, ReadyEndpoints: 3, Triggered: true}},
			want: "  12.3s rollout   100 req/s  0/1230 failed  updated 1/4 ready 3 terminating 1  endpoints 3",
		},
		{
			name: "in a weighted canary each backend's pods and endpoints, not a rollout of the stable one",
			p: check.Progress{Kind: check.ProgressTick, Phase: "step 2/3 50/50", Started: true, Load: load,
				Rollout: rollout.Status{Desired: 4, Updated: 0, Ready: 4, ReadyEndpoints: 4, Triggered: true},
				Backends: []check.BackendProgress{
					{Service: "demo", Status: rollout.Status{Desired: 4, Updated: 0, Ready: 4, ReadyEndpoints: 4, Triggered: true}},
					{Service: "demo-canary", Status: rollout.Status{Desired: 1, Ready: 1, ReadyEndpoints: 1, Triggered: true}},
				}},
			want: "  12.3s step 2/3 50/50  100 req/s  0/1230 failed  demo ready 4/4 endpoints 4, demo-canary ready 1/1 endpoints 1",
		},
		{
			name: "99999 requests at 9999 req/s, every one failed, 99 replicas, still fits 100 columns",
			p: check.Progress{Kind: check.ProgressTick, Phase: "baseline", Started: true,
				Load:    attack.Snapshot{Elapsed: 999 * time.Second, Rate: 9999, Requests: 99999, Failures: 99999},
				Rollout: rollout.Status{Desired: 99, Updated: 99, Ready: 99, Terminating: 99, ReadyEndpoints: 99, Triggered: true}},
			width: 100,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			s := newStatusLine(&out)
			s.show(tt.p)
			got := strings.TrimSuffix(out.String(), "\n")
			if tt.want != "" && got != tt.want {
				t.Errorf("line\n got %q\nwant %q", got, tt.want)
			}
			if tt.width > 0 && len(got) > tt.width {
				t.Errorf("line of %d columns, want at most %d: %q", len(got), tt.width, got)
			}
			if strings.Contains(got, "\r") || strings.Count(out.String(), "\n") != 1 {
				t.Errorf("not a terminal: want one plain line, got %q", out.String())
			}
		})
	}
}

func TestTheStatusIntervalCanBeShortenedForALog(t *testing.T) {
	s := newStatusLine(&bytes.Buffer{})
	for env, want := range map[string]time.Duration{"": 5 * time.Second, "500ms": 500 * time.Millisecond, "soon": 5 * time.Second, "-1s": 5 * time.Second} {
		t.Setenv(statusEveryEnv, env)
		if got := s.every(); got != want {
			t.Errorf("%s=%q: every %s, want %s", statusEveryEnv, env, got, want)
		}
	}
}
