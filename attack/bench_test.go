package attack

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// benchServerEnv makes the test binary serve HTTP instead of running tests:
// the load-fidelity benchmark runs its target in a separate process, so that
// the process CPU it measures is the load generator's alone.
const benchServerEnv = "ROLLCHECK_BENCH_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(benchServerEnv) == "1" {
		os.Exit(serveBenchTarget())
	}
	if spec := os.Getenv(benchLoadEnv); spec != "" {
		os.Exit(runBenchLoad(spec))
	}
	if spec := os.Getenv(benchAttackerEnv); spec != "" {
		os.Exit(runBenchAttacker(spec))
	}
	os.Exit(m.Run())
}

// failingPath makes the bench target fail every 10th request with 503,
// chosen by vegeta's sequence number so that the same requests fail in
// every run.
const failingPath = "/fail10"

// serveBenchTarget answers every request with 200 and a pod header (503 for
// every 10th request to failingPath), prints its address, and serves until
// stdin closes (the benchmark ended).
func serveBenchTarget() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pod-Name", "bench-0")
		if r.URL.Path == failingPath {
			if seq, err := strconv.ParseUint(r.Header.Get(seqHeader), 10, 64); err == nil && seq%10 == 9 {
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})}
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startBenchTarget runs serveBenchTarget in a child process and returns its
// URL; the child ends when the benchmark does.
func startBenchTarget(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("bench target: %v", err)
	}
	return "http://" + strings.TrimSpace(addr) + "/"
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadRun is one measured load: what was sent, at what CPU and allocations.
type loadRun struct {
	requests int
	failures int
	cpu      time.Duration
	allocs   uint64 // heap allocations (objects) during the load
}

// measure runs load, which returns the requests it sent and how many failed,
// and takes the process's CPU time and heap allocations around it.
func measure(b *testing.B, load func() (requests, failures int)) loadRun {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	cpu, allocs := cpuTime(b), m.Mallocs
	var r loadRun
	r.requests, r.failures = load()
	runtime.ReadMemStats(&m)
	r.cpu, r.allocs = cpuTime(b)-cpu, m.Mallocs-allocs
	return r
}

// plus pools two loads.
func (r loadRun) plus(o loadRun) loadRun {
	return loadRun{requests: r.requests + o.requests, failures: r.failures + o.failures, cpu: r.cpu + o.cpu, allocs: r.allocs + o.allocs}
}

func (r loadRun) achieved(rate int, d time.Duration) float64 {
	return float64(r.requests) / d.Seconds() / float64(rate)
}

func (r loadRun) cpuPerRequest() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.requests)
}

func (r loadRun) allocsPerRequest() float64 {
	if r.requests == 0 {
		return 0
	}
	return float64(r.allocs) / float64(r.requests)
}

// bareVegeta is the library's attack alone, as the vegeta CLI runs it with
// the same rate, workers and client settings as rollcheck's attack: results
// are only counted.
func bareVegeta(b *testing.B, url string, rate int, d time.Duration) loadRun {
	workers := defaultMaxWorkers(Rate{Freq: rate, Per: time.Second}, DefaultTimeout)
	atk := vegeta.NewAttacker(vegeta.Workers(initialWorkers), vegeta.MaxWorkers(workers), vegeta.KeepAlive(true))
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})
	return measure(b, func() (requests, failures int) {
		for res := range atk.Attack(targeter, vegeta.ConstantPacer{Freq: rate, Per: time.Second}, d, "bare") {
			requests++
			if res.Code < 200 || res.Code >= 400 {
				failures++
			}
		}
		return requests, failures
	})
}

