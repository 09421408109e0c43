package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rollcheck/rollcheck/attack"
)

// LoadOptions are the load's settings, the same flags for `run` and
// `attack`.
type LoadOptions struct {
	Targets    []string
	Method     string
	Headers    []string
	Body       string
	Rate       string
	Timeout    time.Duration
	KeepAlive  bool
	HTTP2      bool
	PodHeader  string
	NodeHeader string
	EntryNode  string
	// Connections is --connections (new, reused, both; "": from
	// KeepAlive); keepAliveSet says --keepalive (or a scenario file's
	// keepalive) was given, so that the two must agree.
	Connections  string
	keepAliveSet bool
	// TargetCA, TargetInsecure and TargetServerName are how https
	// targets' certificates are checked: the target's, never the API
	// server's (kubectl's --certificate-authority, --insecure-skip-tls-verify
	// and --tls-server-name). targetCAData, when set, is the CA bundle
	// itself (an attacker pod gets it through its environment) and
	// TargetCA is not read.
	TargetCA         string
	TargetInsecure   bool
	TargetServerName string
	targetCAData     []byte
}

func defaultLoadOptions() LoadOptions {
	return LoadOptions{Method: http.MethodGet, Rate: "50/s", Timeout: 5 * time.Second, KeepAlive: true}
}

// addFlags registers the load's flags on fl, with l's values as defaults.
func (l *LoadOptions) addFlags(fl *pflag.FlagSet) {
	fl.StringArrayVar(&l.Targets, "target", nil, "URL to load (repeatable; used round robin)")
	fl.StringVar(&l.Method, "method", l.Method, "HTTP method")
	fl.StringArrayVarP(&l.Headers, "header", "H", nil, "request header \"Key: value\" (repeatable)")
	fl.StringVar(&l.Body, "body", "", "request body")
	fl.StringVar(&l.Rate, "rate", l.Rate, "constant request rate, as N/s, N/100ms or N/1m")
	fl.DurationVar(&l.Timeout, "timeout", l.Timeout, "timeout of each request")
	fl.BoolVar(&l.KeepAlive, "keepalive", l.KeepAlive, "reuse connections (keep-alive); --keepalive=false is --connections new")
	fl.StringVar(&l.Connections, "connections", "", "how the load uses connections: reused (keep-alive, the default), new (a new connection for every request) or both (the two side by side, each at half of --rate; the report splits failures by connection kind)")
	fl.BoolVar(&l.HTTP2, "http2", false, "use HTTP/2: agreed by ALPN on https:// targets, h2c (cleartext, prior knowledge) on http:// ones")
	fl.StringVar(&l.TargetCA, "target-ca", "", "PEM `FILE` (a bundle) of the CAs that sign the https targets' certificates, trusted in place of the system's roots (the targets', not the API server's: that is --certificate-authority)")
	fl.BoolVar(&l.TargetInsecure, "target-insecure", false, "do not verify the https targets' certificates at all; a warning and the report say so (the targets', not the API server's: that is --insecure-skip-tls-verify)")
	fl.StringVar(&l.TargetServerName, "target-server-name", "", "`NAME` sent as SNI to the https targets and that their certificates must be valid for, when it is not the URL's host (an ingress host behind an address; the Host header is -H \"Host: NAME\"; the API server's is --tls-server-name)")
	fl.StringVar(&l.NodeHeader, "node-header", "", "response header that names the node a request entered the cluster through (a front in instance mode that says so; the lab's balancer sends X-Lab-Node with --name-pods), to tie failures to a node's kube-proxy; local load only")
	fl.StringVar(&l.EntryNode, "entry-node", "", "the node every request enters the cluster through (a target at that node's NodePort, or a forwarder into its kube-proxy), to tie failures to that node's kube-proxy; excludes --node-header; local load only")
	fl.StringVar(&l.PodHeader, "pod-header", "", "response header that names the serving pod (e.g. X-Pod-Name), to attribute responses to pods; a comma-separated list tries each in order (e.g. X-Pod-Name,X-Lab-Target: the app's, then the lab load balancer's, which it sends only with --name-pods, as no real load balancer names pods)")
}

