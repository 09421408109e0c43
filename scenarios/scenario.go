// Package scenarios parses and validates scenario files: the settings of one
// `rollcheck run` written down (targets, rate, rollout action, phases,
// thresholds), so a run can be repeated and reviewed. Unknown fields are
// errors, because a misspelt threshold silently ignored would pass a run that
// should fail.
package scenarios

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/rollcheck/rollcheck/attack"
)

// APIVersion is the only scenario version this release reads.
const APIVersion = "rollcheck/v1"

// Duration is a time.Duration written as a Go duration string ("10s").
type Duration struct{ time.Duration }

// UnmarshalJSON reads "10s"-style strings.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"10s\", got %s", string(b))
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", s, err)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Scenario is one rollcheck run. Pointer fields distinguish "not set" from a
// zero value so that flags and defaults can fill in what the file leaves out.
type Scenario struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind,omitempty"`
	Name       string     `json:"name,omitempty"`
	Namespace  string     `json:"namespace,omitempty"`
	Deployment string     `json:"deployment,omitempty"`
	Service    string     `json:"service,omitempty"`
	Action     Action     `json:"action,omitempty"`
	Load       Load       `json:"load,omitempty"`
	Phases     Phases     `json:"phases,omitempty"`
	Thresholds Thresholds `json:"thresholds,omitempty"`
}

// Action is how the rollout is started: exactly one of its fields.
type Action struct {
	Restart  bool              `json:"restart,omitempty"`
	SetImage map[string]string `json:"setImage,omitempty"` // container -> image
	// WatchOnly waits for a rollout someone else starts instead of starting one.
	WatchOnly bool `json:"watchOnly,omitempty"`
	// Apply is a Deployment manifest to apply server-side; a relative path
	// is relative to the scenario file.
	Apply string `json:"apply,omitempty"`
	// SwitchService is a blue/green switch of a Service's selector.
	SwitchService *SwitchService `json:"switchService,omitempty"`
	// Canary shifts replicas from the scenario's deployment to a canary.
	Canary *Canary `json:"canary,omitempty"`
	// CanaryWeights shifts an HTTPRoute's weights from the stable Service
	// (the scenario's service, or the route's other backendRef) to a
	// canary Service.
	CanaryWeights *CanaryWeights `json:"canaryWeights,omitempty"`
	// Drain is --drain NODE [--uncordon]: a node drain under the load.
	Drain *Drain `json:"drain,omitempty"`
	// Repeat rolls out this many times (restart only).
	Repeat *int `json:"repeat,omitempty"`
}

// Drain is --drain NODE [--uncordon].
type Drain struct {
	Node string `json:"node"`
	// Uncordon makes the node schedulable again after the run.
	Uncordon bool `json:"uncordon,omitempty"`
}

// SwitchService is --switch-service NAME --selector key=value.
type SwitchService struct {
	Name     string            `json:"name"`
	Selector map[string]string `json:"selector"`
}

// Canary is --canary DEPLOYMENT --canary-steps STEPS.
type Canary struct {
	Deployment string   `json:"deployment"`
	Steps      []string `json:"steps"` // "STABLE/CANARY", e.g. "3/1"
}

// CanaryWeights is --canary-route ROUTE --canary-service SERVICE
// --canary-weights STEPS [--canary DEPLOYMENT] [--canary-keep].
type CanaryWeights struct {
	Route   string   `json:"route"`
	Service string   `json:"service"`
	Steps   []string `json:"steps"` // "STABLE/CANARY" weights, e.g. "90/10"
	// Deployment, when given, is checked to be the Deployment Service
	// selects.
	Deployment string `json:"deployment,omitempty"`
	// Keep leaves the last step's weights on the route when every step ran.
	Keep bool `json:"keep,omitempty"`
}

// Load is the constant-rate load.
type Load struct {
	Targets   []string  `json:"targets,omitempty"`
	Method    string    `json:"method,omitempty"`
	Headers   []string  `json:"headers,omitempty"` // "Key: value"
	Body      string    `json:"body,omitempty"`
	Rate      string    `json:"rate,omitempty"` // "200/s"
	Timeout   *Duration `json:"timeout,omitempty"`
	KeepAlive *bool     `json:"keepalive,omitempty"`
	// Connections is --connections: reused, new or both.
	Connections string  `json:"connections,omitempty"`
	HTTP2       *bool   `json:"http2,omitempty"`
	PodHeader   *string `json:"podHeader,omitempty"`
	// TargetCA, TargetInsecure and TargetServerName are --target-ca
	// (a PEM file; a relative path is relative to the scenario file),
	// --target-insecure and --target-server-name.
	TargetCA         string `json:"targetCA,omitempty"`
	TargetInsecure   *bool  `json:"targetInsecure,omitempty"`
	TargetServerName string `json:"targetServerName,omitempty"`
	// Front is --front: alb, alb-instance, nlb, kube-proxy, ingress, gateway or auto.
	Front string `json:"front,omitempty"`
}