// rollcheckAttack is `rollcheck run`'s attack path: New, Start, Stop, with
// the pod header parsed and every result aggregated into buckets.
func rollcheckAttack(b *testing.B, url string, rate int, d time.Duration) loadRun {
	a, err := New(Config{
		Targets:   []Target{{Method: http.MethodGet, URL: url}},
		Rate:      Rate{Freq: rate, Per: time.Second},
		KeepAlive: true,
		// ROLLCHECK_BENCH_CONNECTIONS=both (or new) measures that mode;
		// unset, the default keep-alive stream, as bare vegeta's.
		Connections: Connections(os.Getenv("ROLLCHECK_BENCH_CONNECTIONS")),
		PodHeader:   "X-Pod-Name",
		// Ended by MaxDuration as vegeta's attack is by its duration, so
		// both send rate × d requests when they keep up.
		MaxDuration: d,
	})
	if err != nil {
		b.Fatal(err)
	}
	return measure(b, func() (requests, failures int) {
		a.Start(context.Background())
		time.Sleep(d + 100*time.Millisecond)
		res := a.Stop()
		if !res.MaxDurationReached {
			b.Fatalf("the attack was stopped before its %s", d)
		}
		return res.Requests, res.Failures
	})
}

// BenchmarkLoadFidelity compares bare vegeta with rollcheck's attack path
// at 500, 1000 and 2000 requests/s (or the list in ROLLCHECK_BENCH_RATES)
// against a target in another process, alternating, for
// ROLLCHECK_BENCH_DURATION each (default 20s, as issue 7 asks), ROLLCHECK_BENCH_ROUNDS times
// (default 1). It measures once whatever b.N is, and prints a table (a row
// per round and rate) and `bench NAME VALUE` lines (rounds pooled):
// achieved/target rate for both, rollcheck's CPU per request over bare
// vegeta's, and heap allocations per request. Goals (issue 7): rollcheck ≥
// 0.99 where bare is, CPU ratio ≤ 1.10.
func BenchmarkLoadFidelity(b *testing.B) {
	if testing.Short() {
		b.Skip("runs for tens of seconds")
	}
	d := envDuration(b, "ROLLCHECK_BENCH_DURATION", 20*time.Second)
	rates := envInts(b, "ROLLCHECK_BENCH_RATES", []int{500, 1000, 2000})
	rounds := envInts(b, "ROLLCHECK_BENCH_ROUNDS", []int{1})
	if len(rounds) != 1 {
		b.Fatal("ROLLCHECK_BENCH_ROUNDS: want one number")
	}
	url := startBenchTarget(b)
	// Warm up connections, code paths and the target.
	bareVegeta(b, url, 500, time.Second)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "round\trate/s\tbare achieved\trollcheck achieved\tbare CPU/req\trollcheck CPU/req\tCPU ratio\tallocs/req bare/rollcheck\tfailures bare/rollcheck\t\n")
	row := func(round string, rate int, d time.Duration, bare, rc loadRun) float64 {
		ratio := float64(rc.cpuPerRequest()) / float64(bare.cpuPerRequest())
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.4f\t%s\t%s\t%.3f\t%.1f/%.1f\t%d/%d\t\n", round, rate, bare.achieved(rate, d), rc.achieved(rate, d),
			bare.cpuPerRequest().Round(100*time.Nanosecond), rc.cpuPerRequest().Round(100*time.Nanosecond), ratio,
			bare.allocsPerRequest(), rc.allocsPerRequest(), bare.failures, rc.failures)
		return ratio
	}
	bares, rcs := make([]loadRun, len(rates)), make([]loadRun, len(rates))
	for round := 1; round <= rounds[0]; round++ {
		for i, rate := range rates {
			bare := bareVegeta(b, url, rate, d)
			rc := rollcheckAttack(b, url, rate, d)
			row(strconv.Itoa(round), rate, d, bare, rc)
			bares[i], rcs[i] = bares[i].plus(bare), rcs[i].plus(rc)
		}
	}
	// The bench lines pool the rounds: requests and CPU summed.
	total := time.Duration(rounds[0]) * d
	var lines []string
	for i, rate := range rates {
		bare, rc := bares[i], rcs[i]
		ratio := float64(rc.cpuPerRequest()) / float64(bare.cpuPerRequest())
		if rounds[0] > 1 {
			row("all", rate, total, bare, rc)
		}
		lines = append(lines,
			fmt.Sprintf("bench achieved_ratio_bare_%d %.4f", rate, bare.achieved(rate, total)),
			fmt.Sprintf("bench achieved_ratio_rollcheck_%d %.4f", rate, rc.achieved(rate, total)),
			fmt.Sprintf("bench cpu_per_request_bare_%d_us %.2f", rate, float64(bare.cpuPerRequest())/1e3),
			fmt.Sprintf("bench cpu_per_request_rollcheck_%d_us %.2f", rate, float64(rc.cpuPerRequest())/1e3),
			fmt.Sprintf("bench cpu_per_request_ratio_%d %.3f", rate, ratio),
			fmt.Sprintf("bench allocs_per_request_bare_%d %.1f", rate, bare.allocsPerRequest()),
			fmt.Sprintf("bench allocs_per_request_rollcheck_%d %.1f", rate, rc.allocsPerRequest()),
		)
		b.ReportMetric(rc.achieved(rate, total), fmt.Sprintf("achieved@%d", rate))
		b.ReportMetric(ratio, fmt.Sprintf("cpu-ratio@%d", rate))
	}
	if err := tw.Flush(); err != nil {
		b.Fatal(err)
	}
	for _, l := range lines {
		fmt.Println(l)
	}
}

