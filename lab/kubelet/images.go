package kubelet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
	"sigs.k8s.io/yaml"
)

// ImageRule maps an image pattern to an argv prefix. The process argv is
// Command + container.command + container.args: the image's "entrypoint" is
// the prefix, and a container command is passed to it as further arguments.
type ImageRule struct {
	// Image is an exact image, a path.Match pattern, or "repo:*" which
	// matches the repository with any tag or digest (or none).
	Image string `json:"image"`
	// Command is the argv prefix.
	Command []string `json:"command"`
	// PortFlags names flags (e.g. "--http-port") whose numeric values are
	// container ports; they are rewritten to the mapped loopback port.
	PortFlags []string `json:"portFlags,omitempty"`

	// fixArgs adjusts args after port rewriting (built-in rules only).
	fixArgs func(args []string, ports map[int32]int) []string
}

// ImageMap resolves images to local commands. Rules added later (from a
// file) win over earlier ones.
type ImageMap struct {
	rules []ImageRule
}

// DefaultImageMap maps the demo app to `self app` (DemoAppRule puts its
// own binary in its place), agnhost to the agnhost binary and rollcheck's
// own image (what attacker pods run) to the rollcheck binary, both built
// next to rollcheck-lab.
func DefaultImageMap(self, agnhost, rollcheck string) *ImageMap {
	return &ImageMap{rules: []ImageRule{
		demoAppRule([]string{self, "app"}),
		{Image: "rollcheck/rollcheck:*", Command: []string{rollcheck}, fixArgs: fixRollcheckArgs},
		{
			Image:     "registry.k8s.io/e2e-test-images/agnhost:*",
			Command:   []string{agnhost},
			PortFlags: []string{"--http-port", "--udp-port"},
			fixArgs:   fixAgnhostArgs,
		},
	}}
}

// DemoAppRule maps the demo app to its own static binary, dir/demo-app
// (make lab), when it is there: the binary of the demo app's image on the
// real node. It listens tens of milliseconds after its start, where
// `rollcheck-lab app` first runs the init of every Kubernetes package that
// binary links (0.3-0.7 s on a loaded 2-core machine, seconds when four
// pods start at once): new pods without a readiness probe would fail
// requests for longer than the app's real image makes them.
func DemoAppRule(dir string) (ImageRule, bool) {
	bin := filepath.Join(dir, "demo-app")
	if fi, err := os.Stat(bin); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return ImageRule{}, false
	}
	return demoAppRule([]string{bin}), true
}

// demoAppRule runs the demo app with command (fixDemoAppArgs: its --port
// and --upstream on the pod's loopback mappings).
func demoAppRule(command []string) ImageRule {
	return ImageRule{Image: "rollcheck/demo-app:*", Command: command, fixArgs: fixDemoAppArgs}
}

// fixAgnhostArgs keeps netexec on the pod's loopback ports: without flags it
// would bind the fixed ports 8080 (HTTP) and 8081 (UDP) on all interfaces,
// which collides as soon as two pods run.
func fixAgnhostArgs(args []string, ports map[int32]int) []string {
	if len(args) == 0 || args[0] != "netexec" {
		return args
	}
	has := func(flag string) bool {
		for _, a := range args {
			if a == flag || strings.HasPrefix(a, flag+"=") {
				return true
			}
		}
		return false
	}
	if !has("--http-port") {
		if p, ok := ports[8080]; ok {
			args = append(args, "--http-port="+strconv.Itoa(p))
		}
	}
	if !has("--udp-port") {
		args = append(args, "--udp-port=-1")
	}
	return args
}

// fixRollcheckArgs keeps an attacker's clock server on loopback: a pod is a
// host process here, and `--clock-listen :9090` would listen on every
// interface of the host. The port becomes the container port's loopback
// mapping when it has one.
func fixRollcheckArgs(args []string, ports map[int32]int) []string {
	return mapFlagValues(args, []string{"--clock-listen"}, loopbackAddr(ports))
}

// fixDemoAppArgs puts the demo app's --port, when it names a declared
// container port, on that port's loopback mapping (an undeclared one is a
// host port a test chose, kept as it is), and points its --upstream (the
// app as a proxy sidecar: another container of the pod, on
// 127.0.0.1:PORT) at that container port's mapping.
func fixDemoAppArgs(args []string, ports map[int32]int) []string {
	args = mapFlagValues(args, []string{"--port"}, func(v string) string {
		if n, err := strconv.Atoi(v); err == nil {
			if p, ok := ports[int32(n)]; ok {
				return strconv.Itoa(p)
			}
		}
		return v
	})
	return mapFlagValues(args, []string{"--upstream"}, loopbackAddr(ports))
}

