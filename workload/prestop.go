package workload

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// PreStop is what a container's preStop hook does before SIGTERM.
type PreStop struct {
	// Set is true when the container has a preStop hook.
	Set bool
	// Known is true when the hook's length can be read: the sleep action,
	// or a command that sleeps (sleep N, /bin/sleep N, sh -c "sleep 1m &&
	// ..."). An httpGet, or a command that does not sleep, cannot be timed.
	Known bool
	// Sleep is how long the hook holds the container; 0 unless Known.
	Sleep time.Duration
	// Text describes the hook as the report shows it: "none", "sleep 5",
	// "exec: sh -c sleep 5", "httpGet /drain (length unknown)".
	Text string
}

// ReadPreStop reads a preStop hook; nil reads as no hook.
func ReadPreStop(h *corev1.LifecycleHandler) PreStop {
	switch {
	case h == nil:
		return PreStop{Text: "none"}
	case h.Sleep != nil:
		return PreStop{Set: true, Known: true, Sleep: time.Duration(h.Sleep.Seconds) * time.Second, Text: fmt.Sprintf("sleep %d", h.Sleep.Seconds)}
	case h.Exec != nil:
		text := "exec: " + strings.Join(h.Exec.Command, " ")
		d, ok := execSleep(h.Exec.Command)
		if !ok {
			text += " (length unknown)"
		}
		return PreStop{Set: true, Known: ok, Sleep: d, Text: text}
	case h.HTTPGet != nil:
		return PreStop{Set: true, Text: fmt.Sprintf("httpGet %s (length unknown)", h.HTTPGet.Path)}
	}
	return PreStop{Set: true, Text: "hook (length unknown)"}
}

// sleepRE finds "sleep N" or "/bin/sleep N" (seconds, or with an s, m, h or
// d suffix as coreutils' sleep takes) in a shell command line.
var sleepRE = regexp.MustCompile(`(?:^|[\s;&|(])(?:/\S*/)?sleep\s+([0-9]+(?:\.[0-9]+)?[smhd]?)(?:$|[\s;&|)])`)

// execSleep returns how long an exec hook sleeps: the command is sleep
// itself (["sleep", "15"], ["/bin/sleep", "15"]) or a shell script that
// runs it (["sh", "-c", "sleep 5 && nginx -s quit"]).
func execSleep(cmd []string) (time.Duration, bool) {
	if len(cmd) == 0 {
		return 0, false
	}
	if path.Base(cmd[0]) == "sleep" {
		if len(cmd) < 2 {
			return 0, false
		}
		return parseSleep(cmd[1])
	}
	m := sleepRE.FindStringSubmatch(strings.Join(cmd, " "))
	if m == nil {
		return 0, false
	}
	return parseSleep(m[1])
}

var (
	sleepArgRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)([smhd]?)$`)
	sleepUnits = map[string]time.Duration{"": time.Second, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
)

// parseSleep reads sleep's argument: a number of seconds, with an optional
// unit suffix.
func parseSleep(arg string) (time.Duration, bool) {
	m := sleepArgRE.FindStringSubmatch(arg)
	if m == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(f * float64(sleepUnits[m[2]])), true
}
