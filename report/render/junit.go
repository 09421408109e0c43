package render

import (
	"encoding/xml"
	"fmt"
	"io"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/report/internal/format"
)

// junit* are the JUnit XML elements CI systems read (Jenkins, GitLab,
// GitHub Actions reporters): one suite per run, one case per check and one
// per diagnosed cause.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string `xml:"name,attr"`
	Tests    int    `xml:"tests,attr"`
	Failures int    `xml:"failures,attr"`
	Skipped  int    `xml:"skipped,attr"`
	Time     string `xml:"time,attr"`
	// Properties: the split by connection kind (connections.go).
	Properties *junitProperties `xml:"properties,omitempty"`
	Cases      []junitCase      `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr,omitempty"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	Output    string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// WriteJUnit renders the report as a JUnit XML test suite, so a CI system
// shows which check failed. An INCONCLUSIVE check that failed is a failure
// of type "inconclusive"; each cause is a failed case with its evidence.
func WriteJUnit(r *report.Report, w io.Writer) error {
	s := junitSuite{Name: fmt.Sprintf("rollcheck %s/%s (%s)", r.Rollout.Namespace, r.Workload(), r.Rollout.Action)}
	s.Properties = connectionProperties(r)
	if len(r.Phases) > 0 {
		s.Time = fmt.Sprintf("%.3f", r.Phases[len(r.Phases)-1].End.Sub(r.Phases[0].Start).Seconds())
	}
	for _, c := range r.Checks {
		tc := junitCase{Name: c.Name, Classname: "rollcheck.checks", Output: c.Message}
		switch {
		case c.Skipped:
			tc.Skipped = &junitSkipped{Message: c.Message}
			s.Skipped++
		case !c.Passed:
			typ := "fail"
			if c.Inconclusive {
				typ = "inconclusive"
			}
			tc.Failure = &junitFailure{Message: c.Message, Type: typ, Text: c.Message}
			s.Failures++
		}
		s.Cases = append(s.Cases, tc)
	}
	for _, st := range r.Steps {
		msg := fmt.Sprintf("%s: %d of %d requests failed, disrupted %.1fs", format.Dash(st.Detail), st.Failures, st.Requests, st.DisruptedSeconds)
		if !st.Completed {
			msg += "; did not complete: " + st.Reason
		}
		tc := junitCase{Name: "step " + st.Name, Classname: "rollcheck.steps", Output: msg,
			Time: fmt.Sprintf("%.3f", st.End.Sub(st.Start).Seconds())}
		if !st.Passed {
			tc.Failure = &junitFailure{Message: msg, Type: "step", Text: msg}
			s.Failures++
		}
		s.Cases = append(s.Cases, tc)
	}
	for _, c := range r.Causes {
		text := c.Evidence + weighText(c, "\n")
		if len(c.PredictedBy) > 0 {
			text += "\npredicted by lint: " + fmt.Sprint(c.PredictedBy)
		}
		msg := fmt.Sprintf("%d failed requests", c.Failures)
		if c.Failures == 0 {
			msg = failedText(c)
		}
		if c.Confidence != "" {
			msg += " (confidence " + string(c.Confidence) + ")"
		}
		s.Cases = append(s.Cases, junitCase{
			Name:      string(c.Code),
			Classname: "rollcheck.causes",
			Failure:   &junitFailure{Message: msg, Type: string(c.Code), Text: text},
		})
		s.Failures++
	}
	s.Tests = len(s.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("writing JUnit report: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return fmt.Errorf("writing JUnit report: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("writing JUnit report: %w", err)
	}
	return nil
}

// junitProperties is a JUnit suite's <properties>.
type junitProperties struct {
	Items []junitProperty `xml:"property"`
}

// junitProperty is one <property> of a JUnit suite.
type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// connectionProperties are the split as JUnit suite properties:
// rollcheck.connections (the mode) and, per kind,
// rollcheck.connections.STREAM.CONNECTION.{requests,failed,CLASS}.
func connectionProperties(r *report.Report) *junitProperties {
	c := r.Connections
	if c == nil {
		return nil
	}
	out := []junitProperty{{Name: "rollcheck.connections", Value: c.Mode}}
	for _, k := range c.Kinds {
		prefix := fmt.Sprintf("rollcheck.connections.%s.%s.", k.Stream, k.Connection)
		out = append(out, junitProperty{prefix + "requests", fmt.Sprint(k.Requests)}, junitProperty{prefix + "failed", fmt.Sprint(k.Failures)})
		for _, cl := range attack.FailureClasses {
			if n := k.ByClass[string(cl)]; n > 0 {
				out = append(out, junitProperty{prefix + string(cl), fmt.Sprint(n)})
			}
		}
	}
	return &junitProperties{Items: out}
}
