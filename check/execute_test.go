package check

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

var (
	web   = map[string]string{"app": "web"}
	blue  = map[string]string{"app": "web", "color": "blue"}
	green = map[string]string{"app": "web", "color": "green"}
)

// config is a short run against url: 50/s, a 200 ms baseline, no settle.
func config(url string) Config {
	return Config{
		Namespace:    "default",
		Deployment:   "web",
		WatchTimeout: 300 * time.Millisecond,
		Repeat:       1,
		Baseline:     200 * time.Millisecond,
		Attack: attack.Config{
			Targets: []attack.Target{{Method: http.MethodGet, URL: url}},
			Rate:    attack.Rate{Freq: 50, Per: time.Second},
			Timeout: time.Second, KeepAlive: true, BucketWidth: 100 * time.Millisecond,
		},
		Thresholds:     report.Thresholds{MaxFailureRatio: -1, MinSuccessRatio: -1},
		RolloutTimeout: 10 * time.Second,
	}
}

// phases records the phases a run reports, in order, without repeats.
type phaseLog struct {
	mu     sync.Mutex
	phases []string
}

func (l *phaseLog) record(p Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.Kind == ProgressPhase && (len(l.phases) == 0 || l.phases[len(l.phases)-1] != p.Phase) {
		l.phases = append(l.phases, p.Phase)
	}
}

