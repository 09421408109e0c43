package scenarios

import (
	"os"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzParse feeds arbitrary bytes to the scenario parser: it must never
// panic, and whatever it accepts must validate and survive being written
// out and read back unchanged (the report and `rollcheck lint` print it).
// Seeds: the committed scenarios, f.Add below and testdata/fuzz/FuzzParse/.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"as-is.scenario.yaml", "to-be.scenario.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"apiVersion: rollcheck/v1\n",
		"apiVersion: rollcheck/v1\nkind: Other\n",
		`{"apiVersion":"rollcheck/v1","deployment":"web","action":{"restart":true}}`,
		"apiVersion: rollcheck/v1\naction: {restart: true, setImage: {app: x}}\n",
		"apiVersion: rollcheck/v1\naction: {setImage: {\"\": x}}\n",
		"apiVersion: rollcheck/v1\nload: {timeout: 10}\n",
		"apiVersion: rollcheck/v1\nload: {timeout: -1s}\n",
		"apiVersion: rollcheck/v1\nphases: {baseline: 9999999999h}\n",
		"apiVersion: rollcheck/v1\nthresholds: {maxFailureRatio: .nan}\n",
		"apiVersion: rollcheck/v1\nthresholds: {minSuccessRatio: 1e400}\n",
		"apiVersion: rollcheck/v1\nthresholds: {maxFailures: -1}\n",
		"apiVersion: rollcheck/v1\nthresholds: {maxFailures: 99999999999999999999}\n",
		"apiVersion: rollcheck/v1\nmaxFailure: 3\n",
		"apiVersion: rollcheck/v1\ndeployment: web\ndeployment: other\n",
		"a: &a [*a, *a]\n",
		"- [\n",
		"\t",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse returned a scenario with error %v", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted a scenario that does not validate: %v\n%q", err, data)
		}
		out, err := yaml.Marshal(s)
		if err != nil {
			t.Fatalf("an accepted scenario cannot be written out: %v\n%q", err, data)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("a written scenario does not parse back: %v\n%s\nfrom %q", err, out, data)
		}
		if !reflect.DeepEqual(s, back) {
			t.Fatalf("round trip changed the scenario:\n%+v\n%+v\nfrom %q", s, back, data)
		}
	})
}
