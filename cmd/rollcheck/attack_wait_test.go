package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/attackers"
	"github.com/rollcheck/rollcheck/exitcode"
)

// TestAttackWaitStartHoldsTheLoadUntilPOSTStart: with --wait-start no
// request goes out before POST /start on the clock listener; the headers
// of the environment (from the attacker pod's Secret) are sent, and not
// in the stream.
func TestAttackWaitStartHoldsTheLoadUntilPOSTStart(t *testing.T) {
	var hits atomic.Int64
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		auth.Store(r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	t.Setenv(attackers.HeadersEnv, "Authorization: Bearer fr0m-secret\nX-Extra: 1\n")
	var startErr error
	var before int64
	hook := func(o *AttackOptions) {
		o.listening = func(addr string) {
			go func() {
				// The load must not start by itself.
				time.Sleep(300 * time.Millisecond)
				before = hits.Load()
				resp, err := http.Post("http://"+addr+"/start", "", nil)
				if err != nil {
					startErr = err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, stdout, stderr, _ := executeAttack(t, ctx, true, hook, srv.URL, "--duration", "300ms", "--rate", "20/s",
		"--clock-listen", "127.0.0.1:0", "--wait-start")
	if code != exitcode.Pass || startErr != nil {
		t.Fatalf("exit %d (%v): %s", code, startErr, stderr)
	}
	if before != 0 || hits.Load() < 4 {
		t.Fatalf("%d requests before POST /start, %d in all; want none before and about 6 after", before, hits.Load())
	}
	if auth.Load() != "Bearer fr0m-secret" || strings.Contains(stdout, "fr0m-secret") {
		t.Errorf("Authorization %v sent; stream carries it: %v", auth.Load(), strings.Contains(stdout, "fr0m-secret"))
	}
	rec, err := attack.NewStreamDecoder(strings.NewReader(stdout)).Next()
	if err != nil || rec.Type != attack.RecordHeader {
		t.Fatalf("first record %+v %v", rec, err)
	}
	if code, _, _, _ := executeAttack(t, ctx, false, nil, srv.URL, "--duration", "1s", "--wait-start"); code != exitcode.Usage {
		t.Errorf("--wait-start without --clock-listen: exit %d, want %d", code, exitcode.Usage)
	}
}

// TestAttackSummarizeInTheRunsBuckets: with --summarize the stream is
// rollcheck.attack/v2: its successes come in summaries whose buckets start
// at the origin POST /start gave (the run's start on this clock, skew
// included), of --bucket's width, and add up to the end record's count
// less its failures; a failure is a result of its own.
func TestAttackSummarizeInTheRunsBuckets(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%4 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("X-Pod-Name", "web-1")
	}))
	defer srv.Close()
	const skew = 3 * time.Second
	origin := time.Now().Add(skew).Add(-700 * time.Millisecond).Truncate(time.Millisecond)
	var startErr error
	hook := func(o *AttackOptions) {
		o.listening = func(addr string) {
			go func() {
				resp, err := http.Post("http://"+addr+"/start?origin="+origin.Format(time.RFC3339Nano), "", nil)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				startErr = err
			}()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, stdout, stderr, _ := executeAttack(t, ctx, true, hook, srv.URL, "--duration", "600ms", "--rate", "50/s",
		"--clock-listen", "127.0.0.1:0", "--wait-start", "--summarize", "--bucket", "250ms", "--beacon-every", "200ms",
		"--pod-header", "X-Pod-Name", "--clock-skew", skew.String())
	if code != exitcode.Pass || startErr != nil {
		t.Fatalf("exit %d (%v): %s", code, startErr, stderr)
	}
	dec := attack.NewStreamDecoder(strings.NewReader(stdout))
	var ok, failed, summaries int
	var end *attack.StreamRecord
	for {
		rec, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch rec.Type {
		case attack.RecordSummary:
			summaries++
			sm := rec.Summary
			if !sm.Origin.Equal(origin) || sm.Width != 250*time.Millisecond {
				t.Errorf("summary origin %s width %s, want %s and 250ms", sm.Origin, sm.Width, origin)
			}
			for _, b := range sm.Buckets {
				for _, c := range b.Counts {
					ok += c.N
					if c.Pod != "web-1" {
						t.Errorf("a success of pod %q", c.Pod)
					}
				}
				// Sent from 0.7 s after the origin: bucket 2 or later.
				if b.Index < 2 {
					t.Errorf("bucket %d: the load began 0.7 s after the origin", b.Index)
				}
			}
		case attack.RecordResult:
			failed++
			if rec.Code != http.StatusServiceUnavailable {
				t.Errorf("a result of code %d in a summarized stream", rec.Code)
			}
		case attack.RecordEnd:
			end = rec
		}
	}
	if dec.Version() != attack.StreamVersionSummary || end == nil || summaries == 0 {
		t.Fatalf("version %q, end %+v, %d summaries", dec.Version(), end, summaries)
	}
	if int64(ok+failed) != end.Requests || int64(failed) != end.Failures || failed == 0 || ok == 0 {
		t.Errorf("%d successes summarized and %d failures, the end record %d requests %d failed", ok, failed, end.Requests, end.Failures)
	}
}
