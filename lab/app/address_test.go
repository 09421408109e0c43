package app

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestAddressComesFromFlagThenEnvironmentThenLoopback(t *testing.T) {
	tests := []struct {
		name, flag, env, want string
	}{
		{name: "the flag wins over $ADDRESS", flag: "127.0.0.2", env: "0.0.0.0", want: "127.0.0.2"},
		{name: "$ADDRESS is used without the flag", env: "0.0.0.0", want: "0.0.0.0"},
		{name: "loopback is the default", want: DefaultAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ADDRESS", tt.env)
			t.Setenv("PORT", "8080")
			o := Options{Address: tt.flag, PodName: "web-1"}
			if err := o.Complete(&cobra.Command{}); err != nil {
				t.Fatal(err)
			}
			if o.Address != tt.want {
				t.Fatalf("address %q, want %q", o.Address, tt.want)
			}
		})
	}
}

func TestAddressMustBeAnIP(t *testing.T) {
	o := Options{Address: "localhost", Port: 8080, Shutdown: ShutdownGraceful}
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), "--address") {
		t.Fatalf("Validate() = %v, want an error about --address", err)
	}
}

func TestListensOnAllAddressesWhenAsked(t *testing.T) {
	tests := []struct {
		name        string
		address     string
		unspecified bool
	}{
		{name: "default listens on loopback only", address: "", unspecified: false},
		{name: "0.0.0.0 listens on every address (the pod IP in a container)", address: "0.0.0.0", unspecified: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _, _ := start(t, Options{Address: tt.address, ReadyOnSIGTERM: true})
			host, port, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			ip := net.ParseIP(host)
			if ip == nil {
				t.Fatalf("bound host %q is not an IP", host)
			}
			if ip.IsUnspecified() != tt.unspecified || (!tt.unspecified && !ip.Equal(net.ParseIP(DefaultAddress))) {
				t.Fatalf("bound to %s, want unspecified=%v", host, tt.unspecified)
			}
			// Either way the app answers on loopback.
			resp, err := client().Get("http://" + net.JoinHostPort("127.0.0.1", port) + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("/healthz: %d", resp.StatusCode)
			}
		})
	}
}

func TestPodNameFallsBackToHostName(t *testing.T) {
	want, err := os.Hostname()
	if err != nil {
		t.Skipf("no host name: %v", err)
	}
	o := Options{Port: 8080} // as NewCommand leaves it when $POD_NAME is empty
	if err := o.Complete(&cobra.Command{}); err != nil {
		t.Fatal(err)
	}
	if o.PodName != want {
		t.Fatalf("pod name %q, want the host name %q", o.PodName, want)
	}
	// The header carries it.
	url, _, _ := start(t, Options{PodName: o.PodName, ReadyOnSIGTERM: true})
	resp, err := client().Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Pod-Name"); got != want {
		t.Fatalf("X-Pod-Name %q, want %q", got, want)
	}
}

func TestPodNameFromEnvironmentIsKept(t *testing.T) {
	o := Options{PodName: "web-7", Port: 8080}
	if err := o.Complete(&cobra.Command{}); err != nil {
		t.Fatal(err)
	}
	if o.PodName != "web-7" {
		t.Fatalf("pod name %q, want web-7", o.PodName)
	}
}
