package cluster

import (
	"os"
	"os/exec"
	"reflect"
	"testing"
)

func TestParseLB(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    lbTarget
		wantErr bool
	}{
		{name: "a service without a port gets a free port later", in: "default/demo", want: lbTarget{service: "default/demo"}},
		{name: "a service with a port keeps it", in: "shop/web=8080", want: lbTarget{service: "shop/web", port: 8080}},
		{name: "a service without a namespace is refused", in: "demo", wantErr: true},
		{name: "a bad port is refused", in: "default/demo=http", wantErr: true},
		{name: "a port out of range is refused", in: "default/demo=70000", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLB(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseLB(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseLB(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestProcAlive(t *testing.T) {
	t.Run("this process is alive", func(t *testing.T) {
		if !selfProc().alive() {
			t.Error("self not alive")
		}
	})
	t.Run("a pid with another start time is not the same process", func(t *testing.T) {
		p := selfProc()
		p.Start++
		if p.alive() {
			t.Error("a reused pid counts as alive")
		}
	})
	t.Run("an exited child is gone", func(t *testing.T) {
		cmd := exec.Command("true")
		if err := cmd.Run(); err != nil {
			t.Skip(err)
		}
		if (proc{PID: cmd.Process.Pid}).alive() {
			t.Error("exited child alive")
		}
	})
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := &State{
		Dir: dir, Kubeconfig: dir + "/kubeconfig", LBURL: "http://127.0.0.1:1",
		LB: map[string]string{"default/demo": "http://127.0.0.1:1"}, APIServer: "https://127.0.0.1:2",
		PID: os.Getpid(), Components: map[string]int{"etcd": 3}, ComponentStarts: map[string]uint64{"etcd": 4},
	}
	if err := writeState(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadState = %+v, want %+v", got, want)
	}
}

func TestDownWithNothingRunningSucceeds(t *testing.T) {
	cmd := newDownCommand()
	cmd.SetArgs([]string{"--dir", t.TempDir()})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
}

// The lab's ports are picked below the ephemeral range, where no outgoing
// connection takes one between the pick and the component's bind (CI run
// ci50: a lab's balancer could not bind its port and the lab never came up).
func TestFreePortsAreOutsideTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	if low-minPickedPort < 1000 {
		t.Skipf("ephemeral range from %d: too little room below it", low)
	}
	ports, err := freePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < minPickedPort || p >= low || seen[p] {
			t.Errorf("port %d: want distinct ports in [%d, %d)", p, minPickedPort, low)
		}
		seen[p] = true
	}
	p, err := freePort("127.0.0.1")
	if err != nil || p < minPickedPort || p >= low {
		t.Errorf("freePort: %d (%v), want one in [%d, %d)", p, err, minPickedPort, low)
	}
}
