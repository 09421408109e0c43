package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rollcheck/rollcheck/exitcode"
	"github.com/rollcheck/rollcheck/rollout"
)

// execute runs the command tree with args. When client is set, the real run
// is used against it; otherwise the run function only records that it ran.
func execute(t *testing.T, client *fake.Clientset, args ...string) (code int, stderr string, ran bool) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	f := newFactory(streams)
	f.kube = func() (kubernetes.Interface, error) { return client, nil }
	runF := func(ctx context.Context, o *RunOptions) error {
		ran = true
		if client == nil {
			return nil
		}
		return o.Run(ctx)
	}
	root := rootWith(f, newRunCommand(f, runF))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return exitCode(err, &errOut), errOut.String(), ran
}

func TestBadInputExitsTwoBeforeTouchingTheCluster(t *testing.T) {
	dir := t.TempDir()
	unknownField := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknownField, []byte("apiVersion: rollcheck/v1\ndeployment: web\nthreshold: {maxFailures: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(manifest, []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notDeployment := filepath.Join(dir, "svc.yaml")
	if err := os.WriteFile(notDeployment, []byte("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := []string{"run", "deployment/web", "--restart", "--target", "http://127.0.0.1:1/"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a malformed URL is named", []string{"run", "web", "--restart", "--target", "127.0.0.1:8080/x"}, "127.0.0.1:8080/x"},
		{"a URL with another scheme is refused", []string{"run", "web", "--restart", "--target", "ftp://127.0.0.1/"}, "ftp"},
		{"a rate of zero is refused", append(ok, "--rate", "0/s"), "0/s"},
		{"a negative rate is refused", append(ok, "--rate", "-5/s"), "-5/s"},
		{"an unparsable rate is refused", append(ok, "--rate", "fast"), "fast"},
		{"a bad duration is refused", append(ok, "--baseline", "10x"), "10x"},
		{"a negative settle is refused", append(ok, "--settle", "-1s"), "--settle must not be negative"},
		{"an unknown scenario field is named", []string{"run", "-f", unknownField, "--restart", "--target", "http://127.0.0.1:1/"}, `unknown field "threshold"`},
		{"a missing scenario file is named", []string{"run", "-f", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"no action is refused", []string{"run", "web", "--target", "http://127.0.0.1:1/"}, "no rollout action: give --restart, --set-image CONTAINER=IMAGE, --apply FILE"},
		{"apply and restart are refused", append(ok, "--apply", manifest), "--apply and --restart are exclusive"},
		{"a missing manifest is named", []string{"run", "--apply", filepath.Join(dir, "gone.yaml"), "--target", "http://127.0.0.1:1/"}, "gone.yaml"},
		{"a manifest of another kind is refused", []string{"run", "--apply", notDeployment, "--target", "http://127.0.0.1:1/"}, "is v1 Service"},
		{"a manifest of another deployment is refused", []string{"run", "api", "--apply", manifest, "--target", "http://127.0.0.1:1/"}, "is deployment/web, not deployment/api"},
		{"a switch without selector is refused", []string{"run", "--switch-service", "web", "--target", "http://127.0.0.1:1/"}, "--switch-service needs --selector"},
		{"a selector without switch is refused", append(ok, "--selector", "color=green"), "--selector goes with --switch-service"},
		{"a malformed selector is refused", []string{"run", "--switch-service", "web", "--selector", "color", "--target", "http://127.0.0.1:1/"}, `selector "color"`},
		{"canary steps without canary are refused", []string{"run", "web", "--canary-steps", "3/1", "--target", "http://127.0.0.1:1/"}, "--canary-steps needs --canary NAME"},
		{"a malformed canary step is refused", []string{"run", "web", "--canary", "web-canary", "--canary-steps", "3/1,2", "--target", "http://127.0.0.1:1/"}, `canary step "2"`},
		{"a canary equal to stable is refused", []string{"run", "web", "--canary", "web", "--canary-steps", "3/1", "--target", "http://127.0.0.1:1/"}, "both \"web\""},
		{"repeat without restart is refused", []string{"run", "web", "--set-image", "app=x:2", "--repeat", "3", "--target", "http://127.0.0.1:1/"}, "--repeat goes with --restart only"},
		{"repeat zero is refused", append(ok, "--repeat", "0"), "--repeat must be 1 or more"},
		{"a negative step hold is refused", append(ok, "--step-hold", "-1s"), "--step-hold must not be negative"},
		{"two actions are refused", append(ok, "--set-image", "app=x:1"), "exclusive"},
		{"a set-image without = is refused", []string{"run", "web", "--set-image", "app", "--target", "http://127.0.0.1:1/"}, "app"},
		{"no target is refused", []string{"run", "web", "--restart"}, "no target"},
		{"a malformed header is refused", append(ok, "-H", "nocolon"), "nocolon"},
		{"a ratio above one is refused", append(ok, "--max-failure-ratio", "1.5"), "--max-failure-ratio"},
		{"a kind kubectl cannot roll out is refused", []string{"run", "cronjob/db", "--restart", "--target", "http://127.0.0.1:1/"}, "cronjob"},
		{"canary weights without a route are refused", []string{"run", "--canary-service", "web-canary", "--canary-weights", "90/10", "--target", "http://127.0.0.1:1/"}, "--canary-weights needs --canary-route NAME"},
		{"canary weights without the canary's Service are refused", []string{"run", "--canary-route", "web", "--canary-weights", "90/10", "--target", "http://127.0.0.1:1/"}, "and --canary-service NAME"},
		{"negative canary weights are refused", []string{"run", "--canary-route", "web", "--canary-service", "c", "--canary-weights", "90/10,-1/101", "--target", "http://127.0.0.1:1/"}, `canary weights "-1/101": weights must be whole numbers 0 or more`},
		{"canary weights of 0/0 are refused", []string{"run", "--canary-route", "web", "--canary-service", "c", "--canary-weights", "0/0", "--target", "http://127.0.0.1:1/"}, "send the route's traffic nowhere"},
		{"a route of another kind is refused", []string{"run", "--canary-route", "ingress/web", "--canary-service", "c", "--canary-weights", "90/10", "--target", "http://127.0.0.1:1/"}, "want NAME or httproute/NAME"},
		{"the same stable and canary Service are refused", []string{"run", "--service", "web", "--canary-route", "web", "--canary-service", "web", "--canary-weights", "90/10", "--target", "http://127.0.0.1:1/"}, "must differ"},
		{"a route flag without weights is refused", []string{"run", "web", "--restart", "--canary-route", "web", "--target", "http://127.0.0.1:1/"}, "--canary-route goes with --canary-weights"},
		{"canary weights and canary steps are refused together", []string{"run", "web", "--canary", "c", "--canary-steps", "1/1", "--canary-route", "web", "--canary-service", "c", "--canary-weights", "90/10", "--target", "http://127.0.0.1:1/"}, "are exclusive"},
		{"a StatefulSet takes no canary weights", []string{"run", "statefulset/db", "--canary-route", "web", "--canary-service", "c", "--canary-weights", "90/10", "--target", "http://127.0.0.1:1/"}, "a StatefulSet takes --restart"},
		{"a StatefulSet takes no canary steps", []string{"run", "statefulset/db", "--canary", "db2", "--canary-steps", "1/1", "--target", "http://127.0.0.1:1/"}, "a StatefulSet takes --restart"},
		{"a DaemonSet takes no switch", []string{"run", "ds/agent", "--switch-service", "agent", "--selector", "v=2", "--target", "http://127.0.0.1:1/"}, "a DaemonSet takes --restart"},
		{"an unknown flag is refused", append(ok, "--rat", "5"), "unknown flag: --rat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stderr, ran := execute(t, nil, tt.args...)
			if code != exitcode.Usage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitcode.Usage, stderr)
			}
			if ran {
				t.Error("the run started despite bad input")
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not name %q:\n%s", tt.want, stderr)
			}
		})
	}
}

func TestFlagsOverrideTheScenarioFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(file, []byte("apiVersion: rollcheck/v1\ndeployment: web\naction: {restart: true}\nload: {targets: [\"http://127.0.0.1:1/\"], rate: 10/s}\nphases: {baseline: 7s}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got *RunOptions
	f := newFactory(genericiooptions.NewTestIOStreamsDiscard())
	root := rootWith(f, newRunCommand(f, func(_ context.Context, o *RunOptions) error { got = o; return nil }))
	root.SetArgs([]string{"run", "-f", file, "--rate", "20/s", "-n", "shop"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got.Rate != "20/s" || got.Baseline.Seconds() != 7 || got.Deployment != "web" || !got.Restart || got.Namespace != "shop" {
		t.Errorf("merged options: rate %s baseline %s deployment %s restart %v namespace %s", got.Rate, got.Baseline, got.Deployment, got.Restart, got.Namespace)
	}
	c := got.Config
	if c.Attack.Rate.Freq != 20 || c.Baseline.Seconds() != 7 || c.Deployment != "web" || c.Action.Kind != rollout.ActionRestart || c.Namespace != "shop" {
		t.Errorf("config: rate %v baseline %s deployment %s action %s namespace %s", c.Attack.Rate, c.Baseline, c.Deployment, c.Action.Kind, c.Namespace)
	}
}

func TestAScenarioFilesCanaryWeightsBecomeTheRunsWeights(t *testing.T) {
	body := "apiVersion: rollcheck/v1\nservice: web\naction: {canaryWeights: {route: httproute/web, service: web-canary, steps: [90/10, 0/100], keep: true}}\nload: {targets: [\"http://127.0.0.1:1/\"]}\n"
	if _, err := runScenario(t, body, "--canary-weights", "80/20", "-n", "shop"); !strings.Contains(fmt.Sprint(err), "--canary-weights needs --canary-route") {
		// A flag of the action replaces the file's action as a whole.
		t.Errorf("an action flag merged with the file's action: %v", err)
	}
	got, err := runScenario(t, body, "-n", "shop")
	if err != nil {
		t.Fatal(err)
	}
	w := got.Config.Weights
	if w == nil || w.Route != "web" || w.CanaryService != "web-canary" || !w.Keep || len(w.Steps) != 2 || w.Steps[1] != (rollout.WeightStep{Stable: 0, Canary: 100}) || got.Config.Service != "web" {
		t.Errorf("weights %+v, service %q", w, got.Config.Service)
	}
}

func TestAScenarioFilesDrainBecomesTheRunsDrain(t *testing.T) {
	body := "apiVersion: rollcheck/v1\ndeployment: web\naction: {drain: {node: node-2, uncordon: true}}\nload: {targets: [\"http://127.0.0.1:1/\"]}\n"
	got, err := runScenario(t, body, "-n", "shop")
	if err != nil {
		t.Fatal(err)
	}
	if d := got.Config.Drain; d == nil || d.Node != "node-2" || !d.Uncordon || got.Config.Action.Kind != rollout.ActionDrain {
		t.Errorf("drain %+v, action %s", d, got.Config.Action.Kind)
	}
	// A flag of the action replaces the file's action as a whole.
	if got, err = runScenario(t, body, "-n", "shop", "--restart"); err != nil {
		t.Fatal(err)
	}
	if got.Config.Drain != nil || got.Config.Action.Kind != rollout.ActionRestart {
		t.Errorf("--restart over the file's drain: drain %+v, action %s", got.Config.Drain, got.Config.Action.Kind)
	}
}

// runScenario runs `run -f FILE args...` with body as the file, up to the
// options the command would run with.
func runScenario(t *testing.T, body string, args ...string) (*RunOptions, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var got *RunOptions
	f := newFactory(genericiooptions.NewTestIOStreamsDiscard())
	root := rootWith(f, newRunCommand(f, func(_ context.Context, o *RunOptions) error { got = o; return nil }))
	root.SetArgs(append([]string{"run", "-f", file}, args...))
	return got, root.ExecuteContext(context.Background())
}

func allowAll(client *fake.Clientset, deny string) {
	client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		r.Status.Allowed = r.Spec.ResourceAttributes.Verb != deny
		return true, r, nil
	})
}

func patched(client *fake.Clientset) bool {
	for _, a := range client.Actions() {
		if a.GetVerb() == "patch" || a.GetVerb() == "update" {
			return true
		}
	}
	return false
}

func deployment() *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}},
			},
		},
	}
}

