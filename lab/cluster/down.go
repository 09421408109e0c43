package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rollcheck/rollcheck/lab/node"
)

type downOptions struct {
	dir     string
	timeout time.Duration
}

func newDownCommand() *cobra.Command {
	o := &downOptions{}
	return dirCommand(&o.dir, &o.timeout, dirCommandSpec{
		use:   "down --dir DIR [--timeout 60s]",
		short: "Stop the lab running in DIR and wait until all its processes are gone",
		long: `Stop the lab running in DIR: send SIGTERM to up (from DIR/lab.json, or
DIR/up.pid if the lab never got ready) and wait until it and every component
process are gone. After --timeout whatever is left is killed with SIGKILL.
A real node's leftovers (processes in its network namespace or its pods'
cgroups, mounts under DIR/node, cgroups, the namespace) are removed, also
when up crashed half-way. Exits 0 if nothing is running.`,
		timeoutHelp: "how long to wait for a clean stop before SIGKILL",
	}, o.run)
}

func (o *downOptions) run(cmd *cobra.Command) error {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	up, comps, err := labProcs(dir)
	if err != nil {
		return err
	}
	all := append([]proc{up}, comps...)
	if !anyAlive(all) {
		return cleanup(cmd.Context(), dir)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "stopping the lab in %s\n", dir)
	if up.alive() {
		// up stops the components in order.
		terminate(up, o.timeout)
	}
	// Components left behind (up was killed, or did not finish in time).
	for i := len(comps) - 1; i >= 0; i-- {
		terminate(comps[i], 10*time.Second)
	}
	if !waitGone(5*time.Second, all...) {
		return errors.New("some lab processes would not die")
	}
	return cleanup(cmd.Context(), dir)
}

// labProcs returns up's process and the components' processes (in start
// order) of the lab in dir, from lab.json if it exists, else from up.pid.
func labProcs(dir string) (proc, []proc, error) {
	st, err := ReadState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		up, err := readUpPID(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return proc{}, nil, nil
		}
		return up, nil, err
	}
	if err != nil {
		return proc{}, nil, err
	}
	// Start order; leftovers are stopped in reverse.
	order := map[string]int{"containerd": 0, "etcd": 1, "apiserver": 2, "controller-manager": 3, "scheduler": 4,
		node.RelayCommandName: 5, "kubelet": 6, "kube-proxy": 7, "lb": 8}
	names := make([]string, 0, len(st.Components))
	for n := range st.Components {
		names = append(names, n)
	}
	// The other nodes' components ("kubelet-2") stop with the first's.
	rank := func(name string) int {
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				return order[name[:i]]
			}
		}
		return order[name]
	}
	sort.SliceStable(names, func(i, j int) bool { return rank(names[i]) < rank(names[j]) })
	comps := make([]proc, 0, len(names))
	for _, n := range names {
		comps = append(comps, proc{PID: st.Components[n], Start: st.ComponentStarts[n]})
	}
	return proc{PID: st.PID, Start: st.PIDStart}, comps, nil
}

func anyAlive(ps []proc) bool {
	for _, p := range ps {
		if p.alive() {
			return true
		}
	}
	return false
}

// cleanup removes what a stopped lab leaves: its ready and pid files and,
// for a real node (also one whose up crashed half-way), the node's
// processes, mounts, cgroups and network namespace.
func cleanup(ctx context.Context, dir string) error {
	for _, name := range []string{readyFile, upPIDFile} {
		_ = os.Remove(filepath.Join(dir, name))
	}
	// The last node first: the first node's namespace holds the others'
	// links, and its record the host directories to remove at the end.
	for i := node.MaxNodes - 1; i >= 0; i-- {
		if l := node.NodeLayout(dir, i); node.Leftover(l) {
			if err := node.Teardown(ctx, l); err != nil {
				return fmt.Errorf("tear down the real node in %s: %w", l.Dir(), err)
			}
		}
	}
	return nil
}
