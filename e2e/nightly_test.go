package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// workflow is the part of a GitHub Actions workflow the nightly recipe uses.
type workflow struct {
	Name string `json:"name"`
	// On is the workflow's "on:" key, which YAML 1.1 (as sigs.k8s.io/yaml
	// reads it) takes for the boolean true; GitHub reads it as "on".
	On struct {
		Schedule []struct {
			Cron string `json:"cron"`
		} `json:"schedule"`
	} `json:"true"`
	Jobs map[string]struct {
		Env   map[string]string `json:"env"`
		Steps []workflowStep    `json:"steps"`
	} `json:"jobs"`
}

type workflowStep struct {
	Name string            `json:"name"`
	Uses string            `json:"uses"`
	With map[string]string `json:"with"`
	Env  map[string]string `json:"env"`
	Run  string            `json:"run"`
	If   string            `json:"if"`
}

// runner plays one night of a workflow job as GitHub's runner would: the
// shell steps run in order with bash -eo pipefail, in a checkout of the
// user's repository, with the job's and the step's env, GITHUB_ENV and
// RUNNER_TEMP; a step after a failed one runs only under always(). Of the
// action steps, checkout and setup-go are the checkout and Go the test
// already has, and the two that consume reports are checked for the files
// they would publish. The install step is the one shell step not run: the
// rollcheck under test stands in for the released one.
type runner struct {
	t       *testing.T
	repo    string
	path    string            // directory with rollcheck, first on PATH
	secrets map[string]string // ${{ expression }} → value
}

// stepResult is what one step did.
type stepResult struct {
	name   string
	ran    bool
	failed bool
	out    string
}

var expression = regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)

// expand replaces the expressions the runner knows; an unknown one fails the
// test, so that the recipe and this runner cannot drift apart unseen.
func (r *runner) expand(s string) string {
	return expression.ReplaceAllStringFunc(s, func(m string) string {
		key := expression.FindStringSubmatch(m)[1]
		v, ok := r.secrets[key]
		if !ok {
			r.t.Fatalf("the workflow uses ${{ %s }}, which the test runner does not know", key)
		}
		return v
	})
}

func (r *runner) night(wf workflow) (steps []stepResult, failed bool) {
	r.t.Helper()
	temp := r.t.TempDir()
	githubEnv := filepath.Join(temp, "github_env")
	if err := os.WriteFile(githubEnv, nil, 0o600); err != nil {
		r.t.Fatal(err)
	}
	job := wf.Jobs["rollout"]
	for _, st := range job.Steps {
		res := stepResult{name: st.Name}
		if res.name == "" {
			res.name = st.Uses
		}
		always := strings.Contains(st.If, "always()")
		if st.If != "" && !always {
			r.t.Fatalf("step %q: condition %q is not one the test runner evaluates", res.name, st.If)
		}
		if failed && !always {
			steps = append(steps, res)
			continue
		}
		res.ran = true
		switch {
		case strings.HasPrefix(st.Uses, "actions/checkout@"), strings.HasPrefix(st.Uses, "actions/setup-go@"):
		case strings.HasPrefix(st.Uses, "mikepenz/action-junit-report@"):
			res.failed = !isJUnit(filepath.Join(r.repo, st.With["report_paths"]))
		case strings.HasPrefix(st.Uses, "actions/upload-artifact@"):
			r.expand(st.With["name"])
			_, err := os.Stat(filepath.Join(r.repo, st.With["path"], "tonight.json"))
			res.failed = err != nil
		case st.Uses != "":
			r.t.Fatalf("step uses %s, which the test runner does not know", st.Uses)
		case strings.Contains(st.Run, "go install"):
			res.ran = false
		default:
			res.out, res.failed = r.shell(st, job.Env, githubEnv, temp)
		}
		r.t.Logf("step %q ran=%v failed=%v\n%s", res.name, res.ran, res.failed, res.out)
		failed = failed || res.failed
		steps = append(steps, res)
	}
	return steps, failed
}

