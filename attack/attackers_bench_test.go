package attack

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// benchAttackerEnv makes the test binary run one attacker (RunAttacker, as
// `rollcheck attack` does) instead of tests. Its value is "RATE DURATION
// URL [summarize]"; the stream goes to stdout, every result (v1) or the
// successes in summaries (v2, as attacker pods write it).
const benchAttackerEnv = "ROLLCHECK_BENCH_ATTACKER"

// runBenchAttacker is the attacker process, with `rollcheck attack`'s
// defaults (5s timeout, keep-alive, 1s buckets) and --pod-header X-Pod-Name.
func runBenchAttacker(spec string) int {
	f := strings.Fields(spec)
	if len(f) != 3 && (len(f) != 4 || f[3] != "summarize") {
		fmt.Fprintf(os.Stderr, "%s=%q: want RATE DURATION URL [summarize]\n", benchAttackerEnv, spec)
		return 2
	}
	rate, err := strconv.Atoi(f[0])
	var d time.Duration
	if err == nil {
		d, err = time.ParseDuration(f[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	_, err = RunAttacker(context.Background(), AttackerConfig{
		Attack: Config{Targets: []Target{{Method: http.MethodGet, URL: f[2]}}, Rate: Rate{rate, time.Second},
			Timeout: 5 * time.Second, KeepAlive: true, BucketWidth: time.Second, PodHeader: "X-Pod-Name"},
		Name:      "bench",
		Duration:  d,
		Summarize: len(f) == 4,
	}, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// childCPU is a finished child's user+system CPU time.
func childCPU(b *testing.B, cmd *exec.Cmd) time.Duration {
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no rusage for the child")
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAttackersSplit compares one local generator at R (rollcheck's
// attack path in a child process) with 3 attackers at R/3 (`rollcheck
// attack`'s path, each its own process with the GOMAXPROCS an attacker
// pod gets, their streams decoded and fed into one aggregate here, as run
// --attackers does): the achieved rate ratio
// (3 attackers' total over the local one's) and the CPU per request ratio
// (the attackers' CPU per request over the local one's; the streaming is
// the difference), the medians of ROLLCHECK_BENCH_SPLIT_ROUNDS (default 3)
// rounds of the two. R is ROLLCHECK_BENCH_SPLIT_RATE (default 1500), each
// load ROLLCHECK_BENCH_DURATION (default 20s). It measures once whatever b.N
// is; run it with -benchtime 1x.
func BenchmarkAttackersSplit(b *testing.B) {
	if testing.Short() {
		b.Skip("runs real loads")
	}
	rate := 1500
	if s := os.Getenv("ROLLCHECK_BENCH_SPLIT_RATE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 3 {
			b.Fatalf("ROLLCHECK_BENCH_SPLIT_RATE=%q: want a rate of 3 or more", s)
		}
		rate = n
	}
	// 20 s by default: each process's start (about 60 ms of CPU here) is
	// then 3% of an attacker's cost rather than 6%; an attacker pod starts
	// once per run, which lasts minutes.
	d := envDuration(b, "ROLLCHECK_BENCH_DURATION", 20*time.Second)
	url := startBenchTarget(b)
	loadProcess(b, url, rate, time.Second) // warm up the target; not measured

	// Rounds of one local generator at R, then 3 attackers at R/3 sending
	// summaries (v2, what attacker pods write), merged here: each round's
	// ratio compares two loads a minute apart, and the median of the
	// rounds is the figure (one load's CPU per request varies by 10 to
	// 15% from run to run on the lab machine). Every result (v1) once,
	// against the first round's local load.
	rounds := envInts(b, "ROLLCHECK_BENCH_SPLIT_ROUNDS", []int{3})[0]
	if rounds < 1 {
		b.Fatal("ROLLCHECK_BENCH_SPLIT_ROUNDS: want 1 or more")
	}
	var (
		locals []localRun
		v2s    []splitRun
	)
	for range rounds {
		locals = append(locals, benchLocal(b, url, rate, d))
		v2s = append(v2s, benchSplit(b, url, rate, d, true))
	}
	v1 := benchSplit(b, url, rate, d, false)
	fmt.Printf("bench attackers_cpu_per_request_local_%d_us %.2f\n", rate, median(locals, func(l localRun) float64 { return float64(l.per()) / 1e3 }))
	for _, sp := range []struct {
		name   string
		runs   []splitRun
		locals []localRun
	}{{"v1", []splitRun{v1}, locals[:1]}, {"", v2s, locals}} {
		stream, suffix := "summarized (v2)", ""
		if sp.name != "" {
			stream, suffix = "every result ("+sp.name+")", "_"+sp.name
		}
		var ratios, withMerge []float64
		for i, r := range sp.runs {
			l := sp.locals[i]
			splitPer := r.cpu / time.Duration(r.requests)
			ratios = append(ratios, float64(splitPer)/float64(l.per()))
			// With rollcheck's own cost of reading the streams: the
			// split load's whole cost per request.
			withMerge = append(withMerge, float64((r.cpu+r.merge)/time.Duration(r.requests))/float64(l.per()))
			fmt.Printf("local at %d/s: %d requests, achieved %.1f/s, CPU %s per request; 3 attackers at %d/s, %s: %d requests merged (%d failed) in %s, achieved %.1f/s together, CPU %s per request (%.3f times), %d stream bytes/s\n",
				rate, l.requests, l.achieved, l.per(), rate/3, stream, r.requests, r.failures, r.took.Round(time.Millisecond), r.achieved, splitPer, ratios[i], int(float64(r.bytes)/d.Seconds()))
		}
		achievedRatio := median(sp.runs, func(r splitRun) float64 { return r.achieved }) / median(sp.locals, func(l localRun) float64 { return l.achieved })
		cpuRatio := median(ratios, func(f float64) float64 { return f })
		fmt.Printf("bench attackers%s_achieved_ratio_%d %.4f\n", suffix, rate, achievedRatio)
		fmt.Printf("bench attackers%s_cpu_per_request_split_%d_us %.2f\n", suffix, rate, median(sp.runs, func(r splitRun) float64 { return float64(r.cpu/time.Duration(r.requests)) / 1e3 }))
		fmt.Printf("bench attackers%s_cpu_per_request_ratio_%d %.3f\n", suffix, rate, cpuRatio)
		fmt.Printf("bench attackers%s_stream_bytes_per_s_%d %.0f\n", suffix, rate, median(sp.runs, func(r splitRun) float64 { return float64(r.bytes) / d.Seconds() }))
		fmt.Printf("bench attackers%s_merge_cpu_per_request_%d_us %.2f\n", suffix, rate, median(sp.runs, func(r splitRun) float64 { return float64(r.merge/time.Duration(r.requests)) / 1e3 }))
		fmt.Printf("bench attackers%s_cpu_per_request_with_merge_ratio_%d %.3f\n", suffix, rate, median(withMerge, func(f float64) float64 { return f }))
		if len(withMerge) > 1 {
			fmt.Printf("bench attackers%s_cpu_per_request_with_merge_ratio_max_%d %.3f\n", suffix, rate, slices.Max(withMerge))
		}
		if sp.name == "" {
			b.ReportMetric(achievedRatio, "achieved-ratio")
			b.ReportMetric(cpuRatio, "cpu-ratio")
		}
	}
}

// localRun is one local generator's load, in its own process.
type localRun struct {
	requests int
	achieved float64
	cpu      time.Duration
}

func (l localRun) per() time.Duration { return l.cpu / time.Duration(l.requests) }

// benchLocal runs one local generator at rate for d against url in a child
// process (rollcheck's attack path, its default GOMAXPROCS).
func benchLocal(b *testing.B, url string, rate int, d time.Duration) localRun {
	b.Helper()
	r := loadProcess(b, url, rate, d)
	if r.requests == 0 {
		b.Fatal("no requests from the local load")
	}
	return localRun{requests: r.requests, achieved: r.achieved, cpu: r.cpu}
}

// median is the median of f over xs (the mean of the middle two for an
// even count).
func median[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// splitRun is what benchSplit measured.
type splitRun struct {
	requests, failures int
	achieved           float64
	cpu                time.Duration // the attackers' processes
	merge              time.Duration // this process's, decoding and merging their streams
	bytes              int64         // their streams
	took               time.Duration
}

// benchSplit runs 3 attacker processes at rate/3 for d against url and
// merges their streams into one aggregate here, as run --attackers does.
func benchSplit(b *testing.B, url string, rate int, d time.Duration, summarize bool) splitRun {
	b.Helper()
	agg, err := New(Config{Targets: []Target{{URL: url}}, Rate: Rate{rate, time.Second}, NoLocal: true, PodHeader: "X-Pod-Name", MaxDuration: d + time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	agg.Start(context.Background())
	began := time.Now()
	selfBefore := selfCPU(b)
	const attackers = 3
	cmds := make([]*exec.Cmd, attackers)
	var wg sync.WaitGroup
	errs := make(chan error, attackers)
	var out splitRun
	var mu sync.Mutex
	spec := fmt.Sprintf("%d %s %s", rate/attackers, d, url)
	if summarize {
		spec += " summarize"
	}
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		// With the GOMAXPROCS an attacker pod at that rate runs with, or
		// ROLLCHECK_BENCH_ATTACKER_PROCS to compare with another.
		procs := strconv.Itoa(AttackerProcs(float64(rate / attackers)))
		if p := os.Getenv("ROLLCHECK_BENCH_ATTACKER_PROCS"); p != "" {
			procs = p
		}
		cmd.Env = append(os.Environ(), benchAttackerEnv+"="+spec, "GOMAXPROCS="+procs)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		cmds[i] = cmd
		wg.Add(1)
		go func() {
			defer wg.Done()
			cr := &countingReader{r: stdout}
			dec := NewStreamDecoder(cr)
			for {
				rec, err := dec.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					errs <- err
					_, _ = io.Copy(io.Discard, stdout)
					break
				}
				switch rec.Type {
				case RecordResult: // the same machine: one clock
					agg.Feed(rec.VegetaResult("X-Pod-Name"), rec.Reused)
				case RecordSummary:
					agg.Merge(rec.Summary, 0)
				case RecordEnd:
					mu.Lock()
					out.achieved += rec.AchievedRate
					mu.Unlock()
				}
			}
			mu.Lock()
			out.bytes += cr.n
			mu.Unlock()
			errs <- cmd.Wait()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatalf("attacker: %v", err)
		}
	}
	res := agg.Stop()
	out.merge = selfCPU(b) - selfBefore
	for _, c := range cmds {
		out.cpu += childCPU(b, c)
	}
	if res.Requests == 0 {
		b.Fatal("no requests from the attackers")
	}
	out.requests, out.failures, out.took = res.Requests, res.Failures, time.Since(began)
	return out
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
