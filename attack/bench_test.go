package attack

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
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
	os.Exit(m.Run())
}

// serveBenchTarget answers every request with 200 and a pod header, prints
// its address, and serves until stdin closes (the benchmark ended).
func serveBenchTarget() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Pod-Name", "bench-0")
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

// loadRun is one measured load: what was asked, what was sent, at what CPU.
type loadRun struct {
	requests int
	failures int
	cpu      time.Duration
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

// bareVegeta is the library's attack alone, as the vegeta CLI runs it with
// the same rate, workers and client settings as rollcheck's attack: results
// are only counted.
func bareVegeta(b *testing.B, url string, rate int, d time.Duration) loadRun {
	workers := defaultMaxWorkers(Rate{Freq: rate, Per: time.Second}, DefaultTimeout)
	atk := vegeta.NewAttacker(vegeta.Workers(initialWorkers), vegeta.MaxWorkers(workers), vegeta.KeepAlive(true))
	runtime.GC()
	before := cpuTime(b)
	var r loadRun
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})
	for res := range atk.Attack(targeter, vegeta.ConstantPacer{Freq: rate, Per: time.Second}, d, "bare") {
		r.requests++
		if res.Code < 200 || res.Code >= 400 {
			r.failures++
		}
	}
	r.cpu = cpuTime(b) - before
	return r
}

// rollcheckAttack is `rollcheck run`'s attack path: New, Start, Stop, with
// the pod header parsed and every result aggregated into buckets.
func rollcheckAttack(b *testing.B, url string, rate int, d time.Duration) loadRun {
	a, err := New(Config{
		Targets:   []Target{{Method: http.MethodGet, URL: url}},
		Rate:      Rate{Freq: rate, Per: time.Second},
		KeepAlive: true,
		PodHeader: "X-Pod-Name",
		// Ended by MaxDuration as vegeta's attack is by its duration, so
		// both send rate × d requests when they keep up.
		MaxDuration: d,
	})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	before := cpuTime(b)
	a.Start(context.Background())
	time.Sleep(d + 100*time.Millisecond)
	res := a.Stop()
	if !res.MaxDurationReached {
		b.Fatalf("the attack was stopped before its %s", d)
	}
	return loadRun{requests: res.Requests, failures: res.Failures, cpu: cpuTime(b) - before}
}

// BenchmarkLoadFidelity compares bare vegeta with rollcheck's attack path
// at 500, 1000 and 2000 requests/s against a target in another process,
// alternating, for ROLLCHECK_BENCH_DURATION each (default 5s). It measures
// once whatever b.N is, and prints `bench NAME VALUE` lines and a table:
// achieved/target rate for both and rollcheck's CPU per request over bare
// vegeta's. Goals (issue 7): rollcheck ≥ 0.99 where bare is, CPU ratio ≤ 1.10.
func BenchmarkLoadFidelity(b *testing.B) {
	if testing.Short() {
		b.Skip("runs for tens of seconds")
	}
	d := 5 * time.Second
	if s := os.Getenv("ROLLCHECK_BENCH_DURATION"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			b.Fatalf("ROLLCHECK_BENCH_DURATION: %v", err)
		}
	}
	url := startBenchTarget(b)
	// Warm up connections, code paths and the target.
	bareVegeta(b, url, 500, time.Second)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "rate/s\tbare achieved\trollcheck achieved\tbare CPU/req\trollcheck CPU/req\tCPU ratio\tfailures bare/rollcheck\t\n")
	var lines []string
	for _, rate := range []int{500, 1000, 2000} {
		bare := bareVegeta(b, url, rate, d)
		rc := rollcheckAttack(b, url, rate, d)
		ratio := float64(rc.cpuPerRequest()) / float64(bare.cpuPerRequest())
		fmt.Fprintf(tw, "%d\t%.4f\t%.4f\t%s\t%s\t%.3f\t%d/%d\t\n", rate, bare.achieved(rate, d), rc.achieved(rate, d),
			bare.cpuPerRequest().Round(100*time.Nanosecond), rc.cpuPerRequest().Round(100*time.Nanosecond), ratio, bare.failures, rc.failures)
		lines = append(lines,
			fmt.Sprintf("bench achieved_ratio_bare_%d %.4f", rate, bare.achieved(rate, d)),
			fmt.Sprintf("bench achieved_ratio_rollcheck_%d %.4f", rate, rc.achieved(rate, d)),
			fmt.Sprintf("bench cpu_per_request_bare_%d_us %.2f", rate, float64(bare.cpuPerRequest())/1e3),
			fmt.Sprintf("bench cpu_per_request_rollcheck_%d_us %.2f", rate, float64(rc.cpuPerRequest())/1e3),
			fmt.Sprintf("bench cpu_per_request_ratio_%d %.3f", rate, ratio),
		)
		b.ReportMetric(rc.achieved(rate, d), fmt.Sprintf("achieved@%d", rate))
		b.ReportMetric(ratio, fmt.Sprintf("cpu-ratio@%d", rate))
	}
	if err := tw.Flush(); err != nil {
		b.Fatal(err)
	}
	for _, l := range lines {
		fmt.Println(l)
	}
}
