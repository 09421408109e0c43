package kubelet

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCRILogWritesTaggedEntriesPerStream(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "0.log"))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", maxLogLine+10)
	streams := map[string]io.ReadCloser{"stdout": io.NopCloser(strings.NewReader("a line\n\n" + long + "\nno newline at the end"))}
	l := newCRILog(f, func() time.Time { return time.Date(2026, 12, 1, 11, 8, 12, 7000, time.UTC) }, streams)
	l.wait(5 * time.Second)
	select {
	case <-l.done:
	default:
		t.Fatal("the log did not end with its only stream")
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	ts := "2026-12-01T11:08:12.000007000Z"
	want := ts + " stdout F a line\n" +
		ts + " stdout F \n" +
		ts + " stdout P " + long[:maxLogLine] + "\n" +
		ts + " stdout F " + long[maxLogLine:] + "\n" +
		ts + " stdout F no newline at the end\n"
	if string(data) != want {
		t.Errorf("log file:\n%.300q\nwant:\n%.300q", data, want)
	}
}
