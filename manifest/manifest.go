// Package manifest decodes Kubernetes manifests: a stream of YAML (or JSON)
// documents separated by ---, as `kubectl apply -f` reads them. It is the
// one decoder behind `rollcheck lint -f` and `rollcheck run --apply`.
// Decoding into a type is strict: an unknown field is an error, since a
// misspelt readinessProbe would otherwise read as a missing one.
package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Document is one document of a stream.
type Document struct {
	// Index is the document's place in its stream, from 1, counting the
	// empty ones; 0 for a document that is not from a stream.
	Index int
	// Raw is the document as written; JSON is the same object as JSON.
	Raw, JSON []byte
}

// Parse reads one document, YAML or JSON.
func Parse(raw []byte) (Document, error) {
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return Document{}, fmt.Errorf("malformed YAML: %w", err)
	}
	return Document{Raw: raw, JSON: js}, nil
}

// Empty reports whether the document holds nothing: blank, only comments,
// or null.
func (d Document) Empty() bool {
	t := bytes.TrimSpace(d.JSON)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// Read splits r into its documents and drops the empty ones. An error names
// the document it is in ("document 2: malformed YAML: ...").
func Read(r io.Reader) ([]Document, error) {
	yr := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var out []Document
	for i := 1; ; i++ {
		raw, err := yr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		d, err := Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if !d.Empty() {
			d.Index = i
			out = append(out, d)
		}
	}
}

// TypeMeta returns the document's apiVersion and kind (empty when unset).
func (d Document) TypeMeta() (metav1.TypeMeta, error) {
	var tm metav1.TypeMeta
	err := json.Unmarshal(d.JSON, &tm)
	return tm, err
}

// Decode decodes the document into v strictly: a field that v does not
// have, or a key given twice, is an error.
func (d Document) Decode(v any) error { return yaml.UnmarshalStrict(d.Raw, v) }
