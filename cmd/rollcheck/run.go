package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/preflight"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
	"github.com/rollcheck/rollcheck/scenarios"
)

const runExample = `  # Restart deployment/web under 200 requests/s through its load balancer
  rollcheck run --deployment web --restart --target http://web.example.internal/ --rate 200/s

  # Roll out a new image and attribute failures to pods by a response header
  rollcheck run -n shop deployment/cart --set-image app=registry.example/cart:v2 \
      --target https://cart.example.internal/healthz --pod-header X-Pod-Name \
      --report-json cart.json

  # Verify a rollout that helm starts: rollcheck waits for it, then judges it
  rollcheck run deployment/web --watch-only --target https://web.example.internal/ &
  helm upgrade web ./chart && wait $!

  # The same settings from a scenario file; flags override the file
  rollcheck run -f scenarios/as-is.scenario.yaml --target http://127.0.0.1:8080/ --rate 50/s`

// RunOptions are the settings of one `rollcheck run`, after flags and the
// scenario file are merged.
type RunOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	ScenarioFile string

	Targets   []string
	Method    string
	Headers   []string
	Body      string
	Rate      string
	Timeout   time.Duration
	KeepAlive bool
	HTTP2     bool
	PodHeader string

	Namespace  string
	Deployment string
	Service    string
	Restart    bool
	SetImage   []string
	WatchOnly  bool
	WatchWait  time.Duration

	Baseline       time.Duration
	Settle         time.Duration
	RolloutTimeout time.Duration
	BucketWidth    time.Duration

	MaxFailures     int
	MaxFailureRatio float64
	MaxDisrupted    time.Duration
	MinSuccessRatio float64

	ReportJSON  string
	ReportJUnit string
	ReportHTML  string
	Results     string
	SkipAccess  bool

	// parsed by Validate
	attackConfig attack.Config
	action       rollout.Action
	thresholds   report.Thresholds

	// NewClient returns the cluster client; tests replace it with a fake.
	NewClient func() (kubernetes.Interface, error)
	// Now is the clock of the run.
	Now func() time.Time
}

func newRunCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, runFn func(context.Context, *RunOptions) error) *cobra.Command {
	o := &RunOptions{
		configFlags:     flags,
		IOStreams:       streams,
		Method:          http.MethodGet,
		Rate:            "50/s",
		Timeout:         5 * time.Second,
		KeepAlive:       true,
		Baseline:        10 * time.Second,
		Settle:          10 * time.Second,
		BucketWidth:     100 * time.Millisecond,
		MaxFailureRatio: -1,
		MinSuccessRatio: -1,
		Now:             time.Now,
	}
	o.NewClient = func() (kubernetes.Interface, error) {
		cfg, err := o.configFlags.ToRESTConfig()
		if err != nil {
			return nil, configError{fmt.Errorf("loading kubeconfig: %w", err)}
		}
		return kubernetes.NewForConfig(cfg)
	}
	cmd := &cobra.Command{
		Use:   "run [deployment/NAME] --target URL (--restart | --set-image CONTAINER=IMAGE | --watch-only)",
		Short: "Roll out a Deployment under constant load and judge whether any request failed",
		Long: `run sends a constant-rate HTTP load to --target, waits --baseline, triggers the
rollout of the Deployment (--restart or --set-image), follows it to completion as
'kubectl rollout status' does, keeps the load for --settle, and prints a verdict:

  PASS          no threshold broken (exit 0)
  FAIL          a threshold broken or the rollout did not complete (exit 1)
  INCONCLUSIVE  the baseline already failed or the load did not reach 95% of
                its rate (exit 3)

Every request failure is listed with the pod lifecycle events around it.`,
		Example: runExample,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				fmt.Fprintln(o.ErrOut, cmd.UsageString())
				return usageError{err}
			}
			if runFn != nil {
				return runFn(cmd.Context(), o)
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.ScenarioFile, "filename", "f", "", "scenario file (YAML); flags given on the command line override it")
	f.StringArrayVar(&o.Targets, "target", nil, "URL to load (repeatable; used round robin)")
	f.StringVar(&o.Method, "method", o.Method, "HTTP method")
	f.StringArrayVarP(&o.Headers, "header", "H", nil, "request header \"Key: value\" (repeatable)")
	f.StringVar(&o.Body, "body", "", "request body")
	f.StringVar(&o.Rate, "rate", o.Rate, "constant request rate, as N/s, N/100ms or N/1m")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "timeout of each request")
	f.BoolVar(&o.KeepAlive, "keepalive", o.KeepAlive, "reuse connections (keep-alive)")
	f.BoolVar(&o.HTTP2, "http2", false, "use HTTP/2 when the target offers it")
	f.StringVar(&o.PodHeader, "pod-header", "", "response header that names the serving pod (e.g. X-Pod-Name), to attribute responses to pods; a comma-separated list tries each in order (e.g. X-Pod-Name,X-Lab-Target for the app's and the load balancer's)")
	f.StringVar(&o.Deployment, "deployment", "", "the Deployment to roll out (NAME or deployment/NAME)")
	f.StringVar(&o.Service, "service", "", "the Service whose EndpointSlices to watch (default: every Service selecting the pods)")
	f.BoolVar(&o.Restart, "restart", false, "trigger the rollout as 'kubectl rollout restart' does")
	f.BoolVar(&o.WatchOnly, "watch-only", false, "do not start the rollout: wait for one that someone else starts (helm upgrade, kubectl apply) and verify it")
	f.DurationVar(&o.WatchWait, "watch-timeout", 10*time.Minute, "with --watch-only: give up (INCONCLUSIVE) when no rollout starts within this long after the baseline")
	f.StringArrayVar(&o.SetImage, "set-image", nil, "trigger the rollout as 'kubectl set image' does: CONTAINER=IMAGE (repeatable)")
	f.DurationVar(&o.Baseline, "baseline", o.Baseline, "load before the rollout; failures here make the run INCONCLUSIVE")
	f.DurationVar(&o.Settle, "settle", o.Settle, "load after the rollout completes, to catch late failures")
	f.DurationVar(&o.RolloutTimeout, "rollout-timeout", 0, "give up on the rollout after this long (default: the Deployment's progressDeadlineSeconds + 30s)")
	f.DurationVar(&o.BucketWidth, "bucket", o.BucketWidth, "width of the time buckets results are counted in")
	f.IntVar(&o.MaxFailures, "max-failures", 0, "FAIL when more requests than this fail after the baseline")
	f.Float64Var(&o.MaxFailureRatio, "max-failure-ratio", -1, "FAIL when the failed share of requests is above this (0..1; -1 off)")
	f.DurationVar(&o.MaxDisrupted, "max-disrupted", 0, "FAIL when time with failures (in buckets) is longer than this")
	f.Float64Var(&o.MinSuccessRatio, "min-success-ratio", -1, "FAIL when the successful share of requests is below this (0..1; -1 off)")
	f.StringVar(&o.ReportJSON, "report-json", "", "write the report as JSON to this file")
	f.StringVar(&o.Results, "results", "", "also write every request's result in vegeta's encoding to this file (for 'vegeta report' and 'vegeta plot')")
	f.StringVar(&o.ReportHTML, "report-html", "", "write a self-contained HTML timeline (chart and pod swimlanes) to this file")
	f.StringVar(&o.ReportJUnit, "report-junit", "", "write the checks and causes as a JUnit XML test suite to this file, for CI")
	f.BoolVar(&o.SkipAccess, "skip-access-check", false, "do not check RBAC permissions with SelfSubjectAccessReview first")
	return cmd
}

// Complete fills the options from the scenario file, the positional argument
// and the kubeconfig. Flags the user set win over the file.
func (o *RunOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		if o.Deployment != "" {
			return usagef("give the deployment once: as an argument or with --deployment")
		}
		o.Deployment = args[0]
	}
	if o.ScenarioFile != "" {
		s, err := scenarios.LoadFile(o.ScenarioFile)
		if err != nil {
			return usageError{err}
		}
		o.applyScenario(s, cmd.Flags().Changed)
	}
	ns, explicit, err := o.configFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return configError{fmt.Errorf("reading namespace from kubeconfig: %w", err)}
	}
	if o.Namespace == "" || explicit {
		o.Namespace = ns
	}
	return nil
}

