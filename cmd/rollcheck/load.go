package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rollcheck/rollcheck/attack"
)

// LoadOptions are the load's settings, the same flags for `run` and
// `attack`.
type LoadOptions struct {
	Targets   []string
	Method    string
	Headers   []string
	Body      string
	Rate      string
	Timeout   time.Duration
	KeepAlive bool
	HTTP2     bool
	PodHeader string
	// Connections is --connections (new, reused, both; "": from
	// KeepAlive); keepAliveSet says --keepalive (or a scenario file's
	// keepalive) was given, so that the two must agree.
	Connections  string
	keepAliveSet bool
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
	fl.BoolVar(&l.HTTP2, "http2", false, "use HTTP/2 when the target offers it")
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
	for _, t := range l.Targets {
		u, err := attack.ParseTargetURL(t)
		if err != nil {
			return attack.Config{}, err
		}
		targets = append(targets, attack.Target{Method: strings.ToUpper(l.Method), URL: u.String(), Header: header, Body: []byte(l.Body)})
	}
	return attack.Config{
		Targets:     targets,
		Rate:        rate,
		Timeout:     l.Timeout,
		Connections: conns,
		HTTP2:       l.HTTP2,
		PodHeader:   l.PodHeader,
	}, nil
}
