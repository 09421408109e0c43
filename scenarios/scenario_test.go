package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, s *Scenario)
	}{
		{
			name: "a full scenario is read with its durations and thresholds",
			yaml: `apiVersion: rollcheck/v1
kind: Scenario
deployment: web
action: {restart: true}
load: {targets: ["http://127.0.0.1:8080/"], rate: 100/s, timeout: 2s, podHeader: X-Pod-Name}
phases: {baseline: 5s, settle: 3s}
thresholds: {maxFailures: 2, maxFailureRatio: 0.01}
`,
			check: func(t *testing.T, s *Scenario) {
				if s.Deployment != "web" || !s.Action.Restart || s.Load.Rate != "100/s" {
					t.Errorf("got %+v", s)
				}
				if s.Load.Timeout.Duration != 2*time.Second || s.Phases.Baseline.Duration != 5*time.Second {
					t.Errorf("durations: %v %v", s.Load.Timeout, s.Phases.Baseline)
				}
				if *s.Thresholds.MaxFailures != 2 || *s.Thresholds.MaxFailureRatio != 0.01 {
					t.Errorf("thresholds: %+v", s.Thresholds)
				}
			},
		},
		{name: "an unknown field is an error naming it", yaml: "apiVersion: rollcheck/v1\ndeployment: web\nmaxFailure: 3\n", wantErr: `unknown field "maxFailure"`},
		{name: "an unknown nested field is an error naming it", yaml: "apiVersion: rollcheck/v1\nload: {rates: 5/s}\n", wantErr: `unknown field "rates"`},
		{name: "a wrong apiVersion is refused", yaml: "apiVersion: v2\n", wantErr: `apiVersion must be "rollcheck/v1"`},
		{name: "a bad duration is refused", yaml: "apiVersion: rollcheck/v1\nphases: {baseline: ten}\n", wantErr: `invalid duration "ten"`},
		{name: "a negative duration is refused", yaml: "apiVersion: rollcheck/v1\nphases: {settle: -1s}\n", wantErr: "must not be negative"},
		{name: "restart and setImage together are refused", yaml: "apiVersion: rollcheck/v1\naction: {restart: true, setImage: {app: x:1}}\n", wantErr: "exclusive"},
		{name: "a ratio above one is refused", yaml: "apiVersion: rollcheck/v1\nthresholds: {minSuccessRatio: 2}\n", wantErr: "between 0 and 1"},
		{name: "an empty file is refused", yaml: "  \n", wantErr: "empty scenario"},
		{
			name: "load.connections is read",
			yaml: "apiVersion: rollcheck/v1\nload: {connections: both}\n",
			check: func(t *testing.T, s *Scenario) {
				if s.Load.Connections != "both" {
					t.Errorf("connections %q", s.Load.Connections)
				}
			},
		},
		{name: "an unknown load.connections is refused", yaml: "apiVersion: rollcheck/v1\nload: {connections: kept}\n", wantErr: `load: connections "kept": want new, reused or both`},
		{name: "keepalive false with connections both is refused", yaml: "apiVersion: rollcheck/v1\nload: {keepalive: false, connections: both}\n", wantErr: "keepalive false means connections new; it conflicts with connections both"},
		{
			name: "keepalive false with connections new agrees",
			yaml: "apiVersion: rollcheck/v1\nload: {keepalive: false, connections: new}\n",
			check: func(t *testing.T, s *Scenario) {
				if s.Load.Connections != "new" || s.Load.KeepAlive == nil || *s.Load.KeepAlive {
					t.Errorf("load %+v", s.Load)
				}
			},
		},
		{
			name: "strategies are read: canary steps with their hold",
			yaml: "apiVersion: rollcheck/v1\ndeployment: web\naction: {canary: {deployment: web-canary, steps: [3/1, 0/4]}}\nphases: {stepHold: 7s}\n",
			check: func(t *testing.T, s *Scenario) {
				if c := s.Action.Canary; c == nil || c.Deployment != "web-canary" || strings.Join(c.Steps, ",") != "3/1,0/4" || s.Phases.StepHold.Duration != 7*time.Second {
					t.Errorf("got %+v %+v", s.Action.Canary, s.Phases)
				}
			},
		},
		{
			name: "strategies are read: canary weights on a route",
			yaml: "apiVersion: rollcheck/v1\nservice: web\naction: {canaryWeights: {route: web, service: web-canary, steps: [90/10, 0/100], keep: true}}\n",
			check: func(t *testing.T, s *Scenario) {
				c := s.Action.CanaryWeights
				if c == nil || c.Route != "web" || c.Service != "web-canary" || strings.Join(c.Steps, ",") != "90/10,0/100" || !c.Keep || s.Service != "web" {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "strategies are read: a node drain",
			yaml: "apiVersion: rollcheck/v1\ndeployment: web\naction: {drain: {node: node-2, uncordon: true}}\n",
			check: func(t *testing.T, s *Scenario) {
				if d := s.Action.Drain; d == nil || d.Node != "node-2" || !d.Uncordon {
					t.Errorf("got %+v", s.Action.Drain)
				}
			},
		},
		{
			name: "strategies are read: a blue/green switch",
			yaml: "apiVersion: rollcheck/v1\naction: {switchService: {name: web, selector: {color: green}}}\n",
			check: func(t *testing.T, s *Scenario) {
				if sw := s.Action.SwitchService; sw == nil || sw.Name != "web" || sw.Selector["color"] != "green" {
					t.Errorf("got %+v", s.Action.SwitchService)
				}
			},
		},
		{
			name: "the targets' TLS settings are read",
			yaml: "apiVersion: rollcheck/v1\nload: {targetCA: ca.pem, targetServerName: web.example.internal}\n",
			check: func(t *testing.T, s *Scenario) {
				if s.Load.TargetCA != "ca.pem" || s.Load.TargetServerName != "web.example.internal" || s.Load.TargetInsecure != nil {
					t.Errorf("load %+v", s.Load)
				}
			},
		},
		{name: "a target CA and insecure are refused together", yaml: "apiVersion: rollcheck/v1\nload: {targetCA: ca.pem, targetInsecure: true}\n", wantErr: "exclusive"},
		{name: "a drain without a node is refused", yaml: "apiVersion: rollcheck/v1\naction: {drain: {uncordon: true}}\n", wantErr: "action.drain needs the node's name"},
		{name: "a drain and a restart are refused together", yaml: "apiVersion: rollcheck/v1\naction: {restart: true, drain: {node: n}}\n", wantErr: "exclusive"},
		{name: "two strategies are refused", yaml: "apiVersion: rollcheck/v1\naction: {restart: true, apply: web.yaml}\n", wantErr: "exclusive"},
		{name: "a switch without selector is refused", yaml: "apiVersion: rollcheck/v1\naction: {switchService: {name: web}}\n", wantErr: "needs a name and a selector"},
		{name: "a canary without steps is refused", yaml: "apiVersion: rollcheck/v1\naction: {canary: {deployment: c}}\n", wantErr: "needs a deployment and steps"},
		{name: "canary weights without the canary's service are refused", yaml: "apiVersion: rollcheck/v1\naction: {canaryWeights: {route: web, steps: [90/10]}}\n", wantErr: "needs a route, the canary's service and steps"},
		{name: "canary weights and canary steps are refused together", yaml: "apiVersion: rollcheck/v1\naction: {canary: {deployment: c, steps: [1/1]}, canaryWeights: {route: web, service: c, steps: [90/10]}}\n", wantErr: "exclusive"},
		{name: "a repeat of zero is refused", yaml: "apiVersion: rollcheck/v1\naction: {restart: true, repeat: 0}\n", wantErr: "repeat must be 1 or more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestTargetCAIsRelativeToTheScenarioFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "web.scenario.yaml")
	if err := os.WriteFile(f, []byte("apiVersion: rollcheck/v1\nload: {targetCA: certs/ca.pem}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "certs", "ca.pem"); s.Load.TargetCA != want {
		t.Errorf("targetCA = %q, want %q", s.Load.TargetCA, want)
	}
}

func TestShippedScenariosParse(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "apiVersion: rollcheck/v1") {
			continue // a Kubernetes manifest, not a scenario
		}
		n++
		s, err := LoadFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if s.Action.Apply != "" {
			if _, err := os.Stat(s.Action.Apply); err != nil {
				t.Errorf("%s: the manifest to apply: %v", f, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no scenario file shipped in scenarios/")
	}
}