// wantStoppedBeforeChange runs args against client (denying verb deny) and
// wants exit code with stderr naming want, and nothing patched.
func wantStoppedBeforeChange(t *testing.T, client *fake.Clientset, deny string, args []string, code int, want string) {
	t.Helper()
	allowAll(client, deny)
	got, stderr, _ := execute(t, client, args...)
	if got != code {
		t.Errorf("exit %d, want %d:\n%s", got, code, stderr)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if patched(client) {
		t.Error("something was patched")
	}
}

func TestClusterProblemsStopBeforeAnyPatch(t *testing.T) {
	base := []string{"run", "-n", "default", "--target", "http://127.0.0.1:1/", "--baseline", "0s", "--settle", "0s"}
	tests := []struct {
		name   string
		objs   bool
		deny   string
		args   []string
		code   int
		stderr string
	}{
		{"a missing deployment exits 2 and names it", false, "", []string{"deployment/web", "--restart"}, exitcode.Usage, `"web"`},
		{"an unknown container exits 2 and lists the real ones", true, "", []string{"web", "--set-image", "nginx=nginx:2"}, exitcode.Usage, "app"},
		{"a caller that may not patch exits 4 naming the verb", true, "patch", []string{"web", "--restart"}, exitcode.Runtime, "cannot patch deployments.apps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			if tt.objs {
				client = fake.NewClientset(deployment())
			}
			wantStoppedBeforeChange(t, client, tt.deny, append(base, tt.args...), tt.code, tt.stderr)
		})
	}
}
