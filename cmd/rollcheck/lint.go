package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/rollcheck/rollcheck/preflight"
	"github.com/rollcheck/rollcheck/rollout"
)

const lintExample = `  # Check the manifests of a repository in CI (no cluster needed)
  rollcheck lint -f deploy/web.yaml

  # Several files, or a whole kustomize build on stdin
  kustomize build overlays/prod | rollcheck lint -f -

  # Check a live Deployment with the Services, Ingresses and Namespace around it
  rollcheck lint -n shop deployment/cart

  # A StatefulSet or a DaemonSet in the cluster
  rollcheck lint -n shop statefulset/db
  rollcheck lint -n kube-system daemonset/ingress-nginx

  # Only errors, as JSON, without the single-replica rule
  rollcheck lint -f web.yaml --severity error --disable single-replica -o json

  # Every column in full, whatever the terminal's width
  rollcheck lint -f web.yaml -o wide`

// LintOptions are the settings of one `rollcheck lint`.
type LintOptions struct {
	f *factory
	genericiooptions.IOStreams

	Filenames    []string
	Output       string
	Disable      []string
	Severity     string
	ShutdownTime time.Duration
	// Width is the width the text output fits, in columns: Complete sets
	// it to the terminal's, else $COLUMNS, else 80. -o wide ignores it.
	Width int

	// Workload is the positional argument: NAME (a Deployment) or
	// deployment/NAME, statefulset/NAME, daemonset/NAME; Validate parses
	// it into kind and name.
	Workload  string
	kind      rollout.Kind
	name      string
	Namespace string
	// nsExplicit is true when --namespace was given (or the kubeconfig
	// context names one): manifests without a namespace then go there.
	nsExplicit bool

	checkOpts preflight.Options
}

// lintFailed reports that lint found at least one error-level finding: exit 1.
type lintFailed struct{ errors int }

func (e lintFailed) Error() string {
	return fmt.Sprintf("lint: %d error-level finding(s)", e.errors)
}

func newLintCommand(f *factory, runF func(context.Context, *LintOptions) error) *cobra.Command {
	o := &LintOptions{
		f:            f,
		IOStreams:    f.IOStreams,
		Output:       "text",
		Severity:     string(preflight.Info),
		ShutdownTime: preflight.DefaultShutdownTime,
	}
	var ids []string
	for _, r := range preflight.Rules() {
		ids = append(ids, fmt.Sprintf("  %-38s %-8s %s", r.ID, r.Severity, r.Summary))
	}
	cmd := &cobra.Command{
		Use:   "lint (deployment/NAME | statefulset/NAME | daemonset/NAME | -f FILE...)",
		Short: "Find the settings that will drop traffic in a rollout, before running any load",
		Long: `lint checks a Deployment, StatefulSet or DaemonSet together with the Services
that select its pods, the Ingresses that route to those Services and its
Namespace, and lists the settings known to drop requests during a rollout,
each with the field, its current value, a suggested value and why.

With -f it reads manifests (multi-document YAML; several files; - for stdin)
and needs no cluster: every Deployment, StatefulSet and DaemonSet (apps/v1)
in them is checked against the Services, Ingresses and Namespace in the same
input. With deployment/NAME, statefulset/NAME or daemonset/NAME (kubectl's
short names deploy, sts and ds work too) it reads them from the cluster.

Exit status: 0 no error-level finding, 1 at least one, 2 bad input.

Rules (id, highest severity, what breaks it):
` + strings.Join(ids, "\n"),
		Example: lintExample,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				fmt.Fprintln(o.ErrOut, cmd.UsageString())
				return usageError{err}
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&o.Filenames, "filename", "f", nil, "manifest file to check (repeatable; - reads stdin)")
	fl.StringVarP(&o.Output, "output", "o", o.Output, "output format: text (fits the terminal's width), wide (every column in full), json or yaml")
	fl.StringArrayVar(&o.Disable, "disable", nil, "rule id to skip (repeatable)")
	fl.StringVar(&o.Severity, "severity", o.Severity, "lowest severity to report: info, warning or error")
	fl.DurationVar(&o.ShutdownTime, "shutdown-time", o.ShutdownTime, "expected time from SIGTERM to exit of the application, for the grace period arithmetic")
	return cmd
}

