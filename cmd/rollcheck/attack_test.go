package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/exitcode"
)

// executeAttack runs `rollcheck attack args...`; with run false the load is
// not sent and the options are returned as Validate left them.
func executeAttack(t *testing.T, ctx context.Context, run bool, hook func(*AttackOptions), args ...string) (code int, stdout, stderr string, opts *AttackOptions) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := newFactory(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	runF := func(ctx context.Context, o *AttackOptions) error {
		opts = o
		if hook != nil {
			hook(o)
		}
		if !run {
			return nil
		}
		return o.Run(ctx)
	}
	root := rootWith(f, newAttackCommand(f, runF))
	root.SetArgs(append([]string{"attack"}, args...))
	err := root.ExecuteContext(ctx)
	return exitCode(err, &errOut), out.String(), errOut.String(), opts
}

func TestAttackBadInputExitsTwoBeforeSendingAnything(t *testing.T) {
	dir := t.TempDir()
	spaced := filepath.Join(dir, "spaced.txt")
	if err := os.WriteFile(spaced, []byte("# targets\nGET http://127.0.0.1:1/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no target is refused", []string{"--duration", "1s"}, "no target"},
		{"no duration is refused", []string{"http://127.0.0.1:1/"}, "--duration is required"},
		{"a duration beyond the bound is refused", []string{"--duration", "25h", "http://127.0.0.1:1/"}, "longer than the 24h0m0s"},
		{"a bad URL is named", []string{"--duration", "1s", "127.0.0.1/x"}, "127.0.0.1/x"},
		{"a bad rate is named", []string{"--duration", "1s", "--rate", "fast", "http://127.0.0.1:1/"}, "fast"},
		{"a bad header is refused", []string{"--duration", "1s", "-H", "no colon", "http://127.0.0.1:1/"}, "no colon"},
		{"a missing targets file is named", []string{"--duration", "1s", "--targets", filepath.Join(dir, "gone.txt")}, "gone.txt"},
		{"a targets line that is not a URL is named", []string{"--duration", "1s", "--targets", spaced}, "line 2: want one URL a line"},
		{"a clock address without port is refused", []string{"--duration", "1s", "--clock-listen", "localhost", "http://127.0.0.1:1/"}, "--clock-listen"},
		{"keepalive and connections that disagree are refused", []string{"--duration", "1s", "--keepalive=false", "--connections", "reused", "http://127.0.0.1:1/"}, "disagree"},
		{"a tiny beacon interval is refused", []string{"--duration", "1s", "--beacon-every", "1us", "http://127.0.0.1:1/"}, "--beacon-every"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr, opts := executeAttack(t, context.Background(), false, nil, tt.args...)
			if code != exitcode.Usage || opts != nil {
				t.Fatalf("exit %d (ran: %v), want %d before the load", code, opts != nil, exitcode.Usage)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not name %q:\n%s", tt.want, stderr)
			}
		})
	}
}

func TestAttackTakesTargetsFromArgumentsFlagsAndFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "urls.txt")
	if err := os.WriteFile(file, []byte("# comment\n\nhttp://c.example/\n  http://d.example/x  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr, o := executeAttack(t, context.Background(), false, nil, "http://a.example/", "--target", "http://b.example/",
		"--targets", file, "--duration", "2s", "--rate", "30/s", "--method", "post", "--name", "atk-1", "--keepalive=false")
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var urls []string
	for _, tg := range o.Config.Attack.Targets {
		urls = append(urls, tg.Method+" "+tg.URL)
	}
	want := "POST http://a.example/,POST http://b.example/,POST http://c.example/,POST http://d.example/x"
	if got := strings.Join(urls, ","); got != want {
		t.Errorf("targets %s", got)
	}
	c := o.Config
	if c.Name != "atk-1" || c.Duration != 2*time.Second || c.Attack.Rate.PerSecond() != 30 || c.Attack.Connections != attack.ConnectionsNew || c.BeaconEvery != time.Second {
		t.Errorf("config %+v", c)
	}
}

func TestAttackNameDefaultsToTheHostName(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skip("no host name")
	}
	_, _, _, o := executeAttack(t, context.Background(), false, nil, "--duration", "1s", "http://127.0.0.1:1/")
	if o.Config.Name != host {
		t.Errorf("name %q, want the host name %q", o.Config.Name, host)
	}
}

