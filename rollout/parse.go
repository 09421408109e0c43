package rollout

import (
	"fmt"
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
