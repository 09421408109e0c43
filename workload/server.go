package workload

import (
	"path"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Server is a known server program whose graceful stop is not SIGTERM, the
// signal the kubelet sends by default: on SIGTERM it stops at once,
// cutting the requests in flight (seed 000; FACTS.md §9).
type Server struct {
	// Name is what reports call it: "nginx", "Apache httpd".
	Name string
	// Graceful is the signal that stops it gracefully: it finishes the
	// requests in flight and closes idle connections first.
	Graceful corev1.Signal
	// Quit is the command that asks it to stop gracefully, for a preStop
	// hook.
	Quit string
	// Doc is the server's own documentation of its signals.
	Doc string
	// quits finds, in a preStop command line, what asks the server to stop
	// gracefully.
	quits *regexp.Regexp
}

// knownServers are found by the last path element of the container's image
// (tag and digest cut off) or by the program its command runs.
var knownServers = []struct {
	images, programs []string
	server           Server
}{
	{
		images:   []string{"nginx", "nginx-unprivileged", "nginx-light"},
		programs: []string{"nginx"},
		server: Server{Name: "nginx", Graceful: corev1.SIGQUIT, Quit: "/usr/sbin/nginx -s quit",
			Doc:   "nginx.org/en/docs/control.html: TERM, INT fast shutdown; QUIT graceful shutdown",
			quits: quitRE(`nginx\s+(?:-\S+\s+)*-s\s*quit`, "QUIT|3")},
	},
	{
		images:   []string{"httpd"},
		programs: []string{"httpd", "apache2", "httpd-foreground", "apachectl", "apache2ctl"},
		server: Server{Name: "Apache httpd", Graceful: corev1.SIGWINCH, Quit: "apachectl -k graceful-stop",
			Doc:   "httpd.apache.org/docs/2.4/stopping.html: TERM stops now; WINCH is graceful-stop",
			quits: quitRE(`(?:apachectl|apache2ctl|httpd|apache2)\s+(?:-\S+\s+\S+\s+)*(?:-\S+\s+)*-k\s+graceful-stop`, "WINCH|28")},
	},
}

// ServerOf names the known server container c runs (nil: none known).
func ServerOf(c *corev1.Container) *Server {
	img := ImageName(c.Image)
	var prog string
	if len(c.Command) > 0 {
		prog = path.Base(c.Command[0])
	}
	for i := range knownServers {
		k := &knownServers[i]
		if containsFold(k.images, img) || prog != "" && containsFold(k.programs, prog) {
			s := k.server
			return &s
		}
	}
	return nil
}

// ImageName is the last path element of an image reference, without its
// tag or digest, in lower case: "nginx-unprivileged" for
// docker.io/nginxinc/nginx-unprivileged:1.27@sha256:0123.
func ImageName(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	ref, _, _ = strings.Cut(ref, "@")
	ref, _, _ = strings.Cut(ref, ":")
	return strings.ToLower(ref)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// quitRE matches the server's own graceful-stop command, or kill sending
// one of signals (kill -QUIT 1, kill -s QUIT 1, kill -3 1).
func quitRE(command, signals string) *regexp.Regexp {
	return regexp.MustCompile(`(?:^|[\s;&|(/])(?:` + command + `|kill\s+(?:-s\s*)?-?(?:SIG)?(?:` + signals + `)\b)`)
}

// StopsGracefully reports whether the container stops its known server
// gracefully: its lifecycle.stopSignal is the server's graceful signal, or
// its preStop hook asks the server to stop gracefully. A container that
// runs no known server is taken to stop gracefully on SIGTERM.
func StopsGracefully(c *corev1.Container, s *Server) bool {
	return s == nil || QuitsInPreStop(c, s) || StopSignalGraceful(c, s)
}

// QuitsInPreStop reports whether the container's preStop hook asks its
// known server to stop gracefully.
func QuitsInPreStop(c *corev1.Container, s *Server) bool {
	if s == nil || c.Lifecycle == nil {
		return false
	}
	if h := c.Lifecycle.PreStop; h != nil && h.Exec != nil {
		return s.quits.MatchString(strings.Join(h.Exec.Command, " "))
	}
	return false
}

// StopSignalGraceful reports whether the container's lifecycle.stopSignal
// is its known server's graceful signal. The field is alpha through
// Kubernetes 1.35 (KEP-4960, feature gate ContainerStopSignals, off by
// default): an API server without the gate drops it, and a kubelet
// without it, or a runtime that does not implement it, sends SIGTERM
// all the same. The kubelet reports the signal it stopped with in the
// container's status (status.containerStatuses[].stopSignal) only when
// both do.
func StopSignalGraceful(c *corev1.Container, s *Server) bool {
	return s != nil && c.Lifecycle != nil && c.Lifecycle.StopSignal != nil && *c.Lifecycle.StopSignal == s.Graceful
}

// knownProxies are proxies that run as sidecars, by the name their
// container or image goes by, and what to call them.
var knownProxies = []struct{ key, name string }{
	{"istio-proxy", "Istio's Envoy (istio-proxy)"},
	{"envoy", "Envoy"},
	{"linkerd-proxy", "linkerd-proxy"},
	{"cloud-sql-proxy", "the Cloud SQL Auth Proxy"},
	{"cloudsql-proxy", "the Cloud SQL Auth Proxy"},
	{"nginx", "nginx"},
	{"haproxy", "HAProxy"},
	{"traefik", "Traefik"},
}

// ProxyOf names the proxy c runs ("" when none is known): by the
// container's name, or by its image's last path element (tag and digest
// cut off), either equal to a proxy's key or starting with it and a dash
// ("nginx-unprivileged", "envoy-distroless"). A container named "proxy"
// whose image is no known proxy is one by its author's word.
func ProxyOf(c *corev1.Container) string {
	name := strings.ToLower(c.Name)
	for _, n := range []string{name, ImageName(c.Image)} {
		for _, p := range knownProxies {
			if n == p.key || strings.HasPrefix(n, p.key+"-") {
				return p.name
			}
		}
	}
	if name == "proxy" {
		return "a proxy (by its container's name)"
	}
	return ""
}
