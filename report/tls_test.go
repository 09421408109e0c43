package report

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

// --target-insecure is loud whatever the verdict: a PASS keeps its
// summary and gains the warning, and the JSON says verified false.
func TestInsecureTargetsAreAmongTheReasons(t *testing.T) {
	a, o := run(map[int]int{}, 100)
	in := Input{Deployment: "web", Namespace: "default", Action: "restart", Targets: []string{"https://127.0.0.1:1/"}, Attack: a, Outcome: o,
		Drained: o.CompletedAt.Add(time.Second), Thresholds: DefaultThresholds(), Replaces: true}
	verified := Build(in)
	if slices.Contains(verified.Reasons, InsecureReason) || verified.Load.TLS != nil {
		t.Errorf("a run without TLS settings: reasons %q, tls %+v", verified.Reasons, verified.Load.TLS)
	}
	in.TLS = &TargetTLS{Verified: false, ServerName: "web.example.internal"}
	r := Build(in)
	if r.Verdict != verified.Verdict || len(r.Reasons) != len(verified.Reasons)+1 || r.Reasons[len(r.Reasons)-1] != InsecureReason {
		t.Errorf("verdict %s reasons %q, want %s's reasons and then the warning", r.Verdict, r.Reasons, verified.Verdict)
	}
	var buf bytes.Buffer
	if err := writeJSON(r, &buf); err != nil {
		t.Fatal(err)
	}
	if err := Validate(buf.Bytes()); err != nil {
		t.Error(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"tls": {`)) || !bytes.Contains(buf.Bytes(), []byte(`"verified": false`)) {
		t.Errorf("the JSON lacks load.tls.verified false:\n%s", buf.String())
	}
}
