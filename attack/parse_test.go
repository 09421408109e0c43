package attack

import (
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	good := []struct {
		name string
		in   string
		want Rate
	}{
		{"a bare number is per second", "200", Rate{200, time.Second}},
		{"a slash and a unit means one of it", "200/s", Rate{200, time.Second}},
		{"a duration after the slash is the period", "50/100ms", Rate{50, 100 * time.Millisecond}},
		{"minutes work too", "1000/1m", Rate{1000, time.Minute}},
		{"a bare minute unit works", "60/m", Rate{60, time.Minute}},
		{"spaces around the parts are ignored", " 10 / 2s ", Rate{10, 2 * time.Second}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if err != nil {
				t.Fatalf("ParseRate(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseRate(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}

	bad := []struct {
		name string
		in   string
	}{
		{"zero is refused", "0"},
		{"zero per second is refused", "0/s"},
		{"a negative rate is refused", "-5/s"},
		{"a zero period is refused", "10/0s"},
		{"a negative period is refused", "10/-1s"},
		{"words are refused", "fast"},
		{"an empty string is refused", ""},
		{"a missing period is refused", "10/"},
		{"an unknown unit is refused", "10/fortnight"},
		{"more than one request per nanosecond is refused", "2000000000/1s"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRate(tc.in)
			if err == nil {
				t.Fatalf("ParseRate(%q) succeeded, want an error", tc.in)
			}
			if !strings.Contains(err.Error(), "\""+tc.in+"\"") {
				t.Errorf("error %q does not name the input %q", err, tc.in)
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	good := []struct {
		name, in, key, value string
	}{
		{"a space after the colon is dropped", "X-Test: yes", "X-Test", "yes"},
		{"no space after the colon works", "X-Test:yes", "X-Test", "yes"},
		{"a colon in the value is kept", "Host: example.com:8080", "Host", "example.com:8080"},
		{"an empty value is allowed", "X-Empty:", "X-Empty", ""},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			k, v, err := ParseHeader(tc.in)
			if err != nil {
				t.Fatalf("ParseHeader(%q): %v", tc.in, err)
			}
			if k != tc.key || v != tc.value {
				t.Errorf("ParseHeader(%q) = %q, %q; want %q, %q", tc.in, k, v, tc.key, tc.value)
			}
		})
	}

	bad := []struct{ name, in string }{
		{"no colon is refused", "X-Test yes"},
		{"an empty name is refused", ": yes"},
		{"a space in the name is refused", "X Test: yes"},
		{"a line break in the value is refused", "X-Test: a\r\nInjected: b"},
		{"a control character net/http would not send is refused", "X-Test: a\x7fb"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := ParseHeader(tc.in); err == nil {
				t.Fatalf("ParseHeader(%q) succeeded, want an error", tc.in)
			}
		})
	}
}

func TestParseTargetURL(t *testing.T) {
	good := []struct{ name, in string }{
		{"http with a port is accepted", "http://127.0.0.1:8080/healthz"},
		{"https without a port is accepted", "https://example.com"},
		{"a query is kept", "http://localhost:80/x?y=1"},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseTargetURL(tc.in)
			if err != nil {
				t.Fatalf("ParseTargetURL(%q): %v", tc.in, err)
			}
			if u.String() != tc.in {
				t.Errorf("ParseTargetURL(%q) = %q", tc.in, u)
			}
		})
	}

	bad := []struct{ name, in, msg string }{
		{"a missing scheme is refused", "127.0.0.1:8080/", "scheme"},
		{"host:port alone is refused", "localhost:8080", "scheme"},
		{"ftp is refused", "ftp://example.com/", "not supported"},
		{"a URL without host is refused", "http:///path", "no host"},
		{"a port alone is refused", "http://:8080/", "no host"},
		{"garbage is refused", "http://[::1", "target URL"},
		{"an empty string is refused", "", "scheme"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTargetURL(tc.in)
			if err == nil {
				t.Fatalf("ParseTargetURL(%q) succeeded, want an error", tc.in)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("ParseTargetURL(%q) error %q does not mention %q", tc.in, err, tc.msg)
			}
		})
	}
}

func TestRedactURLHidesPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:s3cret@127.0.0.1:8080/x": "http://user:xxxxx@127.0.0.1:8080/x",
		"http://127.0.0.1:8080/x":             "http://127.0.0.1:8080/x",
		"::not a url":                         "::not a url",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
