package attack

import (
	"strconv"
	"strings"
)

// classes indexes every class for the fixed-size counters of the aggregator;
// classes[0] is ClassOK, the rest follow FailureClasses.
var classes = append([]Class{ClassOK}, FailureClasses...)

const numClasses = 14

// Class indices, in the order of classes.
const (
	idxOK = iota
	idx502
	idx503
	idx504
	idxOther5xx
	idx4xx
	idxRefused
	idxReset
	idxEOF
	idxTimeout
	idxGoaway
	idxStreamReset
	idxOther
	idxClient
)

// Classify returns the class of a request outcome as vegeta reports it: the
// status code, or 0 and the transport error's text. url, if not empty, is the
// request URL, which the error text quotes; it is cut off before matching so
// that a path like /timeout cannot decide the class.
func Classify(code uint16, errText, url string) Class {
	return classes[classify(code, errText, url)]
}

func classify(code uint16, errText, url string) int {
	switch {
	case code >= 200 && code < 400:
		return idxOK
	case code == 502:
		return idx502
	case code == 503:
		return idx503
	case code == 504:
		return idx504
	case code >= 500 && code < 600:
		return idxOther5xx
	case code >= 400 && code < 500:
		return idx4xx
	case code != 0:
		return idxOther
	}
	return classifyError(errorCause(errText, url))
}

// errorCause strips the `Get "http://...": ` prefix that *url.Error puts
// before the transport error.
func errorCause(errText, url string) string {
	if url == "" {
		return errText
	}
	q := strconv.Quote(url) + ": "
	if i := strings.Index(errText, q); i >= 0 {
		return errText[i+len(q):]
	}
	return errText
}

// classifyError sorts a transport error by its text, the only form vegeta
// keeps (the error value itself is gone by the time a result arrives).
func classifyError(s string) int {
	switch {
	case clientSide(s):
		return idxClient
	case strings.Contains(s, "connection refused"):
		return idxRefused
	case strings.Contains(s, "server sent GOAWAY and closed the connection"):
		// Before reset and EOF: the transport words a read error after
		// a GOAWAY this way (net/http's bundled HTTP/2, GoAwayError).
		return idxGoaway
	case strings.HasPrefix(s, "stream error: "), strings.Contains(s, "http2: stream reset"):
		return idxStreamReset
	case strings.Contains(s, "connection reset"), strings.Contains(s, "broken pipe"):
		return idxReset
	case strings.Contains(s, "Client.Timeout exceeded"), strings.Contains(s, "deadline exceeded"),
		strings.Contains(s, "i/o timeout"):
		return idxTimeout
	case strings.Contains(s, "EOF"), strings.Contains(s, "server closed idle connection"):
		return idxEOF
	}
	return idxOther
}

// clientSide reports whether a transport error comes from the load
// generator's own machine, not from the cluster: no free local port
// (EADDRNOTAVAIL), no file descriptor left (EMFILE, ENFILE), or a name
// the client's resolver cannot resolve. Such failures say nothing about the
// rollout.
func clientSide(s string) bool {
	for _, m := range []string{
		"cannot assign requested address", // EADDRNOTAVAIL: ephemeral ports used up
		"too many open files",             // EMFILE
		"file table overflow",             // ENFILE
		"no such host",                    // the client's DNS has no such name
		"server misbehaving",              // the client's resolver failed
		"Temporary failure in name resolution",
	} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
