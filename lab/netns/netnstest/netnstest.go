// Package netnstest gives tests a network namespace of their own, standing
// in for the real node's.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
)

var seq atomic.Int64

// Scratch creates a network namespace for the test (root and iproute2's ip
// needed, else the test is skipped) with its loopback up and each of addrs
// added to it as a /32, like pod IPs and ClusterIPs that exist only in
// there. It returns the namespace's path and removes it when the test ends.
func Scratch(t testing.TB, addrs ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	name := fmt.Sprintf("rollcheck-test-%d-%d", os.Getpid(), seq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", name).Run() })
	setup := [][]string{{"link", "set", "lo", "up"}}
	for _, a := range addrs {
		setup = append(setup, []string{"addr", "add", a + "/32", "dev", "lo"})
	}
	for _, args := range setup {
		if out, err := exec.Command("ip", append([]string{"-n", name}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip -n %s %v: %v: %s", name, args, err, out)
		}
	}
	return "/run/netns/" + name
}