// loopbackAddr maps HOST:PORT to 127.0.0.1 and the port's loopback mapping
// when it has one.
func loopbackAddr(ports map[int32]int) func(string) string {
	return func(v string) string {
		_, port, err := net.SplitHostPort(v)
		if err != nil {
			return v // the program refuses it with its own message
		}
		if n, err := strconv.Atoi(port); err == nil {
			if p, ok := ports[int32(n)]; ok {
				port = strconv.Itoa(p)
			}
		}
		return net.JoinHostPort("127.0.0.1", port)
	}
}

// Add appends a rule that wins over the existing ones.
func (m *ImageMap) Add(r ImageRule) { m.rules = append(m.rules, r) }

// LoadFile adds the rules of a YAML or JSON file holding a list of
// {image, command, portFlags}.
func (m *ImageMap) LoadFile(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read image map: %w", err)
	}
	var rules []ImageRule
	if err := yaml.UnmarshalStrict(data, &rules); err != nil {
		return fmt.Errorf("parse image map %s: %w", file, err)
	}
	for i, r := range rules {
		if r.Image == "" || len(r.Command) == 0 {
			return fmt.Errorf("image map %s: entry %d needs image and command", file, i)
		}
		m.Add(r)
	}
	return nil
}

// Lookup returns the rule for image.
func (m *ImageMap) Lookup(image string) (ImageRule, bool) {
	for i := len(m.rules) - 1; i >= 0; i-- {
		if imageMatches(m.rules[i].Image, image) {
			return m.rules[i], true
		}
	}
	return ImageRule{}, false
}

func imageMatches(pattern, image string) bool {
	pattern, image = normalizeImage(pattern), normalizeImage(image)
	if repo, ok := strings.CutSuffix(pattern, ":*"); ok {
		return imageRepo(image) == repo
	}
	if pattern == image {
		return true
	}
	ok, _ := path.Match(pattern, image)
	return ok
}

// normalizeImage drops the docker.io defaults so "nginx" and
// "docker.io/library/nginx" match the same rule.
func normalizeImage(s string) string {
	s = strings.TrimPrefix(s, "docker.io/")
	s = strings.TrimPrefix(s, "library/")
	return s
}

// imageRepo strips the tag and digest.
func imageRepo(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		image = image[:i]
	}
	return image
}

// rewritePortFlags replaces the value of each named flag ("--f=N" or "--f N")
// by its mapped loopback port.
func rewritePortFlags(args, flags []string, ports map[int32]int) []string {
	if len(flags) == 0 {
		return args
	}
	mapped := func(v string) string {
		n, err := strconv.Atoi(v)
		if err != nil {
			return v
		}
		if p, ok := ports[int32(n)]; ok {
			return strconv.Itoa(p)
		}
		return v
	}
	return mapFlagValues(args, flags, mapped)
}

// mapFlagValues returns a copy of args with the value of each named flag
// ("--f=V" or "--f V") replaced by fn(V).
func mapFlagValues(args, flags []string, fn func(string) string) []string {
	out := append([]string(nil), args...)
	for i := 0; i < len(out); i++ {
		for _, f := range flags {
			if v, ok := strings.CutPrefix(out[i], f+"="); ok {
				out[i] = f + "=" + fn(v)
			} else if out[i] == f && i+1 < len(out) {
				out[i+1] = fn(out[i+1])
				i++
			}
		}
	}
	return out
}

// portFlagPorts returns the numeric values of the named flags, so they get a
// loopback port even when not declared as container ports.
func portFlagPorts(args, flags []string) []int32 {
	var ports []int32
	for i, a := range args {
		for _, f := range flags {
			v, ok := strings.CutPrefix(a, f+"=")
			if !ok && a == f && i+1 < len(args) {
				v, ok = args[i+1], true
			}
			if n, err := strconv.Atoi(v); ok && err == nil && n > 0 && n < 65536 {
				ports = append(ports, int32(n))
			}
		}
	}
	return ports
}

var errNoImage = errors.New("no local command for image")

// command resolves the process argv: rule prefix + command + args, after
// $(VAR) expansion and port-flag rewriting.
func (w *podWorker) command(spec *v1.Container, vars map[string]string) ([]string, error) {
	rule, ok := w.k.cfg.Images.Lookup(spec.Image)
	if !ok {
		return nil, fmt.Errorf("%w %q (add it with --image-map)", errNoImage, spec.Image)
	}
	mapping := expansion.MappingFuncFor(vars)
	var args []string
	for _, a := range append(append([]string(nil), spec.Command...), spec.Args...) {
		args = append(args, expansion.Expand(a, mapping))
	}
	w.mu.Lock()
	ports := w.ports
	w.mu.Unlock()
	args = rewritePortFlags(args, rule.PortFlags, ports)
	if rule.fixArgs != nil {
		args = rule.fixArgs(args, ports)
	}
	return append(append([]string(nil), rule.Command...), args...), nil
}
