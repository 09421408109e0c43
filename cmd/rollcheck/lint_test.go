package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/preflight"
)

// lintRun is what one `rollcheck lint` invocation printed and returned.
type lintRun struct {
	code           int
	stdout, stderr string
}

// executeLint runs the command tree with args, stdin as its input and, when
// client is set, that cluster client.
func executeLint(t *testing.T, client kubernetes.Interface, stdin string, args ...string) lintRun {
	t.Helper()
	// Keep the developer's kubeconfig out of the test.
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "no-kubeconfig"))
	// Wide enough that no cell wraps: these tests look for whole values.
	// TestLintTextFitsTheWidth sets its own widths.
	t.Setenv("COLUMNS", "1000")
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut}
	f := newFactory(streams)
	if client != nil {
		f.kube = func() (kubernetes.Interface, error) { return client, nil }
	}
	root := rootWith(f, newLintCommand(f, nil))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return lintRun{code: exitCode(err, &errOut), stdout: out.String(), stderr: errOut.String()}
}

// jsonRules decodes -o json output into workload name → rule ids.
func jsonRules(t *testing.T, stdout string) map[string][]string {
	t.Helper()
	var doc struct {
		Results []struct {
			Name     string              `json:"name"`
			Findings []preflight.Finding `json:"findings"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	out := map[string][]string{}
	for _, r := range doc.Results {
		out[r.Name] = []string{}
		for _, f := range r.Findings {
			out[r.Name] = append(out[r.Name], f.Rule)
		}
	}
	return out
}

func TestLintFiles(t *testing.T) {
	const asIs, toBe, seed = "../../scenarios/as-is.yaml", "../../scenarios/to-be.yaml", "../../preflight/testdata/seed002-to-be.yaml"
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
		absent   []string
	}{
		{"the as-is manifest fails on readiness probe and preStop", []string{"lint", "-f", asIs}, exitcode.Fail,
			[]string{"no-readiness-probe", "no-prestop", "deployment/demo (namespace default): 2 error(s)"}, []string{"Error:"}},
		{"the to-be manifest passes with nothing to report", []string{"lint", "-f", toBe}, exitcode.Pass,
			[]string{"deployment/demo (namespace default): 0 error(s), 0 warning(s), 0 info"}, []string{"no-prestop"}},
		{"the seed 002 sample passes with a warning and advice only", []string{"lint", "-f", seed}, exitcode.Pass,
			// Its files hold no PodDisruptionBudget, which a drain needs.
			[]string{"namespace test", "0 error(s), 1 warning(s), 2 info", "no-pod-disruption-budget", "readiness-same-as-liveness"}, nil},
		{"a severity threshold hides the advice", []string{"lint", "-f", seed, "--severity", "warning"}, exitcode.Pass,
			[]string{"0 info"}, []string{"readiness-same-as-liveness"}},
		{"disabled rules do not fail the lint", []string{"lint", "-f", asIs, "--disable", "no-readiness-probe", "--disable", "no-prestop"}, exitcode.Pass,
			[]string{"0 error(s)"}, []string{"no-prestop"}},
		{"several files are read together", []string{"lint", "-f", asIs, "-f", seed}, exitcode.Fail,
			[]string{"deployment/demo", "deployment/2048-game"}, nil},
		{"a long shutdown time breaks the to-be grace period", []string{"lint", "-f", toBe, "--shutdown-time", "20s"}, exitcode.Fail,
			[]string{"grace-period-too-short"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := executeLint(t, nil, "", tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, s := range tt.contains {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("output lacks %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(r.stdout+r.stderr, s) {
					t.Errorf("output has %q:\n%s%s", s, r.stdout, r.stderr)
				}
			}
		})
	}
}

func TestLintJSONListsTheRuleIDs(t *testing.T) {
	r := executeLint(t, nil, "", "lint", "-f", "../../scenarios/as-is.yaml", "-o", "json")
	if r.code != exitcode.Fail {
		t.Fatalf("exit %d, want %d; stderr: %s", r.code, exitcode.Fail, r.stderr)
	}
	got := jsonRules(t, r.stdout)
	if want := "no-readiness-probe,no-prestop,no-pod-disruption-budget"; strings.Join(got["demo"], ",") != want {
		t.Errorf("rules %v, want %s", got, want)
	}
	r = executeLint(t, nil, "", "lint", "-f", "../../scenarios/to-be.yaml", "-o", "json")
	if r.code != exitcode.Pass || len(jsonRules(t, r.stdout)["demo"]) != 0 {
		t.Errorf("to-be: exit %d, findings %v", r.code, jsonRules(t, r.stdout))
	}
}

func TestLintReadsStdinAndSeveralDeployments(t *testing.T) {
	asIs, err := os.ReadFile("../../scenarios/as-is.yaml")
	if err != nil {
		t.Fatal(err)
	}
	toBe, err := os.ReadFile("../../scenarios/to-be.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The same manifests twice under other names, plus a ConfigMap (a
	// built-in kind lint does not check) and an empty document.
	stream := strings.ReplaceAll(string(asIs), "demo", "old") + "\n---\n" + strings.ReplaceAll(string(toBe), "demo", "new") +
		"\n---\n# nothing here\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n"
	r := executeLint(t, nil, stream, "lint", "-f", "-", "-o", "json")
	if r.code != exitcode.Fail {
		t.Fatalf("exit %d, want %d; stderr: %s", r.code, exitcode.Fail, r.stderr)
	}
	got := jsonRules(t, r.stdout)
	// The to-be's budget selects app=new, not old's pods.
	if len(got) != 2 || len(got["old"]) != 3 || len(got["new"]) != 0 {
		t.Errorf("findings %v: want 3 for old, none for new", got)
	}
}

// The files' pod templates decide whether a budget selects a pod: the
// to-be with its budget's selector misspelt protects nothing.
func TestLintTellsABudgetThatSelectsNoTemplate(t *testing.T) {
	toBe, err := os.ReadFile("../../scenarios/to-be.yaml")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(toBe), "kind: PodDisruptionBudget")
	if i < 0 {
		t.Fatal("the to-be has no PodDisruptionBudget")
	}
	stream := string(toBe[:i]) + strings.Replace(string(toBe[i:]), "app: demo", "app: dmeo", 1)
	r := executeLint(t, nil, stream, "lint", "-f", "-", "-o", "json")
	if r.code != exitcode.Pass {
		t.Fatalf("exit %d, want %d (warnings only); stderr: %s", r.code, exitcode.Pass, r.stderr)
	}
	if got := strings.Join(jsonRules(t, r.stdout)["demo"], ","); got != "no-pod-disruption-budget,pdb-selects-no-pod" {
		t.Errorf("rules %s, want the missing budget and the stray one", got)
	}
}

// manifestWriter returns a function that writes a manifest file named
// name into a temporary directory and returns its path.
func manifestWriter(t *testing.T) func(name, content string) string {
	t.Helper()
	dir := t.TempDir()
	return func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

func TestLintBadInputExitsTwo(t *testing.T) {
	write := manifestWriter(t)
	svc := "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}}\n"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a missing file is named", []string{"lint", "-f", filepath.Join(t.TempDir(), "nope.yaml")}, "nope.yaml"},
		{"malformed YAML names the document", []string{"lint", "-f", write("bad.yaml", svc+"---\napiVersion: apps/v1\nkind: Deployment\nspec: [unclosed\n")}, "bad.yaml: document 2"},
		{"an unknown kind is named", []string{"lint", "-f", write("crd.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\n")}, "unknown kind argoproj.io/v1alpha1 Rollout"},
		{"a document without kind is refused", []string{"lint", "-f", write("nokind.yaml", "metadata: {name: web}\n")}, "apiVersion and kind are required"},
		{"a file without a workload is refused, naming the kinds lint reads", []string{"lint", "-f", write("svc.yaml", svc)}, "no Deployment, StatefulSet or DaemonSet (apps/v1)"},
		{"a misspelt field is named", []string{"lint", "-f", write("typo.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        readinesProbe: {}\n")}, `unknown field "readinesProbe"`},
		{"an unknown rule id is refused", []string{"lint", "-f", "../../scenarios/to-be.yaml", "--disable", "no-such-rule"}, "no-such-rule"},
		{"an unknown output format is refused", []string{"lint", "-f", "../../scenarios/to-be.yaml", "-o", "xml"}, "--output"},
		{"an unknown severity is refused", []string{"lint", "-f", "../../scenarios/to-be.yaml", "--severity", "fatal"}, "fatal"},
		{"a deployment and a file together are refused", []string{"lint", "deployment/web", "-f", "../../scenarios/to-be.yaml"}, "not both"},
		{"nothing to check is refused", []string{"lint"}, "nothing to check"},
		{"a kind that does not roll out is refused", []string{"lint", "job/db"}, `kind "job" is not a Deployment, StatefulSet or DaemonSet`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := executeLint(t, nil, "", tt.args...)
			if r.code != exitcode.Usage {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitcode.Usage, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, r.stderr)
			}
		})
	}
}

// clusterObjects is deployment shop/web behind an ALB in ip mode, in a
// namespace without the readiness gate label, plus a Service of another app.
func clusterObjects() []runtime.Object {
	labels := map[string]string{"app": "web"}
	return []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec: appsv1.DeploymentSpec{
				Replicas: func() *int32 { n := int32(3); return &n }(),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name: "app", Image: "web:1",
						Ports:          []corev1.ContainerPort{{ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{}}},
						Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 15}}},
					}}},
				},
			},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: map[string]string{"alb.ingress.kubernetes.io/target-type": "ip"}},
			Spec:       corev1.ServiceSpec{Selector: labels},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "shop", Annotations: map[string]string{"alb.ingress.kubernetes.io/target-group-attributes": "deregistration_delay.timeout_seconds=5"}},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "other"}},
		},
		&networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec: networkingv1.IngressSpec{
				IngressClassName: func() *string { s := "alb"; return &s }(),
				DefaultBackend:   &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web"}},
			},
		},
	}
}

func TestLintDeploymentInTheCluster(t *testing.T) {
	forbidNamespaces := func(c *fake.Clientset) {
		c.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "shop", nil)
		})
	}
	tests := []struct {
		name    string
		args    []string
		prepare func(*fake.Clientset)
		code    int
		stdout  []string
		stderr  string
	}{
		{"the namespace label is missing for the ALB in ip mode", []string{"lint", "-n", "shop", "deployment/web"}, nil, exitcode.Fail,
			[]string{"no-pod-readiness-gate", "namespace/shop", "ingress/web"}, ""},
		{"a Namespace that cannot be read turns the error into a warning", []string{"lint", "-n", "shop", "deployment/web"}, forbidNamespaces, exitcode.Pass,
			[]string{"no-pod-readiness-gate", "unknown (the Namespace is not in the input)"}, "cannot read namespace shop"},
		{"a missing deployment exits 2", []string{"lint", "-n", "shop", "deployment/nope"}, nil, exitcode.Usage, nil, "deployment shop/nope not found"},
		{"the wrong namespace finds nothing", []string{"lint", "-n", "default", "web"}, nil, exitcode.Usage, nil, "deployment default/web not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(clusterObjects()...)
			if tt.prepare != nil {
				tt.prepare(c)
			}
			r := executeLint(t, c, "", tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("output lacks %q:\n%s", s, r.stdout)
				}
			}
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, r.stderr)
			}
			// The other app's Service (and its 5s deregistration delay) is
			// not in front of web.
			if strings.Contains(r.stdout, "service/other") {
				t.Errorf("a Service of another app was checked:\n%s", r.stdout)
			}
		})
	}
}

// lintAtWidth runs lint with args on client (nil: files only), its text
// fitting width, and returns stdout and the findings, read from JSON.
func lintAtWidth(t *testing.T, client kubernetes.Interface, width int, args ...string) (string, []preflight.Finding) {
	t.Helper()
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "no-kubeconfig"))
	run := func(args ...string) string {
		var out, errOut bytes.Buffer
		f := newFactory(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		if client != nil {
			f.kube = func() (kubernetes.Interface, error) { return client, nil }
		}
		root := rootWith(f, newLintCommand(f, func(ctx context.Context, o *LintOptions) error {
			o.Width = width
			return o.Run(ctx)
		}))
		root.SetArgs(args)
		if code := exitCode(root.ExecuteContext(context.Background()), &errOut); code == exitcode.Usage {
			t.Fatalf("lint %s: exit %d\n%s", strings.Join(args, " "), code, errOut.String())
		}
		return out.String()
	}
	var doc lintDocument
	if err := json.Unmarshal([]byte(run(append(args, "-o", "json")...)), &doc); err != nil {
		t.Fatal(err)
	}
	var findings []preflight.Finding
	for _, r := range doc.Results {
		findings = append(findings, r.Findings...)
	}
	return run(args...), findings
}

func TestLintTextFitsTheWidth(t *testing.T) {
	inputs := []struct {
		name   string
		client kubernetes.Interface
		args   []string
	}{
		{"the as-is manifest", nil, []string{"lint", "-f", "../../scenarios/as-is.yaml"}},
		{"the seed 002 sample and the as-is manifest", nil, []string{"lint", "-f", "../../preflight/testdata/seed002-to-be.yaml", "-f", "../../scenarios/as-is.yaml"}},
		{"a Deployment behind an ALB, with findings on other objects", fake.NewClientset(clusterObjects()...), []string{"lint", "-n", "shop", "deployment/web"}},
	}
	squash := func(s string) string { return strings.Join(strings.Fields(s), "") }
	for _, in := range inputs {
		for _, width := range []int{40, 60, 80, 100, 120, 160} {
			t.Run(fmt.Sprintf("%s at %d columns has no longer line and every finding", in.name, width), func(t *testing.T) {
				out, findings := lintAtWidth(t, in.client, width, in.args...)
				if len(findings) == 0 {
					t.Fatal("no findings to show")
				}
				for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
					if n := utf8.RuneCountInString(line); n > width {
						t.Errorf("line of %d columns:\n%s", n, line)
					}
				}
				for _, f := range findings {
					// Cells wrap side by side; the explanation is whole under its row.
					if !strings.Contains(out, f.Rule) || !strings.Contains(squash(out), squash(f.Why)) {
						t.Errorf("%s or its explanation is missing:\n%s", f.Rule, out)
					}
				}
				if t.Failed() {
					t.Logf("output:\n%s", out)
				}
			})
		}
	}
}

func TestLintWrapLosesNothing(t *testing.T) {
	texts := []string{
		"spec.template.spec.containers[app].lifecycle.preStop",
		`sleep: {seconds: 4} (or exec: ["sleep", "4"])`,
		"metadata.annotations[service.beta.kubernetes.io/aws-load-balancer-connection-draining-enabled]",
		"",
	}
	for _, s := range texts {
		for _, width := range []int{1, 5, 12, 30, 200} {
			lines := wrap(s, width)
			for _, l := range lines {
				if utf8.RuneCountInString(l) > width {
					t.Errorf("wrap(%q, %d): line %q is longer", s, width, l)
				}
			}
			if got := strings.Join(lines, ""); strings.ReplaceAll(got, " ", "") != strings.ReplaceAll(s, " ", "") {
				t.Errorf("wrap(%q, %d) = %q: text lost", s, width, lines)
			}
		}
	}
	if got := wrap("spec.template.spec.containers[app].readinessProbe", 40); got[0] != "spec.template.spec.containers[app]." {
		t.Errorf("a field path breaks at %q, want after a dot", got[0])
	}
}

func TestLintWideKeepsEveryColumn(t *testing.T) {
	out, findings := lintAtWidth(t, nil, 40, "lint", "-f", "../../scenarios/as-is.yaml", "-o", "wide")
	for _, f := range findings {
		for _, s := range []string{f.Path, f.Current, f.Rule, f.Object} {
			if !strings.Contains(out, s) {
				t.Errorf("-o wide lacks %q:\n%s", s, out)
			}
		}
	}
	if !strings.Contains(out, "SUGGESTED") || !strings.Contains(out, "OBJECT") {
		t.Errorf("-o wide lacks a column:\n%s", out)
	}
}

func TestLintYAMLIsTheJSON(t *testing.T) {
	r := executeLint(t, nil, "", "lint", "-f", "../../scenarios/as-is.yaml", "-f", "../../preflight/testdata/seed002-to-be.yaml", "-o", "yaml")
	var fromYAML lintDocument
	if err := yaml.UnmarshalStrict([]byte(r.stdout), &fromYAML); err != nil {
		t.Fatalf("-o yaml does not parse: %v\n%s", err, r.stdout)
	}
	asJSON, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	j := executeLint(t, nil, "", "lint", "-f", "../../scenarios/as-is.yaml", "-f", "../../preflight/testdata/seed002-to-be.yaml", "-o", "json")
	if got, want := jsonRules(t, string(asJSON)), jsonRules(t, j.stdout); fmt.Sprint(got) != fmt.Sprint(want) || len(want) != 2 {
		t.Errorf("-o yaml rules %v, -o json %v", got, want)
	}
	if r.code != exitcode.Fail {
		t.Errorf("exit %d, want %d as with the other outputs", r.code, exitcode.Fail)
	}
}

func TestLintWidthComesFromTheEnvironmentOffATerminal(t *testing.T) {
	tests := []struct {
		name, columns string
		want          int
	}{
		{"COLUMNS sets the width", "132", 132},
		{"without COLUMNS the width is 80", "", 80},
		{"a COLUMNS that is no number is ignored", "wide", 80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("COLUMNS", tt.columns)
			if got := outputWidth(&bytes.Buffer{}); got != tt.want {
				t.Errorf("outputWidth = %d, want %d", got, tt.want)
			}
		})
	}
	// Narrower than minWidth, the layout is minWidth's.
	var narrow, atMin bytes.Buffer
	results := []lintResult{{Namespace: "default", Deployment: "web", Findings: []preflight.Finding{{Rule: "no-prestop", Severity: preflight.Error, Object: "deployment/web", Path: "spec.x", Current: "none", Suggested: "sleep 4", Why: "because"}}}}
	if err := writeLintText(&narrow, results, 10); err != nil {
		t.Fatal(err)
	}
	if err := writeLintText(&atMin, results, minWidth); err != nil {
		t.Fatal(err)
	}
	if narrow.String() != atMin.String() {
		t.Errorf("at 10 columns:\n%s\nat %d:\n%s", narrow.String(), minWidth, atMin.String())
	}
}

// Manifests of other workload kinds behind a Service of app web. The
// StatefulSet has the default podManagementPolicy (OrderedReady) and no
// readiness probe; the DaemonSet the default maxSurge 0.
const (
	webService = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`
	webStatefulSet = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: shop}
spec:
  serviceName: web
  replicas: 3
` + webPodTemplate + `
`
	webDaemonSet = `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec:
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 0, maxUnavailable: 1}
` + webPodTemplate + `
        readinessProbe: {httpGet: {path: /ready, port: 8080}}
`
	// webPodTemplate is the selector and pod template of both, without a
	// readiness probe (the DaemonSet adds one after it).
	webPodTemplate = `  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: web:1
        ports: [{containerPort: 8080}]
        lifecycle: {preStop: {sleep: {seconds: 5}}}`
)

// lintDoc runs lint -o json with args and decodes the output.
func lintDoc(t *testing.T, client kubernetes.Interface, stdin string, args ...string) (lintRun, lintDocument) {
	t.Helper()
	r := executeLint(t, client, stdin, append(args, "-o", "json")...)
	var doc lintDocument
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("output is not JSON (exit %d): %v\nstdout:\n%s\nstderr:\n%s", r.code, err, r.stdout, r.stderr)
	}
	return r, doc
}

// finding is the finding of rule in doc's result for workload, if any.
func finding(doc lintDocument, workload, rule string) (preflight.Finding, bool) {
	for _, res := range doc.Results {
		if res.Workload != workload {
			continue
		}
		for _, f := range res.Findings {
			if f.Rule == rule {
				return f, true
			}
		}
	}
	return preflight.Finding{}, false
}

func TestLintStatefulSetsAndDaemonSetsFromFiles(t *testing.T) {
	write := manifestWriter(t)
	sts := write("sts.yaml", webService+"---\n"+webStatefulSet)
	ds := write("ds.yaml", webService+"---\n"+webDaemonSet)

	t.Run("a StatefulSet with OrderedReady and no readiness probe fails, named with its kind", func(t *testing.T) {
		r, doc := lintDoc(t, nil, "", "lint", "-f", sts)
		if r.code != exitcode.Fail {
			t.Errorf("exit %d, want %d; stderr: %s", r.code, exitcode.Fail, r.stderr)
		}
		f, ok := finding(doc, "statefulset/web", preflight.RuleOrderedReadyNoReadiness)
		if !ok {
			t.Fatalf("no %s for statefulset/web: %+v", preflight.RuleOrderedReadyNoReadiness, doc)
		}
		if f.Severity != preflight.Error || f.Object != "statefulset/web" || f.Path != "spec.template.spec.containers[app].readinessProbe" {
			t.Errorf("finding %+v", f)
		}
		res := doc.Results[0]
		if res.Kind != "StatefulSet" || res.Name != "web" || res.Namespace != "shop" || res.Deployment != "" {
			t.Errorf("result names %q %q/%q (deployment %q), want StatefulSet shop/web and no deployment", res.Kind, res.Namespace, res.Name, res.Deployment)
		}
		text := executeLint(t, nil, "", "lint", "-f", sts)
		if !strings.Contains(text.stdout, "statefulset/web (namespace shop): ") || strings.Contains(text.stdout, "deployment/") {
			t.Errorf("text output does not name statefulset/web:\n%s", text.stdout)
		}
	})
	t.Run("a DaemonSet with maxSurge 0 in front of a Service gets daemonset-no-surge", func(t *testing.T) {
		_, doc := lintDoc(t, nil, "", "lint", "-f", ds)
		f, ok := finding(doc, "daemonset/agent", preflight.RuleDaemonSetNoSurge)
		if !ok {
			t.Fatalf("no %s for daemonset/agent: %+v", preflight.RuleDaemonSetNoSurge, doc)
		}
		if f.Path != "spec.updateStrategy.rollingUpdate.maxSurge" || f.Current != "0" || f.Object != "daemonset/agent" {
			t.Errorf("finding %+v", f)
		}
		if res := doc.Results[0]; res.Kind != "DaemonSet" || res.Workload != "daemonset/agent" {
			t.Errorf("result names %q %q, want DaemonSet daemonset/agent", res.Kind, res.Workload)
		}
	})
	t.Run("a DaemonSet behind an externalTrafficPolicy Local Service is an error", func(t *testing.T) {
		local := strings.Replace(webService, "spec:\n", "spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n", 1)
		r, doc := lintDoc(t, nil, local+"---\n"+webDaemonSet, "lint", "-f", "-")
		if f, ok := finding(doc, "daemonset/agent", preflight.RuleDaemonSetNoSurge); !ok || f.Severity != preflight.Error {
			t.Errorf("finding %+v (found %v), want an error", f, ok)
		}
		if r.code != exitcode.Fail {
			t.Errorf("exit %d, want %d", r.code, exitcode.Fail)
		}
	})
	t.Run("every kind of one stream is checked, each against the same Services", func(t *testing.T) {
		toBe, err := os.ReadFile("../../scenarios/to-be.yaml")
		if err != nil {
			t.Fatal(err)
		}
		stream := webService + "---\n" + webStatefulSet + "---\n" + webDaemonSet + "---\n" + string(toBe)
		_, doc := lintDoc(t, nil, stream, "lint", "-f", "-")
		var got []string
		for _, res := range doc.Results {
			got = append(got, res.Workload)
		}
		if want := "statefulset/web daemonset/agent deployment/demo"; strings.Join(got, " ") != want {
			t.Errorf("results for %v, want %s in input order", got, want)
		}
		if res := doc.Results[2]; res.Kind != "Deployment" || res.Deployment != "demo" {
			t.Errorf("the Deployment's result %q deployment %q, want Deployment demo", res.Kind, res.Deployment)
		}
	})
	t.Run("a workload without a namespace goes to the input's one Namespace", func(t *testing.T) {
		ns := "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\n"
		plain := strings.ReplaceAll(webService+"---\n"+webStatefulSet, ", namespace: shop", "")
		_, doc := lintDoc(t, nil, ns+plain, "lint", "-f", "-")
		if len(doc.Results) != 1 || doc.Results[0].Namespace != "team" {
			t.Fatalf("results %+v, want statefulset/web in namespace team", doc.Results)
		}
		if _, ok := finding(doc, "statefulset/web", preflight.RuleOrderedReadyNoReadiness); !ok {
			t.Errorf("the Service of the same input was not paired: %+v", doc.Results[0].Findings)
		}
	})
}

// workloadObjects is clusterObjects with StatefulSet shop/db (OrderedReady,
// no readiness probe) and DaemonSet shop/agent (maxSurge 0, on one node)
// behind the web Service.
func workloadObjects() []runtime.Object {
	labels := map[string]string{"app": "web"}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "web:1",
			Ports:     []corev1.ContainerPort{{ContainerPort: 8080}},
			Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 15}}},
		}}},
	}
	return append(clusterObjects(),
		&appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"},
			Spec: appsv1.StatefulSetSpec{
				Replicas:            func() *int32 { n := int32(3); return &n }(),
				Selector:            &metav1.LabelSelector{MatchLabels: labels},
				Template:            tmpl,
				PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			},
		},
		&appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "shop"},
			Spec: appsv1.DaemonSetSpec{
				Selector:       &metav1.LabelSelector{MatchLabels: labels},
				Template:       tmpl,
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
			},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 1},
		},
	)
}

func TestLintStatefulSetsAndDaemonSetsInTheCluster(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		workload string
		kind     string
		rule     string
		stderr   string
	}{
		{"statefulset/NAME with OrderedReady and no readiness probe fails", []string{"lint", "-n", "shop", "statefulset/db"}, exitcode.Fail,
			"statefulset/db", "StatefulSet", preflight.RuleOrderedReadyNoReadiness, ""},
		{"kubectl's short name sts works", []string{"lint", "-n", "shop", "sts/db"}, exitcode.Fail,
			"statefulset/db", "StatefulSet", preflight.RuleOrderedReadyNoReadiness, ""},
		{"daemonset/NAME with maxSurge 0 on one node fails", []string{"lint", "-n", "shop", "daemonset/agent"}, exitcode.Fail,
			"daemonset/agent", "DaemonSet", preflight.RuleDaemonSetNoSurge, ""},
		{"a missing statefulset exits 2 naming its kind", []string{"lint", "-n", "shop", "statefulset/nope"}, exitcode.Usage,
			"", "", "", "statefulset shop/nope not found"},
		{"a missing daemonset exits 2 naming its kind", []string{"lint", "-n", "shop", "ds/web"}, exitcode.Usage,
			"", "", "", "daemonset shop/web not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(workloadObjects()...)
			if tt.code == exitcode.Usage {
				r := executeLint(t, c, "", tt.args...)
				if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
					t.Errorf("exit %d, want %d; stderr lacks %q?\n%s", r.code, tt.code, tt.stderr, r.stderr)
				}
				return
			}
			r, doc := lintDoc(t, c, "", tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", r.code, tt.code, r.stderr)
			}
			if len(doc.Results) != 1 || doc.Results[0].Kind != tt.kind || doc.Results[0].Workload != tt.workload {
				t.Fatalf("results %+v, want one for %s (%s)", doc.Results, tt.workload, tt.kind)
			}
			f, ok := finding(doc, tt.workload, tt.rule)
			if !ok || f.Severity != preflight.Error {
				t.Errorf("no error %s for %s: %+v", tt.rule, tt.workload, doc.Results[0].Findings)
			}
			// The JSON names the kind in its raw form too.
			if !strings.Contains(r.stdout, `"kind": "`+tt.kind+`"`) || !strings.Contains(r.stdout, `"workload": "`+tt.workload+`"`) {
				t.Errorf("JSON lacks the kind:\n%s", r.stdout)
			}
			text := executeLint(t, c, "", tt.args...)
			if !strings.Contains(text.stdout, tt.workload+" (namespace shop)") {
				t.Errorf("text output does not name %s:\n%s", tt.workload, text.stdout)
			}
		})
	}
}
