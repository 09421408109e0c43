package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/rollcheck/rollcheck/manifest"
	"github.com/rollcheck/rollcheck/preflight"
	"github.com/rollcheck/rollcheck/rollout"
)

const lintExample = `  # Check the manifests of a repository in CI (no cluster needed)
  rollcheck lint -f deploy/web.yaml

  # Several files, or a whole kustomize build on stdin
  kustomize build overlays/prod | rollcheck lint -f -

  # Check a live Deployment with the Services, Ingresses and Namespace around it
  rollcheck lint -n shop deployment/cart

  # Only errors, as JSON, without the single-replica rule
  rollcheck lint -f web.yaml --severity error --disable single-replica -o json`

// LintOptions are the settings of one `rollcheck lint`.
type LintOptions struct {
	f *factory
	genericiooptions.IOStreams

	Filenames    []string
	Output       string
	Disable      []string
	Severity     string
	ShutdownTime time.Duration

	Deployment string
	Namespace  string
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
		Use:   "lint (deployment/NAME | -f FILE...)",
		Short: "Find the settings that will drop traffic in a rollout, before running any load",
		Long: `lint checks a Deployment together with the Services that select its pods, the
Ingresses that route to those Services and its Namespace, and lists the
settings known to drop requests during a rollout, each with the field, its
current value, a suggested value and why.

With -f it reads manifests (multi-document YAML; several files; - for stdin)
and needs no cluster: every Deployment in them is checked against the
Services, Ingresses and Namespace in the same input. With deployment/NAME it
reads them from the cluster.

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
	fl.StringVarP(&o.Output, "output", "o", o.Output, "output format: text or json")
	fl.StringArrayVar(&o.Disable, "disable", nil, "rule id to skip (repeatable)")
	fl.StringVar(&o.Severity, "severity", o.Severity, "lowest severity to report: info, warning or error")
	fl.DurationVar(&o.ShutdownTime, "shutdown-time", o.ShutdownTime, "expected time from SIGTERM to exit of the application, for the grace period arithmetic")
	return cmd
}

// Complete takes the positional argument and the namespace.
func (o *LintOptions) Complete(args []string) error {
	if len(args) == 1 {
		o.Deployment = args[0]
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
	return nil
}

// Validate checks the flags; nothing has been read yet.
func (o *LintOptions) Validate() error {
	switch {
	case o.Deployment != "" && len(o.Filenames) > 0:
		return errors.New("give either deployment/NAME or -f FILE, not both")
	case o.Deployment == "" && len(o.Filenames) == 0:
		return errors.New("nothing to check: give deployment/NAME or -f FILE")
	}
	if o.Deployment != "" {
		name, err := rollout.ParseDeploymentName(o.Deployment)
		if err != nil {
			return err
		}
		o.Deployment = name
	}
	if o.Output != "text" && o.Output != "json" {
		return fmt.Errorf("--output %q: want text or json", o.Output)
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

// lintResult is the findings for one Deployment.
type lintResult struct {
	Namespace  string              `json:"namespace,omitempty"`
	Deployment string              `json:"deployment"`
	Findings   []preflight.Finding `json:"findings"`
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
		in, warnings, err := preflight.Fetch(ctx, client, o.Namespace, o.Deployment)
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
		results = append(results, lintResult{Namespace: in.Deployment.Namespace, Deployment: in.Deployment.Name, Findings: fs})
	}
	var err error
	if o.Output == "json" {
		err = writeLintJSON(o.Out, results)
	} else {
		err = writeLintText(o.Out, results)
	}
	if err != nil {
		return fmt.Errorf("writing lint output: %w", err)
	}
	if errs > 0 {
		return lintFailed{errors: errs}
	}
	return nil
}

// manifests are the objects read from the -f inputs.
type manifests struct {
	deployments []*appsv1.Deployment
	services    []corev1.Service
	ingresses   []networkingv1.Ingress
	namespaces  []*corev1.Namespace
}

// readFiles parses every -f input and pairs each Deployment with the rest.
func (o *LintOptions) readFiles() ([]preflight.Input, error) {
	var m manifests
	for _, name := range o.Filenames {
		var r io.Reader
		if name == "-" {
			r, name = o.In, "stdin"
		} else {
			f, err := os.Open(name)
			if err != nil {
				return nil, usageError{fmt.Errorf("reading manifests: %w", err)}
			}
			defer f.Close()
			r = f
		}
		if err := m.read(name, r); err != nil {
			return nil, usageError{err}
		}
	}
	if len(m.deployments) == 0 {
		return nil, usageError{fmt.Errorf("no Deployment (apps/v1) in %s: nothing to check", strings.Join(o.Filenames, ", "))}
	}
	// Objects without a namespace land where kubectl apply would put them:
	// the --namespace given, else the one Namespace of the input, else
	// "default".
	def := "default"
	if o.nsExplicit && o.Namespace != "" {
		def = o.Namespace
	} else if len(m.namespaces) == 1 {
		def = m.namespaces[0].Name
	}
	orDef := func(ns string) string {
		if ns == "" {
			return def
		}
		return ns
	}
	for i := range m.services {
		m.services[i].Namespace = orDef(m.services[i].Namespace)
	}
	for i := range m.ingresses {
		m.ingresses[i].Namespace = orDef(m.ingresses[i].Namespace)
	}
	var inputs []preflight.Input
	for _, d := range m.deployments {
		d.Namespace = orDef(d.Namespace)
		in := preflight.Input{Deployment: d, Services: m.services, Ingresses: m.ingresses}
		for _, ns := range m.namespaces {
			if ns.Name == d.Namespace {
				in.Namespace = ns
			}
		}
		inputs = append(inputs, in)
	}
	return inputs, nil
}

var (
	gvkDeployment = appsv1.SchemeGroupVersion.WithKind("Deployment")
	gvkService    = corev1.SchemeGroupVersion.WithKind("Service")
	gvkNamespace  = corev1.SchemeGroupVersion.WithKind("Namespace")
	gvkIngress    = networkingv1.SchemeGroupVersion.WithKind("Ingress")
	gvkList       = corev1.SchemeGroupVersion.WithKind("List")
)

// read adds the objects of one multi-document YAML (or JSON) stream.
func (m *manifests) read(name string, r io.Reader) error {
	docs, err := manifest.Read(r)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for _, doc := range docs {
		if err := m.add(doc); err != nil {
			return fmt.Errorf("%s: document %d: %w", name, doc.Index, err)
		}
	}
	return nil
}

// add decodes one document. Unknown fields are errors (manifest decodes
// strictly): a misspelt readinessProbe would otherwise read as a missing one.
func (m *manifests) add(doc manifest.Document) error {
	if doc.Empty() {
		return nil // an empty item of a List
	}
	tm, err := doc.TypeMeta()
	if err != nil {
		return fmt.Errorf("not a Kubernetes object: %w", err)
	}
	if tm.Kind == "" || tm.APIVersion == "" {
		return errors.New("not a Kubernetes object: apiVersion and kind are required")
	}
	gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
	strict := func(into any) error {
		if err := doc.Decode(into); err != nil {
			return fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
		}
		return nil
	}
	switch gvk {
	case gvkDeployment:
		d := &appsv1.Deployment{}
		if err := strict(d); err != nil {
			return err
		}
		m.deployments = append(m.deployments, d)
	case gvkService:
		s := corev1.Service{}
		if err := strict(&s); err != nil {
			return err
		}
		m.services = append(m.services, s)
	case gvkIngress:
		i := networkingv1.Ingress{}
		if err := strict(&i); err != nil {
			return err
		}
		m.ingresses = append(m.ingresses, i)
	case gvkNamespace:
		n := &corev1.Namespace{}
		if err := strict(n); err != nil {
			return err
		}
		m.namespaces = append(m.namespaces, n)
	case gvkList:
		var l struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(doc.JSON, &l); err != nil {
			return fmt.Errorf("v1 List: %w", err)
		}
		for i, raw := range l.Items {
			item, err := manifest.Parse(raw)
			if err == nil {
				err = m.add(item)
			}
			if err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
	default:
		if !scheme.Scheme.Recognizes(gvk) {
			return fmt.Errorf("unknown kind %s %s: lint reads Kubernetes built-in kinds (Deployment apps/v1, Service v1, Ingress networking.k8s.io/v1, Namespace v1 are checked)", tm.APIVersion, tm.Kind)
		}
		// Another built-in kind (ConfigMap, HPA, ...): not part of the rules.
	}
	return nil
}

func writeLintJSON(w io.Writer, results []lintResult) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Results []lintResult `json:"results"`
	}{results})
}

func writeLintText(w io.Writer, results []lintResult) error {
	for i, r := range results {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		count := map[preflight.Severity]int{}
		for _, f := range r.Findings {
			count[f.Severity]++
		}
		if _, err := fmt.Fprintf(w, "deployment/%s (namespace %s): %d error(s), %d warning(s), %d info\n",
			r.Deployment, r.Namespace, count[preflight.Error], count[preflight.Warning], count[preflight.Info]); err != nil {
			return err
		}
		if len(r.Findings) == 0 {
			continue
		}
		t := tablewriter.NewTable(w, tablewriter.WithRowMaxWidth(48), tablewriter.WithRowAutoWrap(tw.WrapNormal), tablewriter.WithRowAlignment(tw.AlignLeft))
		t.Header("Severity", "Rule", "Object", "Field", "Current", "Suggested")
		for _, f := range r.Findings {
			if err := t.Append(string(f.Severity), f.Rule, f.Object, f.Path, f.Current, f.Suggested); err != nil {
				return err
			}
		}
		if err := t.Render(); err != nil {
			return err
		}
		// Why, once per rule, under the table.
		whys := map[string]string{}
		var rules []string
		for _, f := range r.Findings {
			if _, ok := whys[f.Rule]; !ok {
				rules = append(rules, f.Rule)
				whys[f.Rule] = f.Why
			}
		}
		for _, id := range rules {
			if _, err := fmt.Fprintf(w, "  %s: %s\n", id, whys[id]); err != nil {
				return err
			}
		}
	}
	return nil
}
