package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/attackers"
)

const attackExample = `  # 100 requests/s for a minute, each result on stdout as it completes
  rollcheck attack --rate 100/s --duration 1m http://web.example.internal/

  # Several targets from a file, the stream to a file, the pod header recorded
  rollcheck attack --targets urls.txt --duration 30s --pod-header X-Pod-Name -o results.ndjson

  # As an attacker pod runs it: named, with a clock to measure the offset to
  rollcheck attack --name attacker-0 --clock-listen :9090 --duration 5m --rate 300/s http://web.shop.svc/`

// AttackOptions are the settings of one `rollcheck attack`.
type AttackOptions struct {
	genericiooptions.IOStreams
	LoadOptions

	URLs        []string // positional arguments
	TargetsFile string
	Duration    time.Duration
	Name        string
	BeaconEvery time.Duration
	ClockListen string
	ClockSkew   time.Duration
	Output      string
	// WaitStart holds the load until POST /start on the clock listener, so
	// that several attackers start at one instant (run --attackers).
	WaitStart bool
	started   chan struct{}
	// origin is the bucket origin POST /start gave (?origin=), for
	// --summarize; zero when it gave none.
	origin time.Time
	// Summarize writes rollcheck.attack/v2 (successes folded into
	// summaries per Bucket) instead of every result.
	Summarize bool
	Bucket    time.Duration

	// Config is the attacker, built by Validate.
	Config attack.AttackerConfig

	// listening, if set, is told the clock server's address (tests).
	listening func(addr string)
}

func newAttackCommand(f *factory, runF func(context.Context, *AttackOptions) error) *cobra.Command {
	o := &AttackOptions{IOStreams: f.IOStreams, LoadOptions: defaultLoadOptions(), BeaconEvery: attack.DefaultBeaconEvery}
	cmd := &cobra.Command{
		Use:   "attack [URL...] --duration D [--rate N/s]",
		Short: "Send the load alone and stream every result (what attacker pods run)",
		Long: `attack sends a constant-rate HTTP load for --duration and writes every result as it
completes, a clock beacon every --beacon-every, and an end record, as
newline-delimited JSON (rollcheck.attack/v1, docs/attack-stream.md) on stdout or
to -o. With --summarize (what run --attackers starts) the successes are
folded into a summary per --bucket at each beacon instead, every failure
still written in full (rollcheck.attack/v2): the stream then grows with
buckets, pods and failures, not with requests. URLs in the stream are redacted and request headers are never written.
Ctrl-C (or SIGTERM) ends the load early; the requests in flight finish and the
stream still gets its end record. Exit 0 when the load ran, whatever its
results; rollcheck run --attackers judges them.`,
		Example: attackExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.URLs = args
			o.keepAliveSet = cmd.Flags().Changed("keepalive")
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
	o.LoadOptions.addFlags(fl)
	fl.StringVar(&o.TargetsFile, "targets", "", "file of URLs to load, one a line (# comments), used round robin with the URL arguments and --target")
	fl.DurationVar(&o.Duration, "duration", 0, fmt.Sprintf("how long to send the load (required; at most %s)", attack.MaxAttackerDuration))
	fl.StringVar(&o.Name, "name", "", "the attacker's name in the stream's header (default: the host name, in a pod the pod's name)")
	fl.DurationVar(&o.BeaconEvery, "beacon-every", o.BeaconEvery, "interval of the clock beacons in the stream")
	fl.StringVar(&o.ClockListen, "clock-listen", "", "serve GET /clock ({\"time\":...}, to measure this clock's offset by round trips) and GET /healthz on this address, e.g. :9090")
	fl.StringVarP(&o.Output, "output", "o", "", "write the stream to this file instead of stdout")
	fl.BoolVar(&o.Summarize, "summarize", false, "write the successes folded into a summary per --bucket at each beacon, every failure still in full (rollcheck.attack/v2, what run --attackers reads); without it every result (v1)")
	fl.DurationVar(&o.Bucket, "bucket", attack.DefaultBucketWidth, "with --summarize: the width of the summaries' buckets (run --attackers passes its own --bucket)")
	fl.BoolVar(&o.WaitStart, "wait-start", false, "with --clock-listen: start the load only when POST /start arrives there (how run --attackers starts its pods together)")
	fl.DurationVar(&o.ClockSkew, "clock-skew", 0, "test only: add this to every time the attacker reports")
	_ = fl.MarkHidden("clock-skew")
	return cmd
}

// Validate parses the settings into o.Config; nothing has been sent yet.
func (o *AttackOptions) Validate() error {
	urls := append(append([]string{}, o.URLs...), o.Targets...)
	if o.TargetsFile != "" {
		more, err := readTargetsFile(o.TargetsFile)
		if err != nil {
			return err
		}
		urls = append(urls, more...)
	}
	if len(urls) == 0 {
		return errors.New("no target: give URLs as arguments, with --target URL or in --targets FILE")
	}
	if o.Duration <= 0 {
		return errors.New("--duration is required: how long to send the load, e.g. --duration 1m")
	}
	if o.Duration > attack.MaxAttackerDuration {
		return fmt.Errorf("--duration %s is longer than the %s an attacker may run", o.Duration, attack.MaxAttackerDuration)
	}
	if o.BeaconEvery < time.Millisecond {
		return fmt.Errorf("--beacon-every must be at least 1ms, got %s", o.BeaconEvery)
	}
	if o.ClockListen != "" {
		if _, _, err := net.SplitHostPort(o.ClockListen); err != nil {
			return fmt.Errorf("--clock-listen %q: want HOST:PORT or :PORT: %w", o.ClockListen, err)
		}
	}
	if o.Summarize && o.Bucket < time.Millisecond {
		return fmt.Errorf("--bucket must be at least 1ms, got %s", o.Bucket)
	}
	if o.WaitStart && o.ClockListen == "" {
		return errors.New("--wait-start needs --clock-listen: POST /start arrives there")
	}
	load := o.LoadOptions
	load.Targets = urls
	// Attacker pods get the user's headers from a Secret, through the
	// environment, never in their arguments,
	if env := os.Getenv(attackers.HeadersEnv); env != "" {
		load.Headers = append(append([]string{}, load.Headers...), strings.Split(strings.TrimSpace(env), "\n")...)
	}
	// and the CA bundle of --target-ca the same way, as the file is not
	// in the pod.
	if env := os.Getenv(attackers.TargetCAEnv); env != "" && load.TargetCA == "" {
		load.targetCAData = []byte(env)
	}
	cfg, err := load.attackConfig()
	if err != nil {
		return err
	}
	cfg.BucketWidth = time.Second // the stream is the output; the aggregate only counts
	cfg.MaxDuration = o.Duration
	if _, err := attack.New(cfg); err != nil {
		return err
	}
	name := o.Name
	if name == "" {
		name, _ = os.Hostname()
	}
	o.Config = attack.AttackerConfig{Attack: cfg, Name: name, Duration: o.Duration, BeaconEvery: o.BeaconEvery, Skew: o.ClockSkew,
		Summarize: o.Summarize, SummaryWidth: o.Bucket}
	return nil
}

// readTargetsFile reads one URL a line, skipping blank lines and # comments.
func readTargetsFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--targets: %w", err)
	}
	defer f.Close()
	var urls []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("--targets %s line %d: want one URL a line", path, n)
		}
		urls = append(urls, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--targets %s: %w", path, err)
	}
	return urls, nil
}

