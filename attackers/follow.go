package attackers

// Reading each attacker's result stream from its log, and reading it
// again after a cut.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rollcheck/rollcheck/attack"
)

// follow decodes m's stream until it ends.
func (f *Fleet) follow(m *member) {
	defer close(m.done)
	var st readState
	for {
		rc, err := f.tr.Logs(f.bg, f.cfg.Namespace, m.spec.name)
		if err != nil {
			m.mu.Lock()
			if m.problem == "" {
				m.problem = "its stream could not be followed: " + err.Error()
				if st.opened > 0 {
					m.problem = "its stream was cut and could not be followed again: " + err.Error()
				}
			}
			m.mu.Unlock()
			return
		}
		st.opened++
		cut, err := f.read(m, rc, &st)
		rc.Close()
		if err != nil {
			m.mu.Lock()
			if m.problem == "" {
				m.problem = "its stream could not be read: " + err.Error()
			}
			m.mu.Unlock()
			return
		}
		if !cut {
			return
		}
		// The log ended without the end record while the pod still runs:
		// the API server's stream was cut, or the kubelet rotated the
		// log. Read it again and go on from the last record seen.
		if st.opened > maxResumes || f.bg.Err() != nil || !f.podRunning(m) {
			m.mu.Lock()
			if !m.ended && m.problem == "" {
				if m.stopping {
					m.problem = "its stream ended without its end record"
				} else {
					m.problem = "died: its stream ended before the run did" + f.podEnd(m)
				}
			}
			m.mu.Unlock()
			return
		}
		f.logf("attacker %s: its log stream was cut after beacon %d; reading it again", m.spec.name, st.beacon)
		select {
		case <-f.bg.Done():
		case <-time.After(resumePause):
		}
	}
}

// maxResumes bounds how often an attacker's log is read again after it
// was cut; resumePause is the wait before each.
const (
	maxResumes  = 20
	resumePause = 200 * time.Millisecond
)

// readState is what an attacker's stream has given so far, so that the
// log read again after a cut (from its start, or from a rotation) adds
// only what is new: the last beacon and summary by their sequence
// numbers, the results by vegeta's (a summarized stream's results are its
// failures, few).
type readState struct {
	opened          int
	version         string
	beacon, summary int64 // last seen; -1 none
	results         map[uint64]bool
	started         bool
}

// read decodes one opening of m's log until it ends. cut reports that it
// ended without the end record; err a stream that cannot be read.
func (f *Fleet) read(m *member, rc io.Reader, st *readState) (cut bool, err error) {
	if !st.started {
		st.started, st.beacon, st.summary, st.results = true, -1, -1, map[uint64]bool{}
	}
	dec := attack.NewStreamDecoder(rc)
	if st.version != "" {
		dec.Continue(st.version)
	}
	podHeader := f.cfg.Attack.PodHeader
	for {
		rec, err := dec.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || f.bg.Err() != nil {
				m.mu.Lock()
				ended := m.ended
				m.mu.Unlock()
				return !ended, nil
			}
			if errors.Is(err, attack.ErrNotRecord) {
				m.mu.Lock()
				m.badLines++
				m.mu.Unlock()
				continue
			}
			return false, err
		}
		switch rec.Type {
		case attack.RecordHeader:
			st.version = rec.Version
		case attack.RecordBeacon:
			if s := int64(rec.Seq); s > st.beacon {
				if st.beacon >= 0 && s > st.beacon+1 {
					f.gap(m, st.beacon, s)
				}
				st.beacon = s
			}
		case attack.RecordResult:
			if st.results[rec.Seq] {
				continue
			}
			st.results[rec.Seq] = true
			r := rec.VegetaResult(podHeader)
			m.mu.Lock()
			r.Timestamp = r.Timestamp.Add(-m.clock.estimate().Offset)
			if m.first.IsZero() || r.Timestamp.Before(m.first) {
				m.first = r.Timestamp
			}
			if r.Timestamp.After(m.last) {
				m.last = r.Timestamp
			}
			m.requests++
			if r.Code < 200 || r.Code >= 400 {
				m.failures++
				if len(m.failureTimes) < attack.MaxAttackerFailureTimes {
					m.failureTimes = append(m.failureTimes, r.Timestamp)
				}
			}
			m.mu.Unlock()
			f.feed.Feed(r, rec.Reused)
		case attack.RecordSummary:
			if int64(rec.Seq) <= st.summary {
				continue
			}
			st.summary = int64(rec.Seq)
			sm := rec.Summary
			m.mu.Lock()
			off := m.clock.estimate().Offset
			m.first, m.last = sm.Span(m.first, m.last, off)
			m.requests += sm.Successes()
			m.mu.Unlock()
			f.feed.Merge(sm, off)
		case attack.RecordEnd:
			m.mu.Lock()
			m.ended = true
			if lost := rec.Requests - int64(m.requests); lost > 0 && m.problem == "" {
				m.problem = fmt.Sprintf("its stream lost %d of the %d requests it sent (%d of them failed, %d failures read): their results are missing from the run", lost, rec.Requests, rec.Failures, m.failures)
			}
			m.mu.Unlock()
		}
	}
}

// gap notes that m's stream lost the records between beacons from and to
// (a log read again after a rotation that had dropped some): what it sent
// then is missing from the run, so the run cannot PASS on it.
func (f *Fleet) gap(m *member, from, to int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.problem == "" {
		m.problem = fmt.Sprintf("its stream lost the records between its beacons %d and %d (about %s) when its log was cut: its results there are missing", from, to, time.Duration(to-from-1)*f.cfg.BeaconEvery)
	}
}

// podRunning reports whether m's pod still runs, as the API says.
func (f *Fleet) podRunning(m *member) bool {
	ctx, cancel := context.WithTimeout(f.bg, 5*time.Second)
	defer cancel()
	pod, err := f.kube.CoreV1().Pods(f.cfg.Namespace).Get(ctx, m.spec.name, metav1.GetOptions{})
	return err == nil && pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodRunning
}