// Complete takes the positional argument and the namespace.
func (o *LintOptions) Complete(args []string) error {
	if len(args) == 1 {
		o.Workload = args[0]
	}
	ns, explicit, err := o.f.Namespace()
	if err != nil {
		if len(o.Filenames) == 0 {
			return err
		}
		// Files need no kubeconfig.
		ns, explicit = "", false
	}
	if n := o.f.flags.Namespace; n != nil && *n != "" {
		ns, explicit = *n, true
	}
	o.Namespace, o.nsExplicit = ns, explicit
	if o.Width == 0 {
		o.Width = outputWidth(o.Out)
	}
	return nil
}

// outputWidth is the width text output to w should fit: the terminal's
// when w is one, else $COLUMNS, else 80 (a pipe or a CI log).
func outputWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 80
}

// Validate checks the flags; nothing has been read yet.
func (o *LintOptions) Validate() error {
	switch {
	case o.Workload != "" && len(o.Filenames) > 0:
		return errors.New("give either a workload (deployment/NAME, statefulset/NAME, daemonset/NAME) or -f FILE, not both")
	case o.Workload == "" && len(o.Filenames) == 0:
		return errors.New("nothing to check: give deployment/NAME, statefulset/NAME, daemonset/NAME or -f FILE")
	}
	if o.Workload != "" {
		kind, name, err := rollout.ParseWorkload(o.Workload)
		if err != nil {
			return err
		}
		o.kind, o.name = kind, name
	}
	if !slices.Contains(lintOutputs, o.Output) {
		return fmt.Errorf("--output %q: want one of %s", o.Output, strings.Join(lintOutputs, ", "))
	}
	sev, err := preflight.ParseSeverity(o.Severity)
	if err != nil {
		return fmt.Errorf("--severity: %w", err)
	}
	for _, id := range o.Disable {
		if !preflight.KnownRule(id) {
			return fmt.Errorf("--disable %q: no such rule (see rollcheck lint --help)", id)
		}
	}
	if o.ShutdownTime < 0 {
		return fmt.Errorf("--shutdown-time must not be negative, got %s", o.ShutdownTime)
	}
	o.checkOpts = preflight.Options{ShutdownTime: o.ShutdownTime, Disable: o.Disable, MinSeverity: sev}
	return nil
}

// lintResult is the findings for one workload.
type lintResult struct {
	Namespace string `json:"namespace,omitempty"`
	// Kind is the workload's kind as the API spells it: Deployment,
	// StatefulSet or DaemonSet.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Workload names it as kubectl and the findings' object do:
	// statefulset/web.
	Workload string `json:"workload"`
	// Deployment is Name for a Deployment, as lint printed it before it
	// read other kinds; empty for the others.
	Deployment string              `json:"deployment,omitempty"`
	Findings   []preflight.Finding `json:"findings"`
}

// newLintResult is the result for the workload of in.
func newLintResult(in preflight.Input, fs []preflight.Finding) lintResult {
	kind, meta := inputWorkload(in)
	r := lintResult{Namespace: meta.Namespace, Kind: kind.Title(), Name: meta.Name, Workload: kind.Ref(meta.Name), Findings: fs}
	if kind == rollout.KindDeployment {
		r.Deployment = meta.Name
	}
	return r
}

// Run reads the input, checks it and renders the findings.
func (o *LintOptions) Run(ctx context.Context) error {
	var inputs []preflight.Input
	if len(o.Filenames) > 0 {
		var err error
		if inputs, err = o.readFiles(); err != nil {
			return err
		}
	} else {
		client, err := o.f.KubeClient()
		if err != nil {
			return err
		}
		in, warnings, err := preflight.FetchWorkload(ctx, client, o.kind, o.Namespace, o.name)
		if err != nil {
			return err
		}
		for _, w := range warnings {
			warn(o.ErrOut, w)
		}
		inputs = append(inputs, in)
	}
	var results []lintResult
	errs := 0
	for _, in := range inputs {
		fs := preflight.Check(in, o.checkOpts)
		if fs == nil {
			fs = []preflight.Finding{}
		}
		for _, f := range fs {
			if f.Severity == preflight.Error {
				errs++
			}
		}
		results = append(results, newLintResult(in, fs))
	}
	var err error
	switch o.Output {
	case "json":
		err = writeLintJSON(o.Out, results)
	case "yaml":
		err = writeLintYAML(o.Out, results)
	case "wide":
		err = writeLintWide(o.Out, results)
	default:
		err = writeLintText(o.Out, results, o.Width)
	}
	if err != nil {
		return fmt.Errorf("writing lint output: %w", err)
	}
	if errs > 0 {
		return lintFailed{errors: errs}
	}
	return nil
}
