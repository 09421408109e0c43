package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestParseLabs(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{name: "one mode gives that many labs", in: "process=2", want: []string{"process", "process"}},
		{name: "two modes keep their order", in: "process=1,real=2", want: []string{"process", "real", "real"}},
		{name: "a mode of zero labs adds none", in: "process=1,real=0", want: []string{"process"}},
		{name: "the many-nodes lab is a mode", in: "nodes=1", want: []string{"nodes"}},
		{name: "an unknown mode is an error", in: "kind=1", wantErr: true},
		{name: "a count that is not a number is an error", in: "process=x", wantErr: true},
		{name: "no lab at all is an error", in: "process=0", wantErr: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			labs, err := parseLabs(c.in)
			if (err != nil) != c.wantErr {
				t.Fatalf("parseLabs(%q) error %v, want error %v", c.in, err, c.wantErr)
			}
			var got []string
			for _, l := range labs {
				got = append(got, l.mode)
			}
			if !c.wantErr && !reflect.DeepEqual(got, c.want) {
				t.Errorf("parseLabs(%q) = %v, want %v", c.in, got, c.want)
			}
		})
	}
}

func TestOrderPutsUnknownThenLongestFirst(t *testing.T) {
	q := order([]job{
		{test: "Short", estimate: 10 * time.Second},
		{test: "New"},
		{test: "Long", estimate: 300 * time.Second},
		{test: "Mid", estimate: 60 * time.Second},
	})
	var got []string
	for _, j := range q {
		got = append(got, j.test)
	}
	if want := []string{"New", "Long", "Mid", "Short"}; !reflect.DeepEqual(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func TestOrderPutsTailTestsLast(t *testing.T) {
	q := order([]job{
		{test: "LongTail", estimate: 300 * time.Second, tail: true},
		{test: "Short", estimate: 10 * time.Second},
		{test: "ShortTail", estimate: 20 * time.Second, tail: true},
		{test: "New"},
		{test: "Mid", estimate: 60 * time.Second},
	})
	var got []string
	for _, j := range q {
		got = append(got, j.test)
	}
	if want := []string{"New", "Mid", "Short", "LongTail", "ShortTail"}; !reflect.DeepEqual(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func TestDurationsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.tsv")
	rs := []outcome{
		{job: job{mode: "real", test: "TestB"}, elapsed: 90 * time.Second},
		{job: job{mode: "process", test: "TestA"}, elapsed: 12 * time.Second},
	}
	if err := writeDurations(path, rs); err != nil {
		t.Fatal(err)
	}
	got := readDurations(path)
	want := map[string]time.Duration{"real\tTestB": 90 * time.Second, "process\tTestA": 12 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back %v, want %v", got, want)
	}
	if len(readDurations(filepath.Join(t.TempDir(), "missing"))) != 0 {
		t.Error("a missing file gave estimates")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

func TestLateLabsWaitForTheTail(t *testing.T) {
	late := map[string]bool{"nodes": true}
	s := &suite{running: map[int]runningTest{}, queues: map[string][]job{
		"real":  {{test: "Sensitive"}, {test: "Robust", tail: true}},
		"nodes": {{test: "Lag"}},
	}}
	if s.onlyTailLeft(late) {
		t.Error("a queued test outside the tail let the late labs start")
	}
	if _, ok := s.next("real", 1); !ok {
		t.Fatal("no job")
	}
	if s.onlyTailLeft(late) {
		t.Error("a running test outside the tail let the late labs start")
	}
	s.record(context.Background(), outcome{job: job{mode: "real", test: "Sensitive"}, lab: 1})
	if !s.onlyTailLeft(late) {
		t.Error("only the tail left, and the late labs still wait")
	}
	if _, ok := s.next("real", 1); !ok || !s.onlyTailLeft(late) {
		t.Error("a tail test running kept the late labs waiting")
	}
}
