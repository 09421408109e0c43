package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// TestREADMEFlagsMatchTheCode keeps README's flag section generated: run
// `go run ./hack/update-readme` after changing a flag.
func TestREADMEFlagsMatchTheCode(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	root := newRootCommand(newFactory(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out}))
	root.SetArgs([]string{"run", "--help"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		help = strings.ReplaceAll(help, home, "~")
	}
	if !strings.Contains(string(readme), "```\n"+help+"```\n") {
		t.Error("README.md's flag section is out of date: run `go run ./hack/update-readme`")
	}
}
