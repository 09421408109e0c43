package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/check"
	"github.com/rollcheck/rollcheck/front"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/render"
	"github.com/rollcheck/rollcheck/rollout"
	"github.com/rollcheck/rollcheck/scenarios"
)

const runExample = `  # Restart deployment/web under 200 requests/s through its load balancer
  rollcheck run --deployment web --restart --target http://web.example.internal/ --rate 200/s

  # Roll out a new image and attribute failures to pods by a response header
  rollcheck run -n shop deployment/cart --set-image app=registry.example/cart:v2 \
      --target https://cart.example.internal/healthz --pod-header X-Pod-Name \
      --report-json cart.json

  # Restart a DaemonSet (or a StatefulSet) the same way
  rollcheck run -n kube-system daemonset/ingress-nginx --restart --target http://lb.example.internal/

  # Verify a rollout that helm starts: rollcheck waits for it, then judges it
  rollcheck run deployment/web --watch-only --target https://web.example.internal/ &
  helm upgrade web ./chart && wait $!

  # Blue/green: switch Service web from color=blue pods to color=green ones
  rollcheck run --switch-service web --selector color=green --target https://web.example.internal/

  # Canary: shift replicas from web to web-canary in steps, each judged on its own
  rollcheck run deployment/web --canary web-canary --canary-steps 3/1,2/2,1/3,0/4 --step-hold 1m \
      --target https://web.example.internal/

  # Weighted canary: shift HTTPRoute web's weights from Service web to web-canary
  # in steps, each judged on its own; the route's weights are put back at the end
  rollcheck run --canary-route httproute/web --canary-service web-canary --canary-weights 90/10,50/50,0/100 \
      --step-hold 1m --target https://web.example.internal/ --pod-header X-Pod-Name

  # The same settings from a scenario file; flags override the file
  rollcheck run -f scenarios/as-is.scenario.yaml --target http://127.0.0.1:8080/ --rate 50/s`

// RunOptions are the settings of one `rollcheck run`, after flags and the
// scenario file are merged.
type RunOptions struct {
	f *factory
	genericiooptions.IOStreams

	ScenarioFile string

	LoadOptions

	Namespace  string
	Deployment string
	Service    string
	Restart    bool
	SetImage   []string
	WatchOnly  bool
	WatchWait  time.Duration
	Apply      string

	SwitchService string
	Selector      string

	CanaryDeployment string
	CanarySteps      string

	CanaryWeights string
	CanaryRoute   string
	CanaryService string
	CanaryKeep    bool
	Drain         string
	Uncordon      bool
	StepHold      time.Duration
	Repeat        int

	Baseline       time.Duration
	Settle         time.Duration
	RolloutTimeout time.Duration
	BucketWidth    time.Duration

	MaxFailures     int
	MaxFailureRatio float64
	MaxDisrupted    time.Duration
	MinSuccessRatio float64

	Text textFlags

	ReportJSON  string
	ReportJUnit string
	ReportHTML  string
	Results     string
	SkipAccess  bool
	// Front is --front: what carries the load to the pods, or auto.
	Front string
	// KubeProxyLags is --kube-proxy-lags: auto, on or off.
	KubeProxyLags string

	// ReportOpenMetrics is the file of the run's results as OpenMetrics.
	ReportOpenMetrics string

	// Attacker pods (run_attackers.go).
	Attackers         int
	AttackerImage     string
	AttackerNamespace string
	AttackerSkew      time.Duration

	// Config is the run, built by Validate.
	Config check.Config
}

