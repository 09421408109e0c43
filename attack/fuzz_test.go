package attack

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// The parsers below read user input (flags and scenario files). The fuzz
// targets check that they never panic and that whatever they accept is
// something the attack can actually use. Seeds: f.Add below plus
// testdata/fuzz/<Name>/; `make fuzz` runs each for a short bounded time.

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"200", "200/s", "50/100ms", "1000/1m", "60/m", " 10 / 2s ", "1/1ns", "2/1ns",
		"0/s", "-5/s", "abc", "5/", "5/0s", "5/-1s", "5/.5s", "9223372036854775807/1h", "1/9223372036854775807ns", "5/h", "5/µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			if r != (Rate{}) {
				t.Errorf("ParseRate(%q) returned %+v with error %v", s, r, err)
			}
			return
		}
		if r.Freq <= 0 || r.Per <= 0 {
			t.Fatalf("ParseRate(%q) = %+v: accepted a rate that is not positive", s, r)
		}
		if r.Per.Nanoseconds()/int64(r.Freq) < 1 {
			t.Fatalf("ParseRate(%q) = %+v: more than one request per nanosecond", s, r)
		}
		if ps := r.PerSecond(); ps <= 0 {
			t.Fatalf("ParseRate(%q) = %+v: PerSecond %g", s, r, ps)
		}
		// The canonical spelling parses back to the same rate.
		canon := strconv.Itoa(r.Freq) + "/" + r.Per.String()
		r2, err := ParseRate(canon)
		if err != nil || r2 != r {
			t.Fatalf("ParseRate(%q) = %+v, but its spelling %q parses to %+v, %v", s, r, canon, r2, err)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"X-Pod-Name: a", "Authorization: Bearer t0k", "Key:Value", "Key:", "Empty: ", ": v", "no colon",
		"Bad Name: v", "X: a\r\nInjected: b", "X: a\x00b", "X: a\x7fb", "X: \ttab\t", "X: a:b:c", "  Spaced  :  v  ", "X: é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, v, err := ParseHeader(s)
		if err != nil {
			return
		}
		if !isToken(k) {
			t.Fatalf("ParseHeader(%q) accepted name %q, not a token", s, k)
		}
		if v != strings.TrimSpace(v) {
			t.Fatalf("ParseHeader(%q) = value %q, not trimmed", s, v)
		}
		// net/http refuses to send a request whose header value has a
		// control character other than tab (httpguts.ValidHeaderFieldValue):
		// accepting one would make every request of the run fail.
		for i := 0; i < len(v); i++ {
			if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
				t.Fatalf("ParseHeader(%q) accepted value %q with control byte %#x, which net/http will not send", s, v, c)
			}
		}
		h := http.Header{}
		h.Add(k, v)
		if got := h.Get(k); got != v {
			t.Fatalf("header %q: got back %q, want %q", k, got, v)
		}
	})
}

func FuzzParseTargetURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8080/", "https://example.com/healthz?x=1", "http://[::1]:80/a", "127.0.0.1:8080",
		"ftp://host/", "http://", "http:///path", "http://:80/", "https://user:pass@host/", " http://host/ ", "http://host/%zz",
		"HTTP://HOST/", "http://host:notaport/", "http://h\x00st/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseTargetURL(s)
		if err != nil {
			if u != nil {
				t.Errorf("ParseTargetURL(%q) returned %v with error %v", s, u, err)
			}
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("ParseTargetURL(%q): scheme %q", s, u.Scheme)
		}
		if u.Hostname() == "" {
			t.Fatalf("ParseTargetURL(%q): no host", s)
		}
		// The attack builds its requests from the URL's string form.
		req, err := http.NewRequest(http.MethodGet, u.String(), nil)
		if err != nil {
			t.Fatalf("ParseTargetURL(%q) = %q, which net/http cannot request: %v", s, u, err)
		}
		// NewRequest drops an empty port ("h:" → "h"); the host must stay.
		if req.URL.Hostname() != u.Hostname() {
			t.Fatalf("ParseTargetURL(%q) = host %q, but the request goes to %q", s, u.Hostname(), req.URL.Hostname())
		}
	})
}