// applyScenario copies the file's settings into o where no flag was given.
func (o *RunOptions) applyScenario(s *scenarios.Scenario, changed func(string) bool) {
	setS := func(flag string, dst *string, v string) {
		if v != "" && !changed(flag) {
			*dst = v
		}
	}
	setD := func(flag string, dst *time.Duration, v *scenarios.Duration) {
		if v != nil && !changed(flag) {
			*dst = v.Duration
		}
	}
	setB := func(flag string, dst *bool, v *bool) {
		if v != nil && !changed(flag) {
			*dst = *v
		}
	}
	setF := func(flag string, dst *float64, v *float64) {
		if v != nil && !changed(flag) {
			*dst = *v
		}
	}
	o.Namespace = s.Namespace
	setS("deployment", &o.Deployment, s.Deployment)
	setS("service", &o.Service, s.Service)
	if !changed("restart") && !changed("set-image") && !changed("watch-only") {
		o.Restart = s.Action.Restart
		o.WatchOnly = s.Action.WatchOnly
		for c, img := range s.Action.SetImage {
			o.SetImage = append(o.SetImage, c+"="+img)
		}
	}
	if len(s.Load.Targets) > 0 && !changed("target") {
		o.Targets = s.Load.Targets
	}
	if len(s.Load.Headers) > 0 && !changed("header") {
		o.Headers = s.Load.Headers
	}
	setS("method", &o.Method, s.Load.Method)
	setS("body", &o.Body, s.Load.Body)
	setS("rate", &o.Rate, s.Load.Rate)
	setD("timeout", &o.Timeout, s.Load.Timeout)
	setB("keepalive", &o.KeepAlive, s.Load.KeepAlive)
	setB("http2", &o.HTTP2, s.Load.HTTP2)
	if s.Load.PodHeader != nil {
		setS("pod-header", &o.PodHeader, *s.Load.PodHeader)
	}
	setD("baseline", &o.Baseline, s.Phases.Baseline)
	setD("settle", &o.Settle, s.Phases.Settle)
	setD("rollout-timeout", &o.RolloutTimeout, s.Phases.RolloutTimeout)
	if s.Thresholds.MaxFailures != nil && !changed("max-failures") {
		o.MaxFailures = *s.Thresholds.MaxFailures
	}
	setF("max-failure-ratio", &o.MaxFailureRatio, s.Thresholds.MaxFailureRatio)
	setF("min-success-ratio", &o.MinSuccessRatio, s.Thresholds.MinSuccessRatio)
	setD("max-disrupted", &o.MaxDisrupted, s.Thresholds.MaxDisrupted)
}

