package check

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
)

func TestPortShortageNamesWhatToChange(t *testing.T) {
	host := func() (attack.SourcePorts, error) {
		return attack.SourcePorts{Low: 32768, High: 60999, TWReuse: 2}, nil
	}
	service := []attack.Target{{Method: http.MethodGet, URL: "http://10.96.0.10/"}}
	cases := []struct {
		name      string
		rate      int
		conns     attack.Connections
		attackers int
		host      func() (attack.SourcePorts, error)
		want      string
	}{
		{"local, under this machine's ceiling", 400, attack.ConnectionsNew, 0, host, ""},
		{"local, over it", 2000, attack.ConnectionsNew, 0, host, "more than 12% of them closing from this side (about 40% did against a Go server), from about 14s into the load if half do; with every port held, connects fail (\"cannot assign requested address\"); the run may end INCONCLUSIVE: give a lower --rate, --connections both (half the load keeps its connections), or --attackers 2 (each pod has 64512 ports)"},
		{"local, kept connections", 5000, attack.ConnectionsReused, 0, host, ""},
		{"local, this machine's ports unknown", 5000, attack.ConnectionsNew, 0, func() (attack.SourcePorts, error) { return attack.SourcePorts{}, errors.New("no /proc") }, ""},
		{"one attacker at 1,000/s", 1000, attack.ConnectionsNew, 1, nil, ""},
		{"two attackers at 4,000/s", 4000, attack.ConnectionsNew, 2, nil, "2000 new connections a second to 10.96.0.10:80 from each of 2 generators may run short of source ports: each one closed from this side first holds its port 1m0s (TIME_WAIT), and once half of the 64512 ports (1024-65535) are held, connects slow down; that takes more than 27% of them closing from this side (about 40% did against a Go server), from about 32s into the load if half do; with every port held, connects fail (\"cannot assign requested address\"); the run may end INCONCLUSIVE: give --attackers 4 or more, or a lower --rate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{Attack: attack.Config{Targets: service, Rate: attack.Rate{Freq: tc.rate, Per: time.Second}, Connections: tc.conns}}
			if tc.attackers > 0 {
				cfg.Attackers = &Attackers{Count: tc.attackers}
			}
			got := portShortage(cfg, tc.host)
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("portShortage = %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestPortShortageIsSaidBeforeTheLoad: the warning comes before the load
// starts, and the run goes on (the ports may outlast a short run).
func TestPortShortageIsSaidBeforeTheLoad(t *testing.T) {
	// 100 ports and no reuse of TIME_WAIT: if half of the test's 50 new
	// connections a second to the loopback target close from its side, half
	// of the ports are held in 2 s.
	defer func(f func() (attack.SourcePorts, error)) { hostSourcePorts = f }(hostSourcePorts)
	hostSourcePorts = func() (attack.SourcePorts, error) { return attack.SourcePorts{Low: 40000, High: 40099}, nil }
	c := cluster(t, "", deploy("web", 2, web), service("web", web))
	cfg := config(target(t, http.StatusOK))
	cfg.Attack.KeepAlive, cfg.Attack.Connections = false, attack.ConnectionsNew
	cfg.Action = rollout.Action{Kind: rollout.ActionRestart}
	all := recordProgress(&cfg)
	if _, err := Execute(context.Background(), Clients{Kube: c}, cfg); err != nil {
		t.Fatal(err)
	}
	seen := all()
	for _, p := range seen {
		if p.Kind == ProgressWarning && strings.Contains(p.Message, "from about 2s into the load if half do") {
			return
		}
		if p.Kind == ProgressPhase && p.Phase != "" {
			t.Fatalf("phase %q before the warning: %+v", p.Phase, seen)
		}
	}
	t.Fatalf("no warning of the ports: %+v", seen)
}
