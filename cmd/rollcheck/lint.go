package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

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
	fl.StringVarP(&o.Output, "output", "o", o.Output, "output format: text (fits the terminal's width), wide (every column in full), json or yaml")
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

// lintOutputs are the formats of -o, as kubectl names them.
var lintOutputs = []string{"text", "wide", "json", "yaml"}

// lintDocument is the JSON and YAML output.
type lintDocument struct {
	Results []lintResult `json:"results"`
}

func writeLintJSON(w io.Writer, results []lintResult) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(lintDocument{results})
}

func writeLintYAML(w io.Writer, results []lintResult) error {
	data, err := yaml.Marshal(lintDocument{results})
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// lintSummary is the line that heads each Deployment's findings.
func lintSummary(r lintResult) string {
	count := map[preflight.Severity]int{}
	for _, f := range r.Findings {
		count[f.Severity]++
	}
	return fmt.Sprintf("deployment/%s (namespace %s): %d error(s), %d warning(s), %d info",
		r.Deployment, r.Namespace, count[preflight.Error], count[preflight.Warning], count[preflight.Info])
}

// writeLintWide is -o wide: every column in one boxed table, whatever its
// width, and each rule's explanation under it.
func writeLintWide(w io.Writer, results []lintResult) error {
	for i, r := range results {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintln(w, lintSummary(r)); err != nil {
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

// The text table's layout: lintGap spaces between columns; minCell, the
// narrowest a wrapped cell may get before the field, current and suggested
// values leave the table for lines under the row; minWidth, below which
// those lines cannot fit, so the text is laid out for minWidth and the
// terminal wraps it.
const (
	lintGap  = 2
	minCell  = 20
	minWidth = 40
)

// writeLintText is the default output: a table without borders that fits
// width columns, as kubectl's do. Long cells wrap within their column and
// each finding's explanation follows its row, indented. Too narrow for
// that, the rows keep the severity and the rule, and the rest goes under
// each row, one labelled line each. The object column is left out when
// every finding is about the Deployment of the summary line.
func writeLintText(w io.Writer, results []lintResult, width int) error {
	width = max(width, minWidth)
	var b strings.Builder
	for i, r := range results {
		if i > 0 {
			b.WriteString("\n")
		}
		for _, line := range wrap(lintSummary(r), width) {
			b.WriteString(line + "\n")
		}
		if len(r.Findings) > 0 {
			writeFindings(&b, r, width)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeFindings writes the table of r's findings into b.
func writeFindings(b *strings.Builder, r lintResult, width int) {
	showObject := false
	for _, f := range r.Findings {
		showObject = showObject || f.Object != "deployment/"+r.Deployment
	}
	header := []string{"SEVERITY", "RULE", "OBJECT", "FIELD", "CURRENT", "SUGGESTED"}
	row := func(f preflight.Finding) []string {
		return []string{string(f.Severity), f.Rule, f.Object, f.Path, f.Current, f.Suggested}
	}
	if !showObject {
		header = slices.Delete(header, 2, 3)
		row = func(f preflight.Finding) []string {
			return []string{string(f.Severity), f.Rule, f.Path, f.Current, f.Suggested}
		}
	}
	rows := [][]string{header}
	for _, f := range r.Findings {
		rows = append(rows, row(f))
	}
	// Severity and rule (and object) are short names, kept whole.
	fixed := len(header) - 3
	natural := naturalWidths(rows)
	widths := fitColumns(natural, fixed, width)
	stacked := false
	for i := fixed; i < len(widths); i++ {
		stacked = stacked || widths[i] < min(natural[i], minCell)
	}
	if stacked {
		for i := range rows {
			rows[i] = rows[i][:2]
		}
		widths = fitColumns(naturalWidths(rows), 2, width)
	}
	const indent = "    "
	shown := map[string]bool{}
	for i, cells := range rows {
		writeRow(b, cells, widths)
		if i == 0 {
			continue
		}
		f := r.Findings[i-1]
		if stacked {
			if showObject {
				writeLabelled(b, indent, "object:", f.Object, width)
			}
			writeLabelled(b, indent, "field:", f.Path, width)
			writeLabelled(b, indent, "current:", f.Current, width)
			writeLabelled(b, indent, "suggested:", f.Suggested, width)
		}
		// The explanation, once when findings share it.
		if f.Why == "" || shown[f.Why] {
			continue
		}
		shown[f.Why] = true
		for _, line := range wrap(f.Why, width-len(indent)) {
			b.WriteString(indent + line + "\n")
		}
	}
}

// writeLabelled writes "label value" at indent, the value wrapped to width
// and its lines aligned after the label.
func writeLabelled(b *strings.Builder, indent, label, value string, width int) {
	label = fmt.Sprintf("%-11s", label)
	pad := strings.Repeat(" ", len(label))
	for i, line := range wrap(value, width-len(indent)-len(label)) {
		if i == 0 {
			b.WriteString(strings.TrimRight(indent+label+line, " ") + "\n")
		} else {
			b.WriteString(indent + pad + line + "\n")
		}
	}
}

// naturalWidths is the width of each column of rows without wrapping.
func naturalWidths(rows [][]string) []int {
	widths := make([]int, len(rows[0]))
	for _, cells := range rows {
		for i, c := range cells {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	return widths
}

// fitColumns returns the width of each column, natural without wrapping,
// so that the table, with lintGap between columns, fits width. The first
// fixed columns keep their natural width while they take at most half of
// the width; the others share what is left, each getting its natural width
// when that is below an equal share of what remains.
func fitColumns(natural []int, fixed, width int) []int {
	n := len(natural)
	widths := slices.Clone(natural)
	room := width - lintGap*(n-1)
	total, fixedWidth := 0, 0
	for i, w := range natural {
		total += w
		if i < fixed {
			fixedWidth += w
		}
	}
	if total <= room {
		return widths
	}
	flex := make([]int, 0, n)
	for i := range n {
		flex = append(flex, i)
	}
	if fixedWidth <= room/2 {
		flex, room = flex[fixed:], room-fixedWidth
	}
	slices.SortStableFunc(flex, func(a, b int) int { return natural[a] - natural[b] })
	for k, i := range flex {
		share := room / (len(flex) - k)
		widths[i] = max(1, min(natural[i], share))
		room -= widths[i]
	}
	return widths
}

// writeRow writes one table row: each cell wrapped to its column's width,
// the row as tall as its tallest cell.
func writeRow(b *strings.Builder, cells []string, widths []int) {
	wrapped := make([][]string, len(cells))
	height := 0
	for i, c := range cells {
		wrapped[i] = wrap(c, widths[i])
		height = max(height, len(wrapped[i]))
	}
	for l := range height {
		var line strings.Builder
		for i, lines := range wrapped {
			cell := ""
			if l < len(lines) {
				cell = lines[l]
			}
			line.WriteString(cell)
			if i < len(wrapped)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)+lintGap))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// wrap breaks s into lines of at most width runes: between words, and a
// word longer than a line after a dot, slash, comma or bracket when one is
// near the end of the line (field paths), else anywhere.
func wrap(s string, width int) []string {
	width = max(width, 1)
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		for utf8.RuneCountInString(word) > width {
			if line != "" {
				lines = append(lines, line)
				line = ""
			}
			cut := breakWord(word, width)
			lines = append(lines, word[:cut])
			word = word[cut:]
		}
		switch {
		case line == "":
			line = word
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}

// breakWord is where to cut word, longer than width runes, for a first line
// of at most width runes: after the last of ".,/]})" in its second half,
// else at width.
func breakWord(word string, width int) int {
	atWidth, after, n := len(word), 0, 0
	for i, r := range word {
		if n == width {
			atWidth = i
			break
		}
		n++
		if n > width/2 && strings.ContainsRune(".,/]})", r) {
			after = i + utf8.RuneLen(r)
		}
	}
	if after > 0 {
		return after
	}
	return atWidth
}
