package rollout

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// ParseImages parses "CONTAINER=IMAGE" pairs, as in `kubectl set image`, into
// a map from container name to image. A container named twice is an error,
// since only one of the images could win.
func ParseImages(specs []string) (map[string]string, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("no CONTAINER=IMAGE given: %w", ErrInvalid)
	}
	images := make(map[string]string, len(specs))
	for _, s := range specs {
		name, image, ok := strings.Cut(s, "=")
		name, image = strings.TrimSpace(name), strings.TrimSpace(image)
		if !ok || name == "" || image == "" {
			return nil, fmt.Errorf("image %q: want CONTAINER=IMAGE: %w", s, ErrInvalid)
		}
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			return nil, fmt.Errorf("image %q: container name %q: %s: %w", s, name, strings.Join(errs, "; "), ErrInvalid)
		}
		if strings.ContainsAny(image, " \t\n") {
			return nil, fmt.Errorf("image %q: image %q contains whitespace: %w", s, image, ErrInvalid)
		}
		if _, dup := images[name]; dup {
			return nil, fmt.Errorf("image %q: container %q given twice: %w", s, name, ErrInvalid)
		}
		images[name] = image
	}
	return images, nil
}

// ParseDeploymentName accepts "NAME", "deployment/NAME", "deployments/NAME",
// "deploy/NAME" (also with the ".apps" group suffix, as kubectl prints them)
// and returns NAME.
func ParseDeploymentName(s string) (string, error) {
	name := s
	if kind, rest, ok := strings.Cut(s, "/"); ok {
		switch strings.ToLower(kind) {
		case "deployment", "deployments", "deploy",
			"deployment.apps", "deployments.apps", "deploy.apps":
			name = rest
		default:
			return "", fmt.Errorf("deployment %q: kind %q is not a Deployment: %w", s, kind, ErrInvalid)
		}
	}
	if name == "" {
		return "", fmt.Errorf("deployment %q: empty name: %w", s, ErrInvalid)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", fmt.Errorf("deployment %q: %s: %w", s, strings.Join(errs, "; "), ErrInvalid)
	}
	return name, nil
}

// ParseRouteName reads NAME, httproute/NAME or httproutes/NAME (the
// forms kubectl takes, with the group spelled out too) into the
// HTTPRoute's name.
func ParseRouteName(s string) (string, error) {
	name := s
	if kind, n, ok := strings.Cut(s, "/"); ok {
		switch strings.ToLower(kind) {
		case "httproute", "httproutes", "httproute.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io":
			name = n
		default:
			return "", fmt.Errorf("route %q: want NAME or httproute/NAME: %w", s, ErrInvalid)
		}
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", fmt.Errorf("route %q: %s: %w", s, strings.Join(errs, "; "), ErrInvalid)
	}
	return name, nil
}

// CanaryStep is one step of --canary-steps: the replicas of the stable and
// of the canary Deployment.
type CanaryStep struct {
	Stable, Canary int32
}

func (s CanaryStep) String() string { return fmt.Sprintf("%d/%d", s.Stable, s.Canary) }

// ParseCanarySteps parses "STABLE/CANARY,..." such as "3/1,2/2,1/3,0/4", the
// manual canary of seed 001. Every step must keep at least one replica.
func ParseCanarySteps(s string) ([]CanaryStep, error) {
	pairs, err := parsePairs(s, pairWords{what: "canary step", want: "STABLE/CANARY replicas, such as 3/1", unit: "replicas", none: "no replica left to serve"})
	if err != nil {
		return nil, err
	}
	steps := make([]CanaryStep, len(pairs))
	for i, p := range pairs {
		steps[i] = CanaryStep{Stable: p[0], Canary: p[1]}
	}
	return steps, nil
}

// pairWords are the words of parsePairs' errors.
type pairWords struct{ what, want, unit, none string }

// parsePairs parses "A/B,..." into pairs of whole numbers 0 or more, not
// both 0, that fit an int32.
func parsePairs(s string, w pairWords) ([][2]int32, error) {
	var out [][2]int32
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		a, b, ok := strings.Cut(part, "/")
		if !ok {
			return nil, fmt.Errorf("%s %q: want %s: %w", w.what, part, w.want, ErrInvalid)
		}
		x, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 32)
		y, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
		if err1 != nil || err2 != nil || x < 0 || y < 0 {
			return nil, fmt.Errorf("%s %q: %s must be whole numbers 0 or more: %w", w.what, part, w.unit, ErrInvalid)
		}
		if x+y == 0 {
			return nil, fmt.Errorf("%s %q: %s: %w", w.what, part, w.none, ErrInvalid)
		}
		out = append(out, [2]int32{int32(x), int32(y)})
	}
	return out, nil
}
