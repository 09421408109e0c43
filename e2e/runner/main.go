// Command runner runs the end-to-end suite side by side on a few labs.
//
// The suite mostly waits (a rollout takes tens of seconds of which the CPU
// is busy for a few), so one test after another on one lab leaves a 2-core
// machine idle most of the time. The runner starts a few labs of each node
// mode (each is the test binary holding a lab: ROLLCHECK_E2E_HOLD=1), then
// gives each lab one test at a time from a queue, longest first (by the
// durations of an earlier run), each test in its own test binary attached
// to that lab (ROLLCHECK_E2E_LAB). A test has a lab to itself while it runs,
// as it had when the suite ran in one process, so no test changes.
//
// Each test's output is printed whole when it ends, so that the log reads
// as one test after another; a progress line every minute says what runs.
// At the end it prints the ten slowest tests and writes every duration for
// the next run's order.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/e2e.test", "the e2e test binary (go test -c ./e2e/)")
	flag.StringVar(&o.dir, "dir", "e2e", "the e2e package's directory: each test runs in it, as under go test")
	flag.StringVar(&o.labs, "labs", "process=3", "labs to start, MODE=N[,MODE=N]: process (the process kubelet), real (the real node) or nodes (3 real nodes, one kube-proxy slowed)")
	flag.StringVar(&o.run, "run", ".", "run only the tests whose names match this regular expression")
	flag.StringVar(&o.realRun, "real-run", ".", "of those, run on real labs only the tests matching this regular expression")
	flag.StringVar(&o.durations, "durations", "e2e/testdata/durations.tsv", "durations of an earlier run (MODE TEST SECONDS), for the order: longest first")
	flag.StringVar(&o.durationsOut, "durations-out", "", "write this run's durations here (default: none)")
	flag.StringVar(&o.logs, "logs", "", "keep each test's output in this directory (default: a temporary one, removed)")
	flag.StringVar(&o.lateLabs, "late-labs", "", "labs to start once every lab of -late-after has no test left and every other lab runs only its -tail tests (MODE=N[,MODE=N]): a heavy lab that would starve the others' timing runs in their tail instead of beside them")
	flag.StringVar(&o.lateAfter, "late-after", "process", "the modes (comma-separated) whose labs the late labs wait for")
	flag.StringVar(&o.lateRun, "late-run", ".", "of the tests -run selects, run on late labs only those matching this regular expression; they run on no other lab")
	flag.StringVar(&o.alone, "alone", "", "tests matching this regular expression run first, one at a time with no other test beside them (a test that loads the CPU on purpose)")
	flag.StringVar(&o.tail, "tail", "", "tests matching this regular expression run last on their lab, after the others (tests whose checks hold under load, to run beside the late labs)")
	flag.DurationVar(&o.testTimeout, "test-timeout", 20*time.Minute, "time limit of one test")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "e2e runner:", err)
		os.Exit(1)
	}
}

type options struct {
	bin, dir, labs          string
	run, realRun            string
	durations, durationsOut string
	logs                    string
	alone, tail             string
	lateLabs, lateAfter     string
	lateRun                 string
	testTimeout             time.Duration
}

// job is one test on one node mode.
type job struct {
	mode, test string
	// estimate is the test's duration in an earlier run (0: unknown).
	estimate time.Duration
	// tail: the test runs after the lab's other tests (-tail).
	tail bool
}

// outcome is how a job ended.
type outcome struct {
	job
	lab     int
	result  string // PASS, FAIL, SKIP or INTERRUPTED
	elapsed time.Duration
}

