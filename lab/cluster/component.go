package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type componentOptions struct {
	dir     string
	name    string
	signal  string
	downFor time.Duration
	timeout time.Duration
}

func (o *componentOptions) addFlags(cmd *cobra.Command, stop, start bool) {
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "lab directory")
	f.DurationVar(&o.timeout, "timeout", 60*time.Second, "give up after this long")
	if stop {
		f.StringVar(&o.signal, "signal", "TERM", "signal that stops the component: TERM (clean stop) or KILL (crash)")
	}
	if stop && start {
		f.DurationVar(&o.downFor, "down-for", 0, "keep the component down this long before starting it again")
	}
}

func (o *componentOptions) complete(args []string) error {
	if o.dir == "" {
		return errors.New("--dir is required")
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	o.dir, o.name = dir, args[0]
	if o.signal != "" && o.signal != "TERM" && o.signal != "KILL" {
		return fmt.Errorf("--signal %q: want TERM or KILL", o.signal)
	}
	return nil
}

const componentNames = "etcd, apiserver, controller-manager, scheduler, kubelet, lb; with --node real also containerd, node-relay, kube-proxy"

func newStopComponentCommand() *cobra.Command {
	o := &componentOptions{}
	cmd := &cobra.Command{
		Use:   "stop-component --dir DIR NAME",
		Short: "Stop one component of a running lab and keep it down until start-component",
		Long: "Stop one component (" + componentNames + ") of the lab running in DIR.\n" +
			"It creates DIR/hold/NAME, which keeps up from restarting it, signals the\n" +
			"process and waits until it is gone.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(args); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.stop()
		},
	}
	o.addFlags(cmd, true, false)
	return cmd
}

func newStartComponentCommand() *cobra.Command {
	o := &componentOptions{}
	cmd := &cobra.Command{
		Use:   "start-component --dir DIR NAME",
		Short: "Let up start a component stopped by stop-component and wait until it runs",
		Long: "Remove DIR/hold/NAME so that up starts the component again, and wait until\n" +
			"lab.json shows its new process (for the apiserver: until /readyz answers ok).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(args); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.start(cmd.Context(), proc{})
		},
	}
	o.addFlags(cmd, false, true)
	return cmd
}

func newRestartComponentCommand() *cobra.Command {
	o := &componentOptions{}
	cmd := &cobra.Command{
		Use:   "restart-component --dir DIR [--signal TERM|KILL] [--down-for D] NAME",
		Short: "Stop one component of a running lab, optionally keep it down, and start it again",
		Long: "Restart one component (" + componentNames + ") of the lab running in DIR:\n" +
			"stop-component, wait --down-for, start-component. For example\n" +
			"  rollcheck-lab restart-component --dir DIR --signal KILL --down-for 5s apiserver",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(args); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			old, err := o.current()
			if err != nil {
				return err
			}
			if err := o.stop(); err != nil {
				return err
			}
			select {
			case <-time.After(o.downFor):
			case <-cmd.Context().Done():
			}
			return o.start(cmd.Context(), old)
		},
	}
	o.addFlags(cmd, true, true)
	return cmd
}

// current returns the component's process as lab.json records it.
func (o *componentOptions) current() (proc, error) {
	st, err := ReadState(o.dir)
	if err != nil {
		return proc{}, fmt.Errorf("no lab running in %s: %w", o.dir, err)
	}
	if !(proc{PID: st.PID, Start: st.PIDStart}).alive() {
		return proc{}, fmt.Errorf("no lab running in %s (up pid %d is gone)", o.dir, st.PID)
	}
	pid, ok := st.Components[o.name]
	if !ok {
		return proc{}, fmt.Errorf("the lab has no component %q", o.name)
	}
	return proc{PID: pid, Start: st.ComponentStarts[o.name]}, nil
}

func (o *componentOptions) stop() error {
	p, err := o.current()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.dir, holdDir, o.name), nil, 0o644); err != nil {
		return err
	}
	if o.signal == "KILL" {
		_ = syscall.Kill(p.PID, syscall.SIGKILL)
	}
	terminate(p, o.timeout)
	if p.alive() {
		return fmt.Errorf("%s (pid %d) did not stop", o.name, p.PID)
	}
	return nil
}

// start releases the hold and waits for a process other than old.
func (o *componentOptions) start(ctx context.Context, old proc) error {
	if old.PID == 0 {
		var err error
		if old, err = o.current(); err != nil {
			return err
		}
		if old.alive() {
			_ = os.Remove(filepath.Join(o.dir, holdDir, o.name))
			return nil // already running
		}
	}
	if err := os.Remove(filepath.Join(o.dir, holdDir, o.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var cs kubernetes.Interface
	for {
		p, err := o.current()
		if err != nil {
			return err
		}
		if p != old && p.alive() {
			if o.name != "apiserver" {
				return nil
			}
			if cs == nil {
				cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(o.dir, kubeconfigFile))
				if err != nil {
					return err
				}
				cfg.Timeout = 5 * time.Second
				if cs, err = kubernetes.NewForConfig(cfg); err != nil {
					return err
				}
			}
			if apiserverReady(ctx, cs) == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not come back within %s", o.name, o.timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
