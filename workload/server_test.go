package workload

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestServersThatStopAtOnceOnSIGTERM(t *testing.T) {
	quit := corev1.SIGQUIT
	term := corev1.SIGTERM
	hook := func(cmd ...string) *corev1.Lifecycle {
		return &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}}}
	}
	for _, tc := range []struct {
		name   string
		c      corev1.Container
		server string
		atOnce bool
		// bySignal: only lifecycle.stopSignal stops it gracefully
		bySignal bool
	}{
		{"the seed's nginx, no preStop", corev1.Container{Image: "nginx:1.15"}, "nginx", true, false},
		{"nginx by digest from a registry", corev1.Container{Image: "docker.io/library/nginx@sha256:0123"}, "nginx", true, false},
		{"nginx-unprivileged", corev1.Container{Image: "nginxinc/nginx-unprivileged:1.27"}, "nginx", true, false},
		{"the lab's Debian nginx", corev1.Container{Image: "rollcheck/nginx:1.22"}, "nginx", true, false},
		{"nginx by its command", corev1.Container{Image: "example.com/web:3", Command: []string{"/usr/sbin/nginx", "-g", "daemon off;"}}, "nginx", true, false},
		{"the seed's preStop", corev1.Container{Image: "nginx:1.15", Lifecycle: hook("/usr/sbin/nginx", "-s", "quit")}, "nginx", false, false},
		{"a sleep, then nginx -s quit", corev1.Container{Image: "nginx:1.15", Lifecycle: hook("sh", "-c", "sleep 5; nginx -s quit; while [ -e /run/nginx.pid ]; do sleep 1; done")}, "nginx", false, false},
		{"kill -QUIT 1", corev1.Container{Image: "nginx:1.15", Lifecycle: hook("sh", "-c", "sleep 5 && kill -QUIT 1")}, "nginx", false, false},
		{"a sleep alone still ends in SIGTERM", corev1.Container{Image: "nginx:1.15", Lifecycle: hook("sleep", "5")}, "nginx", true, false},
		{"stopSignal SIGQUIT", corev1.Container{Image: "nginx:1.15", Lifecycle: &corev1.Lifecycle{StopSignal: &quit}}, "nginx", false, true},
		{"stopSignal SIGQUIT and the seed's preStop", corev1.Container{Image: "nginx:1.15", Lifecycle: &corev1.Lifecycle{StopSignal: &quit, PreStop: hook("/usr/sbin/nginx", "-s", "quit").PreStop}}, "nginx", false, false},
		{"stopSignal SIGTERM", corev1.Container{Image: "nginx:1.15", Lifecycle: &corev1.Lifecycle{StopSignal: &term}}, "nginx", true, false},
		{"Apache's graceful-stop", corev1.Container{Image: "httpd:2.4", Lifecycle: hook("apachectl", "-k", "graceful-stop")}, "Apache httpd", false, false},
		{"the lab's Debian Apache, its binary's graceful-stop", corev1.Container{Image: "rollcheck/httpd:2.4", Lifecycle: hook("sh", "-c", "sleep 4; apache2 -k graceful-stop; sleep 5")}, "Apache httpd", false, false},
		{"the lab's Debian Apache with no preStop", corev1.Container{Image: "rollcheck/httpd:2.4"}, "Apache httpd", true, false},
		{"Apache killed with QUIT is not graceful", corev1.Container{Image: "httpd:2.4", Lifecycle: hook("sh", "-c", "kill -QUIT 1")}, "Apache httpd", true, false},
		{"the ingress-nginx controller is no nginx to stop", corev1.Container{Image: "registry.k8s.io/ingress-nginx/controller:v1.11.2"}, "", false, false},
		{"F5's nginx-ingress neither", corev1.Container{Image: "nginx/nginx-ingress:3.6.0"}, "", false, false},
		{"the demo app", corev1.Container{Image: "rollcheck/demo-app:v1"}, "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := readContainer(&tc.c)
			name := ""
			if c.Server != nil {
				name = c.Server.Name
			}
			if name != tc.server || c.StopsAtOnce != tc.atOnce || c.BySignal != tc.bySignal {
				t.Errorf("server %q, stops at once %t, by its stop signal alone %t; want %q, %t, %t", name, c.StopsAtOnce, c.BySignal, tc.server, tc.atOnce, tc.bySignal)
			}
		})
	}
}