func TestEachStrategyRunsItsStepsUnderTheLoad(t *testing.T) {
	ok := target(t, http.StatusOK)
	tests := []struct {
		name    string
		objs    []runtime.Object
		config  func(*Config)
		action  string
		steps   []string // step names in the report (nil: one rollout)
		phases  []string
		skipped string
		check   func(*testing.T, *fakeCluster)
	}{
		{
			name:   "a restart patches the template and settles",
			objs:   []runtime.Object{deploy("web", 2, web), service("web", web)},
			config: func(c *Config) { c.Action = rollout.Action{Kind: rollout.ActionRestart} },
			action: "restart", phases: []string{"baseline", "rollout", "drain", "settle"},
			check: func(t *testing.T, c *fakeCluster) {
				if a := c.deployment(t, "web").Spec.Template.Annotations[rollout.RestartedAtAnnotation]; a == "" {
					t.Error("no restartedAt annotation")
				}
			},
		},
		{
			name:   "a repeated restart reports each rollout",
			objs:   []runtime.Object{deploy("web", 2, web), service("web", web)},
			config: func(c *Config) { c.Action = rollout.Action{Kind: rollout.ActionRestart}; c.Repeat = 2 },
			action: "restart x2", steps: []string{"1/2", "2/2"},
			phases: []string{"baseline", "step 1/2", "step 2/2", "drain", "settle"},
		},
		{
			name: "a set-image changes the container's image",
			objs: []runtime.Object{deploy("web", 2, web), service("web", web)},
			config: func(c *Config) {
				c.Action = rollout.Action{Kind: rollout.ActionSetImage, Images: map[string]string{"app": "web:2"}}
			},
			action: "set-image app=web:2", phases: []string{"baseline", "rollout", "drain", "settle"},
			check: func(t *testing.T, c *fakeCluster) {
				if img := c.deployment(t, "web").Spec.Template.Spec.Containers[0].Image; img != "web:2" {
					t.Errorf("image %s, want web:2", img)
				}
			},
		},
		{
			name: "canary steps scale both Deployments step by step",
			objs: []runtime.Object{deploy("web", 3, web), deploy("web-canary", 0, web), service("web", web)},
			config: func(c *Config) {
				c.Canary = &Canary{Deployment: "web-canary", Steps: []rollout.CanaryStep{{Stable: 2, Canary: 1}, {Stable: 0, Canary: 3}}}
			},
			action: "canary-steps 2/1,0/3 to deployment/web-canary", steps: []string{"1/2 2/1", "2/2 0/3"},
			phases: []string{"baseline", "step 1/2 2/1", "step 2/2 0/3", "drain", "settle"},
			check: func(t *testing.T, c *fakeCluster) {
				if s, k := replicas(c.deployment(t, "web")), replicas(c.deployment(t, "web-canary")); s != 0 || k != 3 {
					t.Errorf("replicas stable %d canary %d, want 0 and 3", s, k)
				}
			},
		},
		{
			name: "a blue/green switch moves the Service's selector",
			objs: []runtime.Object{deploy("web-blue", 2, blue), deploy("web-green", 2, green), service("web", blue)},
			config: func(c *Config) {
				c.Deployment = ""
				c.Switch = &Switch{Service: "web", Selector: map[string]string{"color": "green"}}
			},
			action: "switch-service web color=green (from deployment/web-blue)", phases: []string{"baseline", "rollout", "drain", "settle"},
			check: func(t *testing.T, c *fakeCluster) {
				svc, err := c.CoreV1().Services("default").Get(context.Background(), "web", metav1.GetOptions{})
				if err != nil || svc.Spec.Selector["color"] != "green" {
					t.Errorf("service selector %v (%v), want color=green", svc.Spec.Selector, err)
				}
			},
		},
		{
			name:   "watch-only with no rollout started elsewhere judges nothing",
			objs:   []runtime.Object{deploy("web", 2, web), service("web", web)},
			config: func(c *Config) { c.Action = rollout.Action{Kind: rollout.ActionWatch} },
			action: "watch-only", phases: []string{"baseline", "rollout", "waiting"}, skipped: "no rollout to verify",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeCluster{cluster(t, "", tt.objs...)}
			cfg := config(ok)
			tt.config(&cfg)
			var log phaseLog
			cfg.Progress = log.record
			in, err := Execute(context.Background(), Clients{Kube: c}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if in.Action != tt.action {
				t.Errorf("action %q, want %q", in.Action, tt.action)
			}
			var steps []string
			for _, s := range in.Steps {
				steps = append(steps, s.Name)
				if !s.Outcome.Completed {
					t.Errorf("step %s did not complete: %s", s.Name, s.Outcome.Reason)
				}
			}
			if !slices.Equal(steps, tt.steps) {
				t.Errorf("steps %q, want %q", steps, tt.steps)
			}
			if !slices.Equal(log.phases, tt.phases) {
				t.Errorf("phases %q, want %q", log.phases, tt.phases)
			}
			if tt.skipped == "" && !in.Outcome.Completed {
				t.Errorf("outcome %+v, want completed", in.Outcome)
			}
			if !strings.Contains(in.Skipped, tt.skipped) || (tt.skipped == "") != (in.Skipped == "") {
				t.Errorf("skipped %q, want %q", in.Skipped, tt.skipped)
			}
			if in.Attack == nil || in.Attack.Requests == 0 || in.Attack.Failures != 0 {
				t.Errorf("load %+v, want requests and no failure", in.Attack)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestAFailingBaselineTriggersNothing(t *testing.T) {
	c := cluster(t, "", deploy("web", 2, web), service("web", web))
	cfg := config(target(t, http.StatusServiceUnavailable))
	cfg.Action = rollout.Action{Kind: rollout.ActionRestart}
	in, err := Execute(context.Background(), Clients{Kube: c}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(in.Skipped, "already failed in the baseline") || in.Outcome.Triggered {
		t.Errorf("skipped %q, triggered %v: want the rollout not triggered", in.Skipped, in.Outcome.Triggered)
	}
	if ch := changes(c); len(ch) > 0 {
		t.Errorf("the cluster changed: %v", ch)
	}
}

// TestProblemsStopBeforeAnyChange: what a plan acts on is checked against
// the cluster before any load, and a mistake is a ConfigError (a missing
// permission an AccessError) with nothing changed.
func TestProblemsStopBeforeAnyChange(t *testing.T) {
	unreachable := "http://127.0.0.1:1/"
	sw := func(sel string) func(*Config) {
		return func(c *Config) {
			c.Deployment = ""
			k, v, _ := strings.Cut(sel, "=")
			c.Switch = &Switch{Service: "web", Selector: map[string]string{k: v}}
		}
	}
	restart := func(c *Config) { c.Action = rollout.Action{Kind: rollout.ActionRestart} }
	blueD, greenD := deploy("web-blue", 2, blue), deploy("web-green", 2, green)
	tests := []struct {
		name   string
		objs   []runtime.Object
		deny   string
		config func(*Config)
		access bool // an AccessError, not a ConfigError
		want   string
	}{
		{"a missing deployment", nil, "", restart, false, `"web"`},
		{"an unknown container lists the real ones", []runtime.Object{deploy("web", 1, web)}, "", func(c *Config) {
			c.Action = rollout.Action{Kind: rollout.ActionSetImage, Images: map[string]string{"nginx": "nginx:2"}}
		}, false, "app"},
		{"a set-image to the image already running", []runtime.Object{deploy("web", 1, web)}, "", func(c *Config) {
			c.Action = rollout.Action{Kind: rollout.ActionSetImage, Images: map[string]string{"app": "web:1"}}
		}, false, "set-image starts no rollout: container app already runs web:1"},
		{"a caller that may not patch", []runtime.Object{deploy("web", 1, web)}, "patch", restart, true, "cannot patch deployments.apps"},
		{"a missing service", []runtime.Object{blueD, greenD}, "", sw("color=green"), false, `"web" not found`},
		{"a service that already selects the target", []runtime.Object{blueD, greenD, service("web", blue)}, "", sw("color=blue"), false, "already selects app=web,color=blue"},
		{"no deployment on the other side", []runtime.Object{blueD, service("web", blue)}, "", sw("color=green"), false, "no deployment has pods that app=web,color=green selects"},
		{"two deployments on the other side", []runtime.Object{blueD, greenD, deploy("web-green-2", 2, green), service("web", blue)}, "", sw("color=green"), false, "web-green, web-green-2"},
		{"a deployment that is not the switch's target", []runtime.Object{blueD, greenD, service("web", blue)}, "", func(c *Config) {
			sw("color=green")(c)
			c.Deployment = "web-blue"
		}, false, "selects deployment/web-green, not deployment/web-blue"},
		{"a caller that may not patch the service", []runtime.Object{blueD, greenD, service("web", blue)}, "patch", sw("color=green"), true, `cannot patch services "web"`},
		{"a missing canary deployment", []runtime.Object{deploy("web", 3, web), service("web", web)}, "", func(c *Config) {
			c.Canary = &Canary{Deployment: "web-canary", Steps: []rollout.CanaryStep{{Stable: 3, Canary: 1}}}
		}, false, `"web-canary"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster(t, tt.deny, tt.objs...)
			cfg := config(unreachable)
			tt.config(&cfg)
			_, err := Execute(context.Background(), Clients{Kube: c}, cfg)
			var ce ConfigError
			var ae *rollout.AccessError
			switch {
			case err == nil:
				t.Fatal("no error")
			case tt.access && !errors.As(err, &ae):
				t.Errorf("error %v is no AccessError", err)
			case !tt.access && !errors.As(err, &ce):
				t.Errorf("error %v is no ConfigError", err)
			}
			if err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
			if ch := changes(c); len(ch) > 0 {
				t.Errorf("the cluster changed: %v", ch)
			}
		})
	}
}

// TestTheTriggerIsReportedAtOnce: the rollout phase is announced before the
// trigger, with the counts from before it; the step reports again right
// after the patch, with the rollout triggered, without waiting for the next
// tick (here never: ProgressEvery is longer than the run).
func TestTheTriggerIsReportedAtOnce(t *testing.T) {
	c := cluster(t, "", deploy("web", 2, web), service("web", web))
	cfg := config(target(t, http.StatusOK))
	cfg.Action = rollout.Action{Kind: rollout.ActionRestart}
	cfg.ProgressEvery = time.Hour
	all := recordProgress(&cfg)
	if _, err := Execute(context.Background(), Clients{Kube: c}, cfg); err != nil {
		t.Fatal(err)
	}
	var seen []Progress
	for _, p := range all() {
		if p.Phase == "rollout" {
			seen = append(seen, p)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("%d reports in the rollout phase, want the phase and the tick after the trigger: %+v", len(seen), seen)
	}
	if p := seen[0]; p.Kind != ProgressPhase || p.Rollout.Triggered {
		t.Errorf("first report %+v, want the phase, before the trigger", p)
	}
	if p := seen[1]; p.Kind != ProgressTick || !p.Rollout.Triggered || p.Rollout.Desired != 2 {
		t.Errorf("second report %+v, want a tick of the triggered rollout of 2", p)
	}
}

// recordProgress makes cfg keep every Progress the run sends; the returned
// function gives them, in order.
func recordProgress(cfg *Config) func() []Progress {
	var (
		mu   sync.Mutex
		seen []Progress
	)
	cfg.Progress = func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, p)
	}
	return func() []Progress {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}