func run(ctx context.Context, o options, out io.Writer) error {
	labs, err := parseLabs(o.labs)
	if err != nil {
		return err
	}
	// The tests run in -dir, so the binary's path must not be relative.
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}
	names, err := listTests(o.bin, o.run)
	if err != nil {
		return err
	}
	realRE, err := regexp.Compile(o.realRun)
	if err != nil {
		return fmt.Errorf("-real-run: %w", err)
	}
	var aloneRE *regexp.Regexp
	if o.alone != "" {
		if aloneRE, err = regexp.Compile(o.alone); err != nil {
			return fmt.Errorf("-alone: %w", err)
		}
	}
	tailRE := regexp.MustCompile("^$")
	if o.tail != "" {
		if tailRE, err = regexp.Compile(o.tail); err != nil {
			return fmt.Errorf("-tail: %w", err)
		}
	}
	var late []labSpec
	lateRE := regexp.MustCompile("^$")
	if o.lateLabs != "" {
		if late, err = parseLabs(o.lateLabs); err != nil {
			return fmt.Errorf("-late-labs: %w", err)
		}
		if lateRE, err = regexp.Compile(o.lateRun); err != nil {
			return fmt.Errorf("-late-run: %w", err)
		}
	}
	lateModes := map[string]bool{}
	for _, l := range late {
		lateModes[l.mode] = true
	}
	known := readDurations(o.durations)
	var alone []job
	queues := map[string][]job{}
	total := 0
	for _, l := range append(append([]labSpec(nil), labs...), late...) {
		if _, ok := queues[l.mode]; ok {
			continue
		}
		var q []job
		for _, n := range names {
			if l.mode == "real" && !realRE.MatchString(n) {
				continue
			}
			// A late lab's tests run on it alone.
			if lateModes[l.mode] != lateRE.MatchString(n) {
				continue
			}
			j := job{mode: l.mode, test: n, estimate: known[l.mode+"\t"+n], tail: tailRE.MatchString(n)}
			if aloneRE != nil && aloneRE.MatchString(n) {
				alone = append(alone, j)
			} else {
				q = append(q, j)
			}
		}
		queues[l.mode] = order(q)
		total += len(q)
	}
	total += len(alone)
	logs := o.logs
	if logs == "" {
		if logs, err = os.MkdirTemp("", "rollcheck-e2e-logs-"); err != nil {
			return err
		}
		defer os.RemoveAll(logs)
	} else if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}

	start := time.Now()
	fmt.Fprintf(out, "e2e: %d tests on %d labs (%s)\n", total, len(labs), o.labs)
	held, err := startLabs(ctx, o.bin, labs, out)
	defer func() {
		for _, h := range held {
			h.release()
		}
	}()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "e2e: %d labs ready in %.1fs\n", len(held), time.Since(start).Seconds())

	s := &suite{out: out, queues: queues, running: map[int]runningTest{}, bin: o.bin, dir: o.dir, logs: logs, timeout: o.testTimeout}
	// The tests that must be alone go first, while every lab is idle.
	for _, j := range alone {
		for i, h := range held {
			if h.mode == j.mode && ctx.Err() == nil {
				s.record(ctx, s.runOne(ctx, i+1, h, j))
				break
			}
		}
	}
	var wg sync.WaitGroup
	var before sync.WaitGroup // the labs the late ones wait for
	waitFor := map[string]bool{}
	for _, m := range strings.Split(o.lateAfter, ",") {
		waitFor[strings.TrimSpace(m)] = true
	}
	for i, h := range held {
		wg.Add(1)
		if waitFor[h.mode] {
			before.Add(1)
		}
		go func() {
			defer wg.Done()
			s.work(ctx, i+1, h)
			if waitFor[h.mode] {
				h.release()
				before.Done()
			}
		}()
	}
	if len(late) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			before.Wait()
			// and the other labs have only their tail tests left
			for ctx.Err() == nil && !s.onlyTailLeft(lateModes) {
				select {
				case <-ctx.Done():
				case <-time.After(2 * time.Second):
				}
			}
			if ctx.Err() != nil {
				return
			}
			fmt.Fprintf(out, "e2e: the %s labs are done and the others run their tail; starting the late labs (%s)\n", o.lateAfter, o.lateLabs)
			lateHeld, err := startLabs(ctx, o.bin, late, out)
			s.mu.Lock()
			held = append(held, lateHeld...)
			s.mu.Unlock()
			if err != nil {
				fmt.Fprintf(out, "e2e: late labs: %v\n", err)
				s.mu.Lock()
				s.lateErr = err
				s.mu.Unlock()
				return
			}
			var lw sync.WaitGroup
			for i, h := range lateHeld {
				lw.Add(1)
				go func() {
					defer lw.Done()
					s.work(ctx, len(labs)+i+1, h)
					h.release()
				}()
			}
			lw.Wait()
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			s.progress(total, start)
		}
	}
	s.mu.Lock()
	all := held
	s.mu.Unlock()
	for _, h := range all {
		h.release()
	}
	wall := time.Since(start)
	if err := summary(out, s.results, wall); err != nil {
		return err
	}
	if o.durationsOut != "" {
		if err := writeDurations(o.durationsOut, s.results); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	var failed []string
	for _, r := range s.results {
		if r.result == "FAIL" {
			failed = append(failed, r.mode+"/"+r.test)
		}
	}
	if s.lateErr != nil {
		return fmt.Errorf("late labs: %w", s.lateErr)
	}
	if n := total - len(s.results); n > 0 {
		return fmt.Errorf("%d tests did not run", n)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d failed: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

// labSpec is one MODE=N of -labs.
type labSpec struct{ mode string }

func parseLabs(s string) ([]labSpec, error) {
	var labs []labSpec
	for _, part := range strings.Split(s, ",") {
		mode, n, ok := strings.Cut(strings.TrimSpace(part), "=")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || count < 0 {
			return nil, fmt.Errorf("-labs %q: want MODE=N[,MODE=N]", s)
		}
		if mode != "process" && mode != "real" && mode != "nodes" {
			return nil, fmt.Errorf("-labs: mode %q: want process, real or nodes", mode)
		}
		for range count {
			labs = append(labs, labSpec{mode: mode})
		}
	}
	if len(labs) == 0 {
		return nil, fmt.Errorf("-labs %q: no lab", s)
	}
	return labs, nil
}

// listTests asks the test binary for its top-level tests (without
// ROLLCHECK_E2E it starts no lab).
func listTests(bin, run string) ([]string, error) {
	cmd := exec.Command(bin, "-test.list", run)
	cmd.Env = withoutE2E(os.Environ())
	data, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the tests of %s: %w", bin, err)
	}
	var names []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "Test") {
			names = append(names, l)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no test of %s matches %q", bin, run)
	}
	return names, nil
}

