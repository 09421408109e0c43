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