// attackConfig parses the load's settings into the attack's configuration
// (targets, rate, timeout, connections, pod header); the caller checks that
// there is a target and sets the rest.
func (l *LoadOptions) attackConfig() (attack.Config, error) {
	rate, err := attack.ParseRate(l.Rate)
	if err != nil {
		return attack.Config{}, err
	}
	if l.Timeout < 0 {
		return attack.Config{}, fmt.Errorf("--timeout must not be negative, got %s", l.Timeout)
	}
	if l.Connections != "" {
		if _, err := attack.ParseConnections(l.Connections); err != nil {
			return attack.Config{}, fmt.Errorf("--%w", err)
		}
	}
	conns, err := attack.ResolveConnections(l.Connections, l.KeepAlive, l.keepAliveSet)
	if err != nil {
		return attack.Config{}, fmt.Errorf("--keepalive and --connections disagree: %w", err)
	}
	header := http.Header{}
	for _, h := range l.Headers {
		k, v, err := attack.ParseHeader(h)
		if err != nil {
			return attack.Config{}, err
		}
		header.Add(k, v)
	}
	var targets []attack.Target
	https := false
	for _, t := range l.Targets {
		u, err := attack.ParseTargetURL(t)
		if err != nil {
			return attack.Config{}, err
		}
		https = https || u.Scheme == "https"
		targets = append(targets, attack.Target{Method: strings.ToUpper(l.Method), URL: u.String(), Header: header, Body: []byte(l.Body)})
	}
	tlsCfg, err := l.targetTLS(https)
	if err != nil {
		return attack.Config{}, err
	}
	return attack.Config{
		TLS:         tlsCfg,
		Targets:     targets,
		Rate:        rate,
		Timeout:     l.Timeout,
		Connections: conns,
		HTTP2:       l.HTTP2,
		PodHeader:   l.PodHeader,
		NodeHeader:  l.NodeHeader,
		EntryNode:   l.EntryNode,
	}, nil
}

// targetTLS reads the targets' TLS settings; a CA file that cannot be read
// or holds no certificate is an error here, before anything runs.
func (l *LoadOptions) targetTLS(https bool) (attack.TLS, error) {
	t := attack.TLS{CA: l.targetCAData, ServerName: l.TargetServerName, Insecure: l.TargetInsecure}
	if !t.Set() && l.TargetCA == "" {
		return t, nil
	}
	if !https {
		return attack.TLS{}, errors.New("--target-ca, --target-insecure and --target-server-name are for https targets, and no target is https://")
	}
	if l.TargetInsecure && (l.TargetCA != "" || len(l.targetCAData) > 0) {
		return attack.TLS{}, errors.New("--target-insecure and --target-ca are exclusive: one skips the check the other configures")
	}
	if strings.ContainsAny(l.TargetServerName, "/: ") {
		return attack.TLS{}, fmt.Errorf("--target-server-name %q: want a host name, without scheme, port or path", l.TargetServerName)
	}
	if l.TargetCA != "" && len(l.targetCAData) == 0 {
		data, err := os.ReadFile(l.TargetCA)
		if err != nil {
			return attack.TLS{}, fmt.Errorf("--target-ca: %w", err)
		}
		t.CA = data
	}
	if len(t.CA) > 0 {
		if _, err := attack.ParseCA(t.CA); err != nil {
			return attack.TLS{}, fmt.Errorf("--target-ca %s: %w", l.TargetCA, err)
		}
	}
	return t, nil
}

// insecureWarning is printed on stderr when a load starts with
// --target-insecure; the report says it too.
const insecureWarning = "--target-insecure: the https targets' certificates are not verified; any server answering at their addresses counts"
