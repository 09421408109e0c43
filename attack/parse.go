package attack

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ParseRate parses a rate as vegeta's -rate flag writes it: "200/s", "200"
// (per second), "50/100ms", "1000/1m". A bare unit after the slash means one of
// it. The rate must be positive and at most one request per nanosecond, the
// finest interval vegeta's constant pacer can keep.
func ParseRate(s string) (Rate, error) {
	freqText, perText, hasPer := strings.Cut(strings.TrimSpace(s), "/")
	freq, err := strconv.Atoi(strings.TrimSpace(freqText))
	if err != nil {
		return Rate{}, fmt.Errorf("rate %q: want N, N/s or N/<duration> such as 50/100ms", s)
	}
	if freq <= 0 {
		return Rate{}, fmt.Errorf("rate %q: the number of requests must be positive", s)
	}
	per := time.Second
	if hasPer {
		perText = strings.TrimSpace(perText)
		if perText != "" && (perText[0] < '0' || perText[0] > '9') && perText[0] != '.' {
			perText = "1" + perText // "s" means "1s"
		}
		per, err = time.ParseDuration(perText)
		if err != nil {
			return Rate{}, fmt.Errorf("rate %q: bad period after '/': %w", s, err)
		}
		if per <= 0 {
			return Rate{}, fmt.Errorf("rate %q: the period must be positive", s)
		}
	}
	if per.Nanoseconds()/int64(freq) < 1 {
		return Rate{}, fmt.Errorf("rate %q: more than one request per nanosecond", s)
	}
	return Rate{Freq: freq, Per: per}, nil
}

// ParseHeader parses a request header written as curl and vegeta take it,
// "Key: Value" or "Key:Value". The value may be empty; the key may not.
func ParseHeader(s string) (key, value string, err error) {
	k, v, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", fmt.Errorf("header %q: want \"Key: Value\"", s)
	}
	k = strings.TrimSpace(k)
	if k == "" {
		return "", "", fmt.Errorf("header %q: empty name", s)
	}
	if !isToken(k) {
		return "", "", fmt.Errorf("header %q: name %q has characters not allowed in a header name", s, k)
	}
	v = strings.TrimSpace(v)
	if strings.ContainsAny(v, "\r\n\x00") {
		return "", "", fmt.Errorf("header %q: value contains a line break or NUL", s)
	}
	// net/http refuses to send any other control byte but tab
	// (httpguts.ValidHeaderFieldValue): every request would fail.
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return "", "", fmt.Errorf("header %q: value contains control character %#x", s, c)
		}
	}
	return k, v, nil
}

// ParseTargetURL parses a target URL; only absolute http and https URLs with a
// host are accepted, since the load goes over the network.
func ParseTargetURL(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		// "host:8080" would otherwise parse as scheme "host".
		return nil, fmt.Errorf("target URL %q: no scheme, want http:// or https://", s)
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("target URL %q: %w", s, err)
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return nil, fmt.Errorf("target URL %q: scheme %q not supported, want http or https", s, u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("target URL %q: no host, want e.g. %s://127.0.0.1:8080/", s, u.Scheme)
	}
	return u, nil
}

// isToken reports whether s is an RFC 9110 token, the syntax of header names
// and methods.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