// Validate parses every setting. Nothing has touched the cluster yet, so any
// error here exits 2 with the cluster unchanged.
func (o *RunOptions) Validate() error {
	if len(o.Targets) == 0 {
		return errors.New("no target: give --target URL (or load.targets in the scenario)")
	}
	if o.Deployment == "" {
		return errors.New("no deployment: give deployment/NAME or --deployment NAME")
	}
	name, err := rollout.ParseDeploymentName(o.Deployment)
	if err != nil {
		return err
	}
	o.Deployment = name
	actions := 0
	for _, set := range []bool{o.Restart, len(o.SetImage) > 0, o.WatchOnly} {
		if set {
			actions++
		}
	}
	switch {
	case actions > 1:
		return errors.New("--restart, --set-image and --watch-only are exclusive: choose one action")
	case o.WatchOnly:
		if o.WatchWait < 0 {
			return fmt.Errorf("--watch-timeout must not be negative, got %s", o.WatchWait)
		}
		o.action = rollout.Action{Kind: rollout.ActionWatch}
	case o.Restart:
		o.action = rollout.Action{Kind: rollout.ActionRestart}
	case len(o.SetImage) > 0:
		images, err := rollout.ParseImages(o.SetImage)
		if err != nil {
			return err
		}
		o.action = rollout.Action{Kind: rollout.ActionSetImage, Images: images}
	default:
		return errors.New("no rollout action: give --restart, --set-image CONTAINER=IMAGE or --watch-only")
	}
	rate, err := attack.ParseRate(o.Rate)
	if err != nil {
		return err
	}
	header := http.Header{}
	for _, h := range o.Headers {
		k, v, err := attack.ParseHeader(h)
		if err != nil {
			return err
		}
		header.Add(k, v)
	}
	var targets []attack.Target
	for _, t := range o.Targets {
		u, err := attack.ParseTargetURL(t)
		if err != nil {
			return err
		}
		targets = append(targets, attack.Target{Method: strings.ToUpper(o.Method), URL: u.String(), Header: header, Body: []byte(o.Body)})
	}
	for name, d := range map[string]time.Duration{"--timeout": o.Timeout, "--baseline": o.Baseline, "--settle": o.Settle, "--rollout-timeout": o.RolloutTimeout, "--max-disrupted": o.MaxDisrupted} {
		if d < 0 {
			return fmt.Errorf("%s must not be negative, got %s", name, d)
		}
	}
	if o.BucketWidth < time.Millisecond {
		return fmt.Errorf("--bucket must be at least 1ms, got %s", o.BucketWidth)
	}
	if o.MaxFailures < 0 {
		return fmt.Errorf("--max-failures must be 0 or more, got %d", o.MaxFailures)
	}
	for name, v := range map[string]float64{"--max-failure-ratio": o.MaxFailureRatio, "--min-success-ratio": o.MinSuccessRatio} {
		if v != -1 && (v < 0 || v > 1) {
			return fmt.Errorf("%s must be between 0 and 1 (or -1 for off), got %g", name, v)
		}
	}
	o.attackConfig = attack.Config{
		Targets:     targets,
		Rate:        rate,
		Timeout:     o.Timeout,
		KeepAlive:   o.KeepAlive,
		HTTP2:       o.HTTP2,
		BucketWidth: o.BucketWidth,
		PodHeader:   o.PodHeader,
	}
	if _, err := attack.New(o.attackConfig); err != nil {
		return err
	}
	o.thresholds = report.Thresholds{
		MaxFailures:     o.MaxFailures,
		MaxFailureRatio: o.MaxFailureRatio,
		MaxDisrupted:    o.MaxDisrupted,
		MinSuccessRatio: o.MinSuccessRatio,
	}
	return nil
}