// Run sends the load and writes the stream; the clock server, if asked,
// runs as long as the load.
func (o *AttackOptions) Run(ctx context.Context) error {
	out := o.Out
	var file *os.File
	if o.Output != "" {
		f, err := os.Create(o.Output)
		if err != nil {
			return fmt.Errorf("--output: %w", err)
		}
		defer f.Close() // on early returns; closed with a check below
		file, out = f, f
	}
	if o.ClockListen != "" {
		stop, err := o.serveClock()
		if err != nil {
			return err
		}
		defer stop()
	}
	if o.Config.Attack.TLS.Insecure && !o.WaitStart {
		// An attacker pod (--wait-start) keeps its stderr for the stream
		// in its log: the run that started it warns, and its report.
		warn(o.ErrOut, insecureWarning)
	}
	if sp, err := attack.HostSourcePorts(); err == nil && !o.WaitStart {
		if msg := attack.PortShortage(o.Config.Attack, sp, 1); msg != "" {
			warn(o.ErrOut, msg+": give a lower --rate or --connections both, or split the load over machines")
		}
	}
	if o.WaitStart {
		select {
		case <-o.started:
			// The run's buckets start at its load's start, which it
			// gives on this clock: the summaries' buckets line up.
			o.Config.Origin = o.origin
		case <-ctx.Done():
		}
	}
	_, err := attack.RunAttacker(ctx, o.Config, out)
	if file != nil {
		err = errors.Join(err, file.Close())
	}
	return err
}

// serveClock starts the clock server and returns its stop function.
func (o *AttackOptions) serveClock() (func(), error) {
	ln, err := net.Listen("tcp", o.ClockListen)
	if err != nil {
		return nil, fmt.Errorf("--clock-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", attack.ClockHandler(o.ClockSkew))
	o.started = make(chan struct{})
	var once sync.Once
	mux.HandleFunc("POST /start", func(w http.ResponseWriter, r *http.Request) {
		var origin time.Time
		if v := r.URL.Query().Get("origin"); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				http.Error(w, "origin: "+err.Error(), http.StatusBadRequest)
				return
			}
			// The clock the caller measured includes the skew; the
			// load's own times do not (the encoder adds it).
			origin = t.Add(-o.ClockSkew)
		}
		once.Do(func() {
			o.origin = origin
			close(o.started)
		})
		w.WriteHeader(http.StatusNoContent)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with ErrServerClosed at Close
	if o.listening != nil {
		o.listening(ln.Addr().String())
	}
	return func() { _ = srv.Close() }, nil
}