// envInts reads a comma-separated list of positive numbers from the
// environment variable name, or returns def when it is not set.
func envInts(b *testing.B, name string, def []int) []int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want positive numbers separated by commas", name, s)
		}
		out = append(out, n)
	}
	return out
}

// envDuration reads a duration from the environment variable name, or
// returns def when it is not set.
func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration such as 30s", name, s)
	}
	return d
}

// benchLoadEnv makes the test binary run one load through rollcheck's attack
// path instead of tests. Its value is "RATE DURATION URL"; the process prints
// "REQUESTS FAILURES ACHIEVED_RATE" and exits, so that the parent reads the
// peak RSS of a process that did nothing else.
const benchLoadEnv = "ROLLCHECK_BENCH_LOAD"

// benchProfileEnv, if set for such a load process, names a directory where it
// writes cpu.pprof (the whole load) and heap.pprof (at Stop, before exit).
const benchProfileEnv = "ROLLCHECK_BENCH_PROFILE_DIR"

// runBenchLoad is the load process: attack.New, Start, Stop after the
// duration, with the configuration `rollcheck run` uses by default (5s
// timeout, keep-alive, 100ms buckets) and --pod-header X-Pod-Name.
func runBenchLoad(spec string) int {
	var (
		rate int
		d    time.Duration
		url  string
	)
	fields := strings.Fields(spec)
	if len(fields) != 3 {
		fmt.Fprintf(os.Stderr, "%s=%q: want RATE DURATION URL\n", benchLoadEnv, spec)
		return 2
	}
	rate, err := strconv.Atoi(fields[0])
	if err == nil {
		d, err = time.ParseDuration(fields[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s=%q: %v\n", benchLoadEnv, spec, err)
		return 2
	}
	url = fields[2]
	a, err := New(Config{
		Targets:     []Target{{Method: http.MethodGet, URL: url}},
		Rate:        Rate{Freq: rate, Per: time.Second},
		Timeout:     5 * time.Second,
		KeepAlive:   true,
		BucketWidth: 100 * time.Millisecond,
		PodHeader:   "X-Pod-Name",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	dir := os.Getenv(benchProfileEnv)
	if dir != "" {
		f, err := os.Create(filepath.Join(dir, "cpu.pprof"))
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	a.Start(context.Background())
	time.Sleep(d)
	res := a.Stop()
	if dir != "" {
		pprof.StopCPUProfile()
		f, err := os.Create(filepath.Join(dir, "heap.pprof"))
		if err == nil {
			err = pprof.Lookup("heap").WriteTo(f, 0)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Printf("%d %d %g\n", res.Requests, res.Failures, res.AchievedRate)
	return 0
}

// rssRun is what one load process did and the most memory it held.
type rssRun struct {
	requests int
	failures int
	achieved float64 // requests/s over the load
	peakRSS  int64   // bytes
	cpu      time.Duration
}

// loadProcess runs runBenchLoad in a child process and reads its peak RSS
// (ru_maxrss, KiB on Linux) and CPU time from the kernel's accounting.
func loadProcess(b *testing.B, url string, rate int, d time.Duration) rssRun {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %s %s", benchLoadEnv, rate, d, url))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("load process: %v", err)
	}
	var r rssRun
	if _, err := fmt.Sscan(string(out), &r.requests, &r.failures, &r.achieved); err != nil {
		b.Fatalf("load process printed %q: %v", out, err)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no rusage for the load process")
	}
	r.peakRSS = ru.Maxrss * 1024
	r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return r
}

// BenchmarkPeakRSS runs rollcheck's attack path at 2,000 requests/s in a
// child process, for ROLLCHECK_BENCH_RSS_LONG (default 2m) and
// ROLLCHECK_BENCH_RSS_SHORT (default 20s), against a target that always
// answers 200 and against one that fails every 10th request with 503. It
// prints a table and `bench NAME VALUE` lines: requests, achieved rate, peak
// RSS and the long/short ratio of peak RSS. Goal (issue 7): ratio ≤ 1.2, as
// the aggregate is bounded. It measures once whatever b.N is; run it with
// -benchtime 1x.
func BenchmarkPeakRSS(b *testing.B) {
	if testing.Short() {
		b.Skip("runs for minutes")
	}
	long := envDuration(b, "ROLLCHECK_BENCH_RSS_LONG", 2*time.Minute)
	short := envDuration(b, "ROLLCHECK_BENCH_RSS_SHORT", 20*time.Second)
	const rate = 2000
	base := startBenchTarget(b)
	// Warm up the target; not measured.
	loadProcess(b, base, rate, time.Second)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\tduration\trequests\tfailures\tachieved/s\tpeak RSS MiB\tlong/short\t\n")
	var lines []string
	for _, c := range []struct{ name, url string }{
		{"", base},
		{"_failing10", strings.TrimSuffix(base, "/") + failingPath},
	} {
		name := fmt.Sprintf("%d%s", rate, c.name)
		var runs [2]rssRun
		for i, d := range []time.Duration{short, long} {
			r := loadProcess(b, c.url, rate, d)
			runs[i] = r
			mib := float64(r.peakRSS) / (1 << 20)
			ratio := ""
			if i == 1 {
				ratio = fmt.Sprintf("%.3f", float64(r.peakRSS)/float64(runs[0].peakRSS))
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%.1f\t%s\t\n", name, d, r.requests, r.failures, r.achieved, mib, ratio)
			secs := fmt.Sprintf("%gs", d.Seconds())
			lines = append(lines,
				fmt.Sprintf("bench requests_%s_%s %d", name, secs, r.requests),
				fmt.Sprintf("bench achieved_ratio_%s_%s %.4f", name, secs, r.achieved/rate),
				fmt.Sprintf("bench peak_rss_mib_%s_%s %.1f", name, secs, mib),
			)
		}
		ratio := float64(runs[1].peakRSS) / float64(runs[0].peakRSS)
		lines = append(lines, fmt.Sprintf("bench peak_rss_ratio_%s %.3f", name, ratio))
		b.ReportMetric(ratio, "rss-ratio"+c.name)
	}
	if err := tw.Flush(); err != nil {
		b.Fatal(err)
	}
	for _, l := range lines {
		fmt.Println(l)
	}
}