func withoutE2E(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "ROLLCHECK_E2E=") && !strings.HasPrefix(e, "ROLLCHECK_E2E_LAB=") && !strings.HasPrefix(e, "ROLLCHECK_E2E_HOLD=") && !strings.HasPrefix(e, "ROLLCHECK_E2E_NODE=") {
			out = append(out, e)
		}
	}
	return out
}

// order puts the longest tests first, so that the last to end are short
// ones and the labs finish close together; a test never timed before goes
// first, as it may be long. Tail tests come after all the others, in the
// same order among themselves.
func order(q []job) []job {
	sort.SliceStable(q, func(i, j int) bool {
		if q[i].tail != q[j].tail {
			return q[j].tail
		}
		a, b := q[i].estimate, q[j].estimate
		if (a == 0) != (b == 0) {
			return a == 0
		}
		return a > b
	})
	return q
}

// readDurations reads MODE TEST SECONDS lines; a missing file is no
// estimate at all.
func readDurations(path string) map[string]time.Duration {
	known := map[string]time.Duration{}
	data, err := os.ReadFile(path)
	if err != nil {
		return known
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || strings.HasPrefix(l, "#") {
			continue
		}
		if s, err := strconv.ParseFloat(f[2], 64); err == nil {
			known[f[0]+"\t"+f[1]] = time.Duration(s * float64(time.Second))
		}
	}
	return known
}

func writeDurations(path string, rs []outcome) error {
	sorted := append([]outcome(nil), rs...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].mode != sorted[j].mode {
			return sorted[i].mode < sorted[j].mode
		}
		return sorted[i].test < sorted[j].test
	})
	var b strings.Builder
	b.WriteString("# MODE TEST SECONDS: one e2e run's durations, for the runner's order (longest first)\n")
	for _, r := range sorted {
		fmt.Fprintf(&b, "%s\t%s\t%.0f\n", r.mode, r.test, r.elapsed.Seconds())
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// runningTest is what a lab runs now, for the progress line.
type runningTest struct {
	test  string
	tail  bool
	since time.Time
}

// suite hands out the queues' jobs to the labs and collects outcomes.
type suite struct {
	out     io.Writer
	bin     string
	dir     string
	logs    string
	timeout time.Duration

	mu      sync.Mutex
	queues  map[string][]job
	running map[int]runningTest
	results []outcome
	lateErr error
}

// next takes the next job of a mode's queue, as lab n's running test.
func (s *suite) next(mode string, n int) (job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[mode]
	if len(q) == 0 {
		return job{}, false
	}
	s.queues[mode] = q[1:]
	s.running[n] = runningTest{test: q[0].test, tail: q[0].tail, since: time.Now()}
	return q[0], true
}

// onlyTailLeft tells whether every lab not of the late modes runs and
// waits for tail tests only (or nothing).
func (s *suite) onlyTailLeft(late map[string]bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for mode, q := range s.queues {
		if late[mode] {
			continue
		}
		for _, j := range q {
			if !j.tail {
				return false
			}
		}
	}
	for _, r := range s.running {
		if !r.tail {
			return false
		}
	}
	return true
}

// work runs jobs of its lab's mode on it until none is left.
func (s *suite) work(ctx context.Context, n int, h *heldLab) {
	for ctx.Err() == nil {
		j, ok := s.next(h.mode, n)
		if !ok {
			return
		}
		s.record(ctx, s.runOne(ctx, n, h, j))
	}
}

// record keeps a job's outcome, unless the run was interrupted (a killed
// test neither passed nor failed).
func (s *suite) record(ctx context.Context, o outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, o.lab)
	if ctx.Err() == nil {
		s.results = append(s.results, o)
	}
}