func TestAttackStreamsResultsWithoutHeadersOrPasswords(t *testing.T) {
	var gotAuth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		w.Header().Set("X-Pod-Name", "web-2")
	}))
	defer srv.Close()
	target := strings.Replace(srv.URL, "http://", "http://user:pa55word@", 1) + "/path"
	code, stdout, stderr, _ := executeAttack(t, context.Background(), true, nil, target, "--duration", "500ms", "--rate", "20/s",
		"-H", "Authorization: Bearer t0ken-s3cret", "--pod-header", "X-Pod-Name", "--name", "a0", "--beacon-every", "100ms")
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("attack wrote to stderr (it would go into a pod's log with the stream): %q", stderr)
	}
	if gotAuth.Load() != "Bearer t0ken-s3cret" {
		t.Fatalf("the server did not get the header: %v", gotAuth.Load())
	}
	for _, secret := range []string{"t0ken-s3cret", "pa55word", "Authorization"} {
		if strings.Contains(stdout, secret) {
			t.Errorf("the stream carries %q", secret)
		}
	}
	d := attack.NewStreamDecoder(strings.NewReader(stdout))
	counts := map[string]int{}
	for {
		rec, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		counts[rec.Type]++
		if rec.Type == attack.RecordHeader && rec.Attacker != "a0" {
			t.Errorf("header names %q", rec.Attacker)
		}
		if rec.Type == attack.RecordResult && (rec.Pod != "web-2" || rec.Code != 200 || !strings.Contains(rec.URL, "xxxxx")) {
			t.Errorf("result %+v", rec)
		}
	}
	if counts[attack.RecordHeader] != 1 || counts[attack.RecordEnd] != 1 || counts[attack.RecordResult] < 8 || counts[attack.RecordResult] > 11 || counts[attack.RecordBeacon] < 3 {
		t.Errorf("records by type %v; want a header, about 10 results, beacons and an end", counts)
	}
}

func TestAttackWritesToOutputAndServesItsSkewedClock(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "stream.ndjson")
	var clock attack.ClockTime
	var clockErr error
	var before time.Time
	hook := func(o *AttackOptions) {
		o.listening = func(addr string) {
			before = time.Now()
			client := &http.Client{Timeout: 5 * time.Second}
			resp, err := client.Get("http://" + addr + "/clock")
			if err != nil {
				clockErr = err
				return
			}
			defer resp.Body.Close()
			clockErr = json.NewDecoder(resp.Body).Decode(&clock)
		}
	}
	code, stdout, stderr, _ := executeAttack(t, context.Background(), true, hook, srv.URL, "--duration", "200ms", "--rate", "10/s",
		"-o", out, "--clock-listen", "127.0.0.1:0", "--clock-skew", "-1h")
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("with -o the stream went to stdout too: %q", stdout)
	}
	if clockErr != nil {
		t.Fatalf("GET /clock: %v", clockErr)
	}
	if off := clock.Time.Sub(before); off > -time.Hour+time.Second || off < -time.Hour-time.Second {
		t.Errorf("/clock is %s off, want -1h", off)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	d := attack.NewStreamDecoder(bytes.NewReader(data))
	rec, err := d.Next()
	if err != nil || rec.Type != attack.RecordHeader || time.Since(rec.Start) < 59*time.Minute {
		t.Fatalf("first record %+v, %v: want a header an hour behind", rec, err)
	}
}

func TestAttackCancelledStillEndsItsStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	code, stdout, stderr, _ := executeAttack(t, ctx, true, nil, srv.URL, "--duration", "1h", "--rate", "20/s")
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s after the cancel", took)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var last attack.StreamRecord
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Type != attack.RecordEnd {
		t.Fatalf("last line %q (%v), want the end record", lines[len(lines)-1], err)
	}
}

func TestAttackOutputErrorIsARuntimeError(t *testing.T) {
	code, _, stderr, _ := executeAttack(t, context.Background(), true, nil, "http://127.0.0.1:1/", "--duration", "1s",
		"-o", filepath.Join(t.TempDir(), "no", "such", "dir", "x"))
	if code != exitcode.Runtime || !strings.Contains(stderr, "--output") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
