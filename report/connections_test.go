package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rollcheck/rollcheck/attack"
)

// bothStreams is a run of --connections both at 100/s: the new stream's
// refused connections, the reused stream's resets on kept connections and
// refused ones it had to open; failN scales the failures (0: none).
func bothStreams(failN int) (*attack.Result, Input) {
	a, o := run(nil, 100)
	a.Connections = attack.ConnectionsBoth
	a.Streams = []attack.StreamResult{
		{Stream: attack.StreamReused, Rate: 50, AchievedRate: 50, Requests: 1500, Failures: 3 * failN,
			ByClass:            map[attack.Class]int{attack.ClassOK: 1500 - 3*failN, attack.ClassReset: 2 * failN, attack.ClassRefused: failN},
			ReusedConnRequests: 1480, ReusedConnByClass: map[attack.Class]int{attack.ClassOK: 1480 - 2*failN, attack.ClassReset: 2 * failN}},
		{Stream: attack.StreamNew, Rate: 50, AchievedRate: 50, Requests: 1500, Failures: 4 * failN,
			ByClass:           map[attack.Class]int{attack.ClassOK: 1500 - 4*failN, attack.ClassRefused: 4 * failN},
			ReusedConnByClass: map[attack.Class]int{}},
	}
	return a, Input{Namespace: "default", Deployment: "web", Action: "restart", Attack: a, Outcome: o, Thresholds: DefaultThresholds()}
}

// A result with no streams (a report from before them) has no split.
func TestConnectionsAbsentWithoutStreams(t *testing.T) {
	a, o := run(map[int]int{12: 1}, 100)
	r := Build(Input{Attack: a, Outcome: o, Thresholds: DefaultThresholds()})
	if r.Connections != nil {
		t.Fatalf("connections %+v", r.Connections)
	}
	var js bytes.Buffer
	if err := writeJSON(r, &js); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(js.String(), `"connections"`) {
		t.Error("JSON has connections")
	}
}