func newRunCommand(f *factory, runF func(context.Context, *RunOptions) error) *cobra.Command {
	o := &RunOptions{
		f:               f,
		IOStreams:       f.IOStreams,
		LoadOptions:     defaultLoadOptions(),
		Baseline:        10 * time.Second,
		Settle:          10 * time.Second,
		BucketWidth:     100 * time.Millisecond,
		MaxFailureRatio: -1,
		MinSuccessRatio: -1,
		StepHold:        10 * time.Second,
		Repeat:          1,
	}
	cmd := &cobra.Command{
		Use:   "run [deployment/NAME] --target URL (--restart | --set-image CONTAINER=IMAGE | --apply FILE | --watch-only | --switch-service NAME --selector K=V | --canary NAME --canary-steps S/C,... | --canary-route NAME --canary-service NAME --canary-weights S/C,... | --drain NODE)",
		Short: "Roll out a Deployment, StatefulSet or DaemonSet under constant load and judge whether any request failed",
		Long: `run sends a constant-rate HTTP load to --target, waits --baseline, triggers the
rollout of the workload (--restart, --set-image, --apply; or waits for one with
--watch-only), follows it to completion as 'kubectl rollout status' does for its
kind: the argument may also be statefulset/NAME or daemonset/NAME (one with
updateStrategy OnDelete is refused: nothing would roll). It keeps
the load until every pod the rollout removed is gone and then for --settle,
and prints a verdict. Blue/green (--switch-service),
canary steps (--canary-steps), a weighted canary on a Gateway API HTTPRoute
(--canary-weights), a node drain (--drain) and --repeat run under the same
load, and the report
shows each step; a weighted canary's steps show the share each backend
received (by --pod-header) beside the weights asked. The verdict is one of:

  PASS          no threshold broken (exit 0)
  FAIL          a threshold broken or the rollout did not complete (exit 1)
  INCONCLUSIVE  the run could not judge the rollout: the baseline already
                failed, the load fell short of its rate, the load ended
                before the removed pods were gone, no pod was replaced, ...
                (README's Verdicts lists every case; exit 3)

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
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.ScenarioFile, "filename", "f", "", "scenario file (YAML); flags given on the command line override it")
	o.LoadOptions.addFlags(fl)
	fl.StringVar(&o.Deployment, "deployment", "", "the workload to roll out (NAME or deployment/NAME, statefulset/NAME, daemonset/NAME)")
	fl.StringVar(&o.Service, "service", "", "the Service whose EndpointSlices to watch (default: every Service selecting the pods)")
	fl.BoolVar(&o.Restart, "restart", false, "trigger the rollout as 'kubectl rollout restart' does")
	fl.BoolVar(&o.WatchOnly, "watch-only", false, "do not start the rollout: wait for one that someone else starts (helm upgrade, kubectl apply) and verify it")
	fl.DurationVar(&o.WatchWait, "watch-timeout", 10*time.Minute, "with --watch-only: give up (INCONCLUSIVE) when no rollout starts within this long after the baseline")
	fl.StringArrayVar(&o.SetImage, "set-image", nil, "trigger the rollout as 'kubectl set image' does: CONTAINER=IMAGE (repeatable)")
	fl.StringVar(&o.Apply, "apply", "", "trigger the rollout as a pipeline does: server-side apply of this Deployment (StatefulSet, DaemonSet) manifest (as 'kubectl apply --server-side --force-conflicts'); checked by a dry run first")
	fl.StringVar(&o.SwitchService, "switch-service", "", "blue/green: switch this Service to other pods by merging --selector into its selector (as 'kubectl patch service'); the Deployments before and after are found by their pod labels")
	fl.StringVar(&o.Selector, "selector", "", "with --switch-service: the labels to merge into the Service's selector, key=value[,key=value]")
	fl.StringVar(&o.CanaryDeployment, "canary", "", "canary: the canary Deployment that --canary-steps shifts replicas to from the stable one (the deployment argument)")
	fl.StringVar(&o.CanarySteps, "canary-steps", "", "canary: STABLE/CANARY replicas per step, e.g. 3/1,2/2,1/3,0/4; each step scales (up first), waits, then holds --step-hold; the report shows each step")
	fl.StringVar(&o.CanaryWeights, "canary-weights", "", "weighted canary: STABLE/CANARY backendRef weights per step on --canary-route, e.g. 90/10,50/50,0/100; each step patches the route, waits for its Gateways to accept it, then holds --step-hold; the report shows each step with the share each backend received")
	fl.StringVar(&o.CanaryRoute, "canary-route", "", "with --canary-weights: the HTTPRoute (NAME or httproute/NAME) whose rules send to the stable and the canary Service; the stable one is --service, else the rules' other backendRef")
	fl.StringVar(&o.CanaryService, "canary-service", "", "with --canary-weights: the canary's Service, a backendRef of --canary-route (its Deployment, found by the Service's selector, may be checked with --canary)")
	fl.StringVar(&o.Drain, "drain", "", "drain NODE under the load, as kubectl drain --ignore-daemonsets does (k8s.io/kubectl's drain: cordon, then evict its pods through the Eviction API, retrying every 5s while a PodDisruptionBudget refuses, within --rollout-timeout); the workload is only watched until its replicas are ready again; the report shows the evicted pods, their replacements and their nodes, and the budgets that refused")
	fl.BoolVar(&o.Uncordon, "uncordon", false, "with --drain: uncordon the node after the run (a node the run cordoned is uncordoned anyway when the drain does not finish or the run is interrupted)")
	fl.BoolVar(&o.CanaryKeep, "canary-keep", false, "with --canary-weights: leave the last step's weights on the route when every step ran (default: put back the weights the route had; always after Ctrl-C or a step that did not complete)")
	fl.DurationVar(&o.StepHold, "step-hold", o.StepHold, "load held after each step before the next (canary steps and weights, --repeat); the last step is followed by --settle")
	fl.IntVar(&o.Repeat, "repeat", o.Repeat, "with --restart: roll out this many times in a row under the same load; the report shows each rollout and the worst")
	fl.DurationVar(&o.Baseline, "baseline", o.Baseline, "load before the rollout; failures here make the run INCONCLUSIVE")
	fl.DurationVar(&o.Settle, "settle", o.Settle, "load after the rollout completes and every pod it removed is gone, to catch late failures")
	fl.DurationVar(&o.RolloutTimeout, "rollout-timeout", 0, "give up on the rollout after this long (default: the Deployment's progressDeadlineSeconds + 30s)")
	fl.DurationVar(&o.BucketWidth, "bucket", o.BucketWidth, "width of the time buckets results are counted in")
	fl.IntVar(&o.MaxFailures, "max-failures", 0, "FAIL when more requests than this fail after the baseline")
	fl.Float64Var(&o.MaxFailureRatio, "max-failure-ratio", -1, "FAIL when the failed share of requests is above this (0..1; -1 off)")
	fl.DurationVar(&o.MaxDisrupted, "max-disrupted", 0, "FAIL when time with failures (in buckets) is longer than this")
	fl.Float64Var(&o.MinSuccessRatio, "min-success-ratio", -1, "FAIL when the successful share of requests is below this (0..1; -1 off)")
	fl.StringVar(&o.ReportJSON, "report-json", "", "write the report as JSON to this file")
	fl.StringVar(&o.Results, "results", "", "also write every request's result in vegeta's encoding to this file (for 'vegeta report' and 'vegeta plot')")
	fl.StringVar(&o.ReportHTML, "report-html", "", "write a self-contained HTML timeline (chart and pod swimlanes) to this file")
	fl.StringVar(&o.ReportJUnit, "report-junit", "", "write the checks and causes as a JUnit XML test suite to this file, for CI")
	fl.StringVar(&o.ReportOpenMetrics, "report-openmetrics", "", "write the results (verdict, requests, failures by class and cause, disrupted time, rollout duration, routing lag) in the OpenMetrics text format to this file, for the node exporter's textfile collector or a Pushgateway")
	o.Text.add(fl)
	fl.StringVar(&o.KubeProxyLags, "kube-proxy-lags", check.KubeProxyAuto, "read each node's kube-proxy sync metrics (port 10249, through the API server's node proxy: kube-proxy's metricsBindAddress must not be 127.0.0.1) to measure when each node applied a terminating pod's removal: auto (when the front goes through kube-proxy, kube-proxy or alb-instance, and --node-header or --entry-node says which node each request entered through), on, off")
	fl.StringVar(&o.Front, "front", string(front.Auto), "what carries the load to the pods: alb (an ALB in IP mode: the pods are its targets), alb-instance (in instance mode: the nodes' NodePorts, kube-proxy picks the pod), nlb, kube-proxy, ingress, gateway, or auto (inferred before the rollout from the Service's type and annotations, an Ingress or HTTPRoute for it and the ALB's target type, a ClusterIP target); the report says which and why, and the diagnosis reads it")
	fl.BoolVar(&o.SkipAccess, "skip-access-check", false, "do not check RBAC permissions with SelfSubjectAccessReview first")
	addAttackerFlags(fl, o)
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
	o.LoadOptions.keepAliveSet = cmd.Flags().Changed("keepalive")
	if o.ScenarioFile != "" {
		s, err := scenarios.LoadFile(o.ScenarioFile)
		if err != nil {
			return usageError{err}
		}
		o.applyScenario(s, cmd.Flags().Changed)
	}
	ns, explicit, err := o.f.Namespace()
	if err != nil {
		return err
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
	actionFlag := false
	for _, f := range []string{"restart", "set-image", "watch-only", "apply", "switch-service", "selector", "canary", "canary-steps", "canary-weights", "canary-route", "canary-service", "canary-keep", "drain", "uncordon"} {
		actionFlag = actionFlag || changed(f)
	}
	if !actionFlag {
		// The action on the command line replaces the file's as a whole.
		a := s.Action
		o.Restart = a.Restart
		o.WatchOnly = a.WatchOnly
		for _, c := range slices.Sorted(maps.Keys(a.SetImage)) {
			o.SetImage = append(o.SetImage, c+"="+a.SetImage[c])
		}
		o.Apply = a.Apply
		if sw := a.SwitchService; sw != nil {
			o.SwitchService = sw.Name
			o.Selector = rollout.SelectorString(sw.Selector)
		}
		if c := a.Canary; c != nil {
			o.CanaryDeployment = c.Deployment
			o.CanarySteps = strings.Join(c.Steps, ",")
		}
		if c := a.CanaryWeights; c != nil {
			o.CanaryRoute, o.CanaryService, o.CanaryKeep = c.Route, c.Service, c.Keep
			o.CanaryDeployment = c.Deployment
			o.CanaryWeights = strings.Join(c.Steps, ",")
		}
		if d := a.Drain; d != nil {
			o.Drain, o.Uncordon = d.Node, d.Uncordon
		}
	}
	if s.Action.Repeat != nil && !changed("repeat") {
		o.Repeat = *s.Action.Repeat
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
	if !changed("keepalive") && !changed("connections") {
		// A flag for connections replaces both of the file's settings.
		setS("connections", &o.Connections, s.Load.Connections)
		if s.Load.KeepAlive != nil {
			o.KeepAlive, o.keepAliveSet = *s.Load.KeepAlive, true
		}
	}
	setB("http2", &o.HTTP2, s.Load.HTTP2)
	if !changed("target-ca") && !changed("target-insecure") {
		// Either flag replaces both of the file's settings, which exclude
		// each other.
		setS("target-ca", &o.TargetCA, s.Load.TargetCA)
		setB("target-insecure", &o.TargetInsecure, s.Load.TargetInsecure)
	}
	setS("target-server-name", &o.TargetServerName, s.Load.TargetServerName)
	setS("front", &o.Front, s.Load.Front)
	if s.Load.PodHeader != nil {
		setS("pod-header", &o.PodHeader, *s.Load.PodHeader)
	}
	setD("baseline", &o.Baseline, s.Phases.Baseline)
	setD("settle", &o.Settle, s.Phases.Settle)
	setD("rollout-timeout", &o.RolloutTimeout, s.Phases.RolloutTimeout)
	setD("step-hold", &o.StepHold, s.Phases.StepHold)
	if s.Thresholds.MaxFailures != nil && !changed("max-failures") {
		o.MaxFailures = *s.Thresholds.MaxFailures
	}
	setF("max-failure-ratio", &o.MaxFailureRatio, s.Thresholds.MaxFailureRatio)
	setF("min-success-ratio", &o.MinSuccessRatio, s.Thresholds.MinSuccessRatio)
	setD("max-disrupted", &o.MaxDisrupted, s.Thresholds.MaxDisrupted)
}

// Validate parses every setting into o.Config. Nothing has touched the
// cluster yet, so any error here exits 2 with the cluster unchanged.
func (o *RunOptions) Validate() error {
	if err := o.Text.validate(); err != nil {
		return err
	}
	if len(o.Targets) == 0 {
		return errors.New("no target: give --target URL (or load.targets in the scenario)")
	}
	var err error
	cfg := check.Config{
		Namespace:      o.Namespace,
		Service:        o.Service,
		WatchTimeout:   o.WatchWait,
		Repeat:         o.Repeat,
		Baseline:       o.Baseline,
		Settle:         o.Settle,
		StepHold:       o.StepHold,
		RolloutTimeout: o.RolloutTimeout,
		SkipAccess:     o.SkipAccess,
		InCluster:      inCluster(),
		Now:            o.f.now,
	}
	if cfg.Front, err = front.Parse(o.Front); err != nil {
		return err
	}
	switch o.KubeProxyLags {
	case check.KubeProxyAuto, check.KubeProxyOn, check.KubeProxyOff:
		cfg.KubeProxyLags = o.KubeProxyLags
	default:
		return fmt.Errorf("--kube-proxy-lags %q: want auto, on or off", o.KubeProxyLags)
	}
	if err := o.validateAction(&cfg); err != nil {
		return err
	}
	load, err := o.LoadOptions.attackConfig()
	if err != nil {
		return err
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
	cfg.Attack = load
	cfg.Attack.BucketWidth = o.BucketWidth
	if _, err := attack.New(cfg.Attack); err != nil {
		return err
	}
	cfg.Thresholds = report.Thresholds{
		MaxFailures:     o.MaxFailures,
		MaxFailureRatio: o.MaxFailureRatio,
		MaxDisrupted:    o.MaxDisrupted,
		MinSuccessRatio: o.MinSuccessRatio,
	}
	if err := o.validateAttackers(&cfg); err != nil {
		return err
	}
	o.Config = cfg
	return nil
}

// Run executes the check, renders the report and returns the verdict as
// an error for the exit code.
func (o *RunOptions) Run(ctx context.Context) error {
	client, err := o.f.KubeClient()
	if err != nil {
		return err
	}
	cfg := o.Config
	if cfg.Attack.TLS.Insecure {
		warn(o.ErrOut, insecureWarning)
	}
	var results *resultsFile
	if o.Results != "" {
		if results, err = createResults(o.Results); err != nil {
			return err
		}
		defer results.f.Close() // on early returns; closed with a check below
		cfg.Attack.ResultsWriter = results.w
	}
	st := newStatusLine(o.ErrOut)
	cfg.Progress, cfg.ProgressEvery = st.show, st.every()
	clients := check.Clients{Kube: client}
	if clients.Dynamic, err = o.f.DynamicClient(); err != nil {
		return err
	}
	if cfg.Attackers != nil {
		if clients.Attackers, err = o.attackerTransport(client); err != nil {
			return err
		}
	}
	in, err := check.Execute(ctx, clients, cfg)
	st.finish()
	if err != nil {
		return err
	}
	if results != nil {
		if err := results.close(); err != nil {
			warn(o.ErrOut, fmt.Sprintf("writing --results %s: %v", o.Results, err))
		}
	}
	rep := report.Build(in)
	// The files first, so that the text can name them.
	text := o.Text.options(o.Out)
	if o.ReportJSON != "" {
		text.DetailsHint = "rollcheck report --details " + o.ReportJSON
	}
	var fileErr error
	for _, out := range []struct {
		path  string
		write render.Func
	}{{o.ReportHTML, render.WriteHTML}, {o.ReportJSON, render.WriteJSON}, {o.ReportJUnit, render.WriteJUnit}, {o.ReportOpenMetrics, render.WriteOpenMetrics}} {
		if out.path == "" {
			continue
		}
		if err := writeFile(out.path, rep, out.write); err != nil {
			fileErr = errors.Join(fileErr, err)
			continue
		}
		text.Files = append(text.Files, out.path)
	}
	if err := text.Write(rep, o.Out); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if fileErr != nil {
		return fileErr
	}
	return verdictError{verdict: rep.Verdict, interrupted: in.Interrupted}
}

// writeFile renders the report into path, reporting close errors too.
func writeFile(path string, rep *report.Report, write render.Func) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if err := write(rep, f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing report %s: %w", path, err)
	}
	return nil
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