func (s *suite) runOne(ctx context.Context, n int, h *heldLab, j job) outcome {
	logPath := filepath.Join(s.logs, fmt.Sprintf("%s-%s.log", j.mode, j.test))
	f, err := os.Create(logPath)
	o := outcome{job: j, lab: n, result: "FAIL"}
	start := time.Now()
	if err == nil {
		cmd := exec.Command(s.bin, "-test.run", "^"+regexp.QuoteMeta(j.test)+"$", "-test.v", "-test.count=1", "-test.timeout", s.timeout.String())
		cmd.Env = append(withoutE2E(os.Environ()), "ROLLCHECK_E2E=1", "ROLLCHECK_E2E_LAB="+h.dir, "ROLLCHECK_E2E_NODE="+h.mode)
		cmd.Dir = s.dir
		cmd.Stdout, cmd.Stderr = f, f
		// Its own process group, so that an interrupt stops the test and
		// every rollcheck and kubectl it started.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err = cmd.Start(); err == nil {
			stopped := context.AfterFunc(ctx, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
			err = cmd.Wait()
			stopped()
		}
		f.Close()
	}
	o.elapsed = time.Since(start)
	data, _ := os.ReadFile(logPath)
	switch {
	case ctx.Err() != nil:
		// Stopped by the interrupt: it neither passed nor failed.
		o.result = "INTERRUPTED"
	case err == nil && strings.Contains(string(data), "--- SKIP: "+j.test+" "):
		o.result = "SKIP"
	case err == nil:
		o.result = "PASS"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, "=== e2e %s %s on lab %d (%s): %.1fs\n", o.result, j.test, n, j.mode, o.elapsed.Seconds())
	if err != nil && len(data) == 0 {
		fmt.Fprintf(s.out, "%v\n", err)
	}
	_, _ = s.out.Write(data)
	return o
}

func (s *suite) progress(total int, start time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	failed := 0
	for _, r := range s.results {
		if r.result == "FAIL" {
			failed++
		}
	}
	var now []string
	labs := make([]int, 0, len(s.running))
	for n := range s.running {
		labs = append(labs, n)
	}
	sort.Ints(labs)
	for _, n := range labs {
		r := s.running[n]
		now = append(now, fmt.Sprintf("lab %d %s (%s)", n, r.test, time.Since(r.since).Round(time.Second)))
	}
	fmt.Fprintf(s.out, "e2e: %s: %d of %d done, %d failed; running: %s\n",
		time.Since(start).Round(time.Second), len(s.results), total, failed, strings.Join(now, ", "))
}

// summary prints the ten slowest tests, and how much the labs side by side
// saved: the sum of the tests' times over the wall time.
func summary(out io.Writer, rs []outcome, wall time.Duration) error {
	sorted := append([]outcome(nil), rs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].elapsed > sorted[j].elapsed })
	var sum time.Duration
	for _, r := range rs {
		sum += r.elapsed
	}
	fmt.Fprintf(out, "\ne2e: %d tests in %s wall time; their times add up to %s (%.1fx side by side)\n",
		len(rs), wall.Round(time.Second), sum.Round(time.Second), sum.Seconds()/max(wall.Seconds(), 1))
	fmt.Fprintln(out, "the ten slowest tests:")
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "seconds\tnode\tresult\ttest\t")
	for i, r := range sorted {
		if i == 10 {
			break
		}
		fmt.Fprintf(w, "%.1f\t%s\t%s\t%s\t\n", r.elapsed.Seconds(), r.mode, r.result, r.test)
	}
	return w.Flush()
}
