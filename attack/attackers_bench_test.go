package attack

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// benchAttackerEnv makes the test binary run one attacker (RunAttacker, as
// `rollcheck attack` does) instead of tests. Its value is "RATE DURATION
// URL"; the stream goes to stdout.
const benchAttackerEnv = "ROLLCHECK_BENCH_ATTACKER"

// runBenchAttacker is the attacker process, with `rollcheck attack`'s
// defaults (5s timeout, keep-alive, 1s buckets) and --pod-header X-Pod-Name.
func runBenchAttacker(spec string) int {
	f := strings.Fields(spec)
	if len(f) != 3 {
		fmt.Fprintf(os.Stderr, "%s=%q: want RATE DURATION URL\n", benchAttackerEnv, spec)
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
		Name:     "bench",
		Duration: d,
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
// attack`'s path, each its own process, their streams decoded and fed into
// one aggregate here, as run --attackers does): the achieved rate ratio
// (3 attackers' total over the local one's) and the CPU per request ratio
// (the attackers' CPU per request over the local one's; the streaming is
// the difference). R is ROLLCHECK_BENCH_SPLIT_RATE (default 1500), each
// load ROLLCHECK_BENCH_DURATION (default 10s). It measures once whatever b.N
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
	d := envDuration(b, "ROLLCHECK_BENCH_DURATION", 10*time.Second)
	url := startBenchTarget(b)
	loadProcess(b, url, rate, time.Second) // warm up the target; not measured

	// One local generator at R.
	local := exec.Command(os.Args[0], "-test.run=^$")
	local.Env = append(os.Environ(), fmt.Sprintf("%s=%d %s %s", benchLoadEnv, rate, d, url))
	local.Stderr = os.Stderr
	out, err := local.Output()
	if err != nil {
		b.Fatalf("local load: %v", err)
	}
	var localReq, localFail int
	var localAchieved float64
	if _, err := fmt.Sscan(string(out), &localReq, &localFail, &localAchieved); err != nil {
		b.Fatalf("local load printed %q: %v", out, err)
	}
	localCPU := childCPU(b, local)

	// 3 attackers at R/3, merged here.
	agg, err := New(Config{Targets: []Target{{URL: url}}, Rate: Rate{rate, time.Second}, NoLocal: true, PodHeader: "X-Pod-Name", MaxDuration: d + time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	agg.Start(context.Background())
	began := time.Now()
	const attackers = 3
	cmds := make([]*exec.Cmd, attackers)
	var wg sync.WaitGroup
	errs := make(chan error, attackers)
	var achieved float64
	var mu sync.Mutex
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %s %s", benchAttackerEnv, rate/attackers, d, url))
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
			dec := NewStreamDecoder(stdout)
			var offset time.Duration // the same machine: one clock
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
				case RecordResult:
					r := rec.VegetaResult("X-Pod-Name")
					r.Timestamp = r.Timestamp.Add(offset)
					agg.Feed(r, rec.Reused)
				case RecordEnd:
					mu.Lock()
					achieved += rec.AchievedRate
					mu.Unlock()
				}
			}
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
	var splitCPU time.Duration
	for _, c := range cmds {
		splitCPU += childCPU(b, c)
	}
	if res.Requests == 0 || localReq == 0 {
		b.Fatalf("no requests: local %d, attackers %d", localReq, res.Requests)
	}
	localPer := localCPU / time.Duration(localReq)
	splitPer := splitCPU / time.Duration(res.Requests)
	achievedRatio := achieved / localAchieved
	cpuRatio := float64(splitPer) / float64(localPer)
	fmt.Printf("local at %d/s: %d requests, achieved %.1f/s, CPU %s per request\n", rate, localReq, localAchieved, localPer)
	fmt.Printf("%d attackers at %d/s: %d requests merged (%d failed) in %s, achieved %.1f/s together, CPU %s per request\n",
		attackers, rate/attackers, res.Requests, res.Failures, time.Since(began).Round(time.Millisecond), achieved, splitPer)
	fmt.Printf("bench attackers_achieved_ratio_%d %.4f\n", rate, achievedRatio)
	fmt.Printf("bench attackers_cpu_per_request_local_%d_us %.2f\n", rate, float64(localPer)/1e3)
	fmt.Printf("bench attackers_cpu_per_request_split_%d_us %.2f\n", rate, float64(splitPer)/1e3)
	fmt.Printf("bench attackers_cpu_per_request_ratio_%d %.3f\n", rate, cpuRatio)
	b.ReportMetric(achievedRatio, "achieved-ratio")
	b.ReportMetric(cpuRatio, "cpu-ratio")
}