func (r *runner) shell(st workflowStep, jobEnv map[string]string, githubEnv, temp string) (string, bool) {
	r.t.Helper()
	if strings.Contains(st.Run, "${{") {
		r.t.Fatalf("step %q puts an expression in its script; pass it through env", st.Name)
	}
	env := []string{"HOME=" + os.Getenv("HOME"), "PATH=" + r.path + string(os.PathListSeparator) + os.Getenv("PATH"),
		"GITHUB_ENV=" + githubEnv, "RUNNER_TEMP=" + temp, "CI=true"}
	for _, m := range []map[string]string{jobEnv, st.Env} {
		for k, v := range m {
			env = append(env, k+"="+r.expand(v))
		}
	}
	data, err := os.ReadFile(githubEnv)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line != "" {
			env = append(env, line)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", st.Run)
	cmd.Dir, cmd.Env = r.repo, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err != nil
}

func isJUnit(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var suites struct {
		XMLName xml.Name
	}
	return xml.Unmarshal(data, &suites) == nil && strings.HasPrefix(suites.XMLName.Local, "testsuite")
}

func verdictOf(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Verdict string `json:"verdict"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	return rep.Verdict
}

// TestNightlyGitHubWorkflow runs the nightly recipe
// (scenarios/nightly/github-workflow.yml) for two nights on the lab. Night 1,
// the fixed Deployment and no baseline yet: the job passes and keeps the
// reports. Its JSON report becomes the baseline, as the recipe says. Night 2,
// a change reintroduces dropped requests (the as-is Deployment): the run
// step fails on the verdict, the comparison still runs and fails on the
// regression, and the JUnit and JSON reports are still published and kept.
func TestNightlyGitHubWorkflow(t *testing.T) {
	needLab(t)
	data, err := os.ReadFile("../scenarios/nightly/github-workflow.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatalf("the workflow is not YAML: %v", err)
	}
	if len(wf.On.Schedule) != 1 || len(strings.Fields(wf.On.Schedule[0].Cron)) != 5 {
		t.Fatalf("the workflow's schedule %+v is not one five-field cron line", wf.On.Schedule)
	}
	job, ok := wf.Jobs["rollout"]
	if !ok || job.Env["SCENARIO"] == "" || job.Env["BASELINE"] == "" {
		t.Fatalf("the workflow has no job 'rollout' with SCENARIO and BASELINE")
	}

	repo := t.TempDir()
	scenario := filepath.Join(repo, job.Env["SCENARIO"])
	if err := os.MkdirAll(filepath.Dir(scenario), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(scenario, []byte(manifest(t, "to-be.scenario.yaml")), 0o644); err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := os.ReadFile(lab.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(lab.rollcheck, filepath.Join(bin, "rollcheck")); err != nil {
		t.Fatal(err)
	}
	r := &runner{t: t, repo: repo, path: bin, secrets: map[string]string{
		"secrets.KUBECONFIG":    string(kubeconfig),
		"vars.ROLLCHECK_TARGET": lab.lbURL + "/",
		"always()":              "true",
		"github.run_id":         "1",
	}}
	ran := func(steps []stepResult, name string) stepResult {
		for _, s := range steps {
			if strings.HasPrefix(s.name, name) {
				return s
			}
		}
		t.Fatalf("no step %q", name)
		return stepResult{}
	}

	resetDemo(t)
	steps, failed := r.night(wf)
	tonight := filepath.Join(repo, "reports", "tonight.json")
	if failed || verdictOf(t, tonight) != "PASS" {
		t.Fatalf("night 1 (fixed Deployment, no baseline): job failed=%v, want a passing job with a PASS report", failed)
	}
	if s := ran(steps, "Compare with the baseline"); !strings.Contains(s.out, "no baseline") {
		t.Errorf("night 1 compare step: %q, want it to say there is no baseline yet", s.out)
	}
	for _, f := range []string{"junit.xml", "report.html", "rollcheck.prom"} {
		if _, err := os.Stat(filepath.Join(repo, "reports", f)); err != nil {
			t.Errorf("night 1 did not keep reports/%s: %v", f, err)
		}
	}
	baseline := filepath.Join(repo, job.Env["BASELINE"])
	good, err := os.ReadFile(tonight)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(baseline, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(repo, "reports")); err != nil {
		t.Fatal(err)
	}

	kubectlApply(t, manifest(t, "as-is.yaml"))
	waitSteady(t)
	defer resetDemo(t)
	steps, failed = r.night(wf)
	if !failed || verdictOf(t, tonight) != "FAIL" {
		t.Fatalf("night 2 (as-is Deployment): job failed=%v, want a failed job with a FAIL report", failed)
	}
	for _, want := range []struct {
		name   string
		failed bool
	}{{"Run the scenario", true}, {"Compare with the baseline", true}, {"Publish the JUnit report", false}, {"Keep the reports", false}} {
		s := ran(steps, want.name)
		if !s.ran || s.failed != want.failed {
			t.Errorf("night 2 step %q: ran=%v failed=%v, want it run and failed=%v", want.name, s.ran, s.failed, want.failed)
		}
	}
	if s := ran(steps, "Compare with the baseline"); !strings.Contains(s.out, "failed requests") {
		t.Errorf("night 2 compare step does not show the failed requests:\n%s", s.out)
	}
}