// Phases are the durations of the run's parts.
type Phases struct {
	Baseline       *Duration `json:"baseline,omitempty"`
	Settle         *Duration `json:"settle,omitempty"`
	RolloutTimeout *Duration `json:"rolloutTimeout,omitempty"`
	// StepHold is the load held after each canary step or repeated rollout.
	StepHold *Duration `json:"stepHold,omitempty"`
}

// Thresholds decide FAIL.
type Thresholds struct {
	MaxFailures     *int      `json:"maxFailures,omitempty"`
	MaxFailureRatio *float64  `json:"maxFailureRatio,omitempty"`
	MaxDisrupted    *Duration `json:"maxDisrupted,omitempty"`
	MinSuccessRatio *float64  `json:"minSuccessRatio,omitempty"`
}

// Load reads and validates a scenario file.
func LoadFile(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	if s.Action.Apply != "" && !filepath.IsAbs(s.Action.Apply) {
		s.Action.Apply = filepath.Join(filepath.Dir(path), s.Action.Apply)
	}
	if s.Load.TargetCA != "" && !filepath.IsAbs(s.Load.TargetCA) {
		s.Load.TargetCA = filepath.Join(filepath.Dir(path), s.Load.TargetCA)
	}
	return s, nil
}

// Parse reads a scenario from YAML or JSON. Unknown fields are errors.
func Parse(data []byte) (*Scenario, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty scenario")
	}
	var s Scenario
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, cleanYAMLError(err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// cleanYAMLError shortens sigs.k8s.io/yaml's wrapping so the message names
// the field.
func cleanYAMLError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error unmarshaling JSON: while decoding JSON: ")
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	return errors.New(msg)
}

// Validate checks what can be checked without the cluster or the flags.
func (s *Scenario) Validate() error {
	if s.APIVersion != APIVersion {
		return fmt.Errorf("apiVersion must be %q, got %q", APIVersion, s.APIVersion)
	}
	if s.Kind != "" && s.Kind != "Scenario" {
		return fmt.Errorf("kind must be \"Scenario\", got %q", s.Kind)
	}
	a := s.Action
	n := 0
	for _, set := range []bool{a.Restart, len(a.SetImage) > 0, a.WatchOnly, a.Apply != "", a.SwitchService != nil, a.Canary != nil, a.CanaryWeights != nil, a.Drain != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("action: restart, setImage, watchOnly, apply, switchService, canary, canaryWeights and drain are exclusive")
	}
	if c := a.CanaryWeights; c != nil && (c.Route == "" || c.Service == "" || len(c.Steps) == 0) {
		return errors.New("action.canaryWeights needs a route, the canary's service and steps")
	}
	if d := a.Drain; d != nil && d.Node == "" {
		return errors.New("action.drain needs the node's name")
	}
	if sw := a.SwitchService; sw != nil && (sw.Name == "" || len(sw.Selector) == 0) {
		return errors.New("action.switchService needs a name and a selector")
	}
	if c := a.Canary; c != nil && (c.Deployment == "" || len(c.Steps) == 0) {
		return errors.New("action.canary needs a deployment and steps")
	}
	if a.Repeat != nil && *a.Repeat < 1 {
		return fmt.Errorf("action.repeat must be 1 or more, got %d", *a.Repeat)
	}
	for c, img := range s.Action.SetImage {
		if c == "" || img == "" {
			return fmt.Errorf("action.setImage: container and image must not be empty (%q: %q)", c, img)
		}
	}
	if l := s.Load; l.Connections != "" {
		keepAlive := l.KeepAlive != nil && *l.KeepAlive
		if _, err := attack.ResolveConnections(l.Connections, keepAlive, l.KeepAlive != nil); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	if l := s.Load; l.TargetCA != "" && l.TargetInsecure != nil && *l.TargetInsecure {
		return errors.New("load: targetCA and targetInsecure are exclusive: one skips the check the other configures")
	}
	t := s.Thresholds
	if t.MaxFailures != nil && *t.MaxFailures < 0 {
		return fmt.Errorf("thresholds.maxFailures must be 0 or more, got %d", *t.MaxFailures)
	}
	for name, v := range map[string]*float64{"maxFailureRatio": t.MaxFailureRatio, "minSuccessRatio": t.MinSuccessRatio} {
		if v != nil && (*v < 0 || *v > 1) {
			return fmt.Errorf("thresholds.%s must be between 0 and 1, got %g", name, *v)
		}
	}
	return nil
}