// Run does the work: checks, load, baseline, trigger, rollout, settle, report.
func (o *RunOptions) Run(ctx context.Context) error {
	client, err := o.NewClient()
	if err != nil {
		return err
	}
	w := rollout.NewWatcher(client, rollout.Config{
		Namespace:  o.Namespace,
		Deployment: o.Deployment,
		Service:    o.Service,
		Action:     o.action,
		Now:        o.Now,
	})
	if err := w.Prepare(ctx); err != nil {
		if errors.Is(err, rollout.ErrNotFound) || errors.Is(err, rollout.ErrInvalid) {
			return configError{err}
		}
		return fmt.Errorf("reading deployment/%s: %w", o.Deployment, err)
	}
	if !o.SkipAccess {
		if err := rollout.CheckAccess(ctx, client, o.Namespace, o.Deployment); err != nil {
			return err
		}
	}
	pin, err := fetchPreflightInput(ctx, client, o.Namespace, o.Deployment, o.ErrOut)
	if err != nil {
		return err
	}
	findings := preflight.Check(pin, preflight.Options{})
	if err := w.Start(ctx); err != nil {
		return fmt.Errorf("watching deployment/%s: %w", o.Deployment, err)
	}
	defer w.Stop()

	timeout := o.RolloutTimeout
	if timeout == 0 {
		timeout = 630 * time.Second
		if d := w.Deployment(); d != nil && d.Spec.ProgressDeadlineSeconds != nil {
			timeout = time.Duration(*d.Spec.ProgressDeadlineSeconds)*time.Second + 30*time.Second
		}
	}

	cfg := o.attackConfig
	var results *resultsFile
	if o.Results != "" {
		if results, err = createResults(o.Results); err != nil {
			return err
		}
		defer results.f.Close() // on early returns; closed with a check below
		cfg.ResultsWriter = results.w
	}
	atk, err := attack.New(cfg)
	if err != nil {
		return usageError{err}
	}
	st := newStatusLine(o.ErrOut, atk, w)
	atk.Start(ctx)
	st.start(ctx)

	var (
		outcome     rollout.Outcome
		interrupted bool
		skipped     string
	)
	st.setPhase("baseline")
	if !sleepCtx(ctx, o.Baseline) {
		interrupted = true
	}
	if !interrupted {
		snap := atk.Snapshot()
		if snap.Failures > 0 {
			skipped = fmt.Sprintf("rollout not triggered: %d of %d requests already failed in the baseline", snap.Failures, snap.Requests)
		} else if snap.Requests == 0 {
			skipped = "rollout not triggered: no request completed in the baseline"
		}
	}
	if !interrupted && skipped == "" {
		var started bool
		if o.WatchOnly {
			st.setPhase("waiting")
			fmt.Fprintf(o.ErrOut, "waiting up to %s for a rollout of deployment/%s started elsewhere\n", o.WatchWait, o.Deployment)
			if err := w.AwaitExternal(ctx, o.WatchWait); err != nil {
				if ctx.Err() != nil {
					interrupted = true
				} else {
					skipped = "no rollout to verify: " + err.Error()
				}
			} else {
				started = true
			}
		} else {
			if err := w.Trigger(ctx); err != nil {
				st.stop()
				atk.Stop()
				return fmt.Errorf("triggering the rollout: %w", err)
			}
			started = true
		}
		if started {
			st.setPhase("rollout")
			outcome = w.Wait(ctx, timeout)
		}
		if ctx.Err() != nil {
			interrupted = true
		}
		if !interrupted && outcome.Completed {
			st.setPhase("settle")
			if !sleepCtx(ctx, o.Settle) {
				interrupted = true
			}
		}
	}
	st.stop()
	res := atk.Stop()
	if results != nil {
		if err := errors.Join(atk.Err(), results.close()); err != nil {
			fmt.Fprintf(o.ErrOut, "warning: writing --results %s: %v\n", o.Results, err)
		}
	}
	if outcome.StartedAt.IsZero() {
		outcome.Triggered = false
	}

	rep := report.Build(report.Input{
		Namespace:   o.Namespace,
		Deployment:  o.Deployment,
		Action:      o.actionString(),
		Services:    w.Services(),
		Spec:        w.Deployment(),
		Preflight:   findings,
		Targets:     redacted(o.Targets),
		Attack:      res,
		Events:      w.Events(),
		Outcome:     outcome,
		Thresholds:  o.thresholds,
		Interrupted: interrupted,
		Skipped:     skipped,
	})
	if err := report.WriteText(rep, o.Out); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	for _, out := range []struct {
		path   string
		render report.Renderer
	}{{o.ReportJSON, report.WriteJSON}, {o.ReportJUnit, report.WriteJUnit}, {o.ReportHTML, report.WriteHTML}} {
		if out.path == "" {
			continue
		}
		if err := writeFile(out.path, rep, out.render); err != nil {
			return err
		}
	}
	return verdictError{verdict: rep.Verdict, interrupted: interrupted}
}

func (o *RunOptions) actionString() string {
	if o.action.Kind == rollout.ActionSetImage {
		return "set-image " + strings.Join(o.SetImage, ",")
	}
	return string(o.action.Kind)
}

// writeFile renders the report into path, reporting close errors too.
func writeFile(path string, rep *report.Report, render report.Renderer) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if err := render(rep, f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing report %s: %w", path, err)
	}
	return nil
}

// sleepCtx waits d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// resultsFile is the --results file: vegeta's gob encoding, buffered.
type resultsFile struct {
	f *os.File
	w *bufio.Writer
}

func createResults(path string) (*resultsFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("results file: %w", err)
	}
	return &resultsFile{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// close flushes and closes the file, returning the first error.
func (r *resultsFile) close() error {
	return errors.Join(r.w.Flush(), r.f.Close())
}

// redacted hides passwords in the target URLs before they reach the report.
func redacted(targets []string) []string {
	out := make([]string, len(targets))
	for i, t := range targets {
		out[i] = attack.RedactURL(t)
	}
	return out
}
