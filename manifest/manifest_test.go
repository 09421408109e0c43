package manifest

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestReadDropsEmptyDocumentsAndCountsThem(t *testing.T) {
	in := "# header\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n\n---\n{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"b\"}}\n"
	docs, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].Index != 2 || docs[1].Index != 4 {
		t.Fatalf("documents %+v, want 2 and 4", docs)
	}
	tm, err := docs[1].TypeMeta()
	if err != nil || tm.Kind != "Namespace" || tm.APIVersion != "v1" {
		t.Errorf("type of the JSON document: %+v, %v", tm, err)
	}
	var s corev1.Service
	if err := docs[0].Decode(&s); err != nil || s.Name != "a" {
		t.Errorf("decoded %+v, %v", s, err)
	}
}

func TestErrorsNameTheDocument(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"malformed YAML", "apiVersion: v1\nkind: Service\n---\nspec: [unclosed\n", "document 2: malformed YAML"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Read(strings.NewReader(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDecodeIsStrict(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"a misspelt field", "apiVersion: v1\nkind: Service\nspec: {port: 80}\n", `unknown field "port"`},
		{"a key given twice", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nmetadata: {name: b}\n", "already set"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Read(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var s corev1.Service
			if err := docs[0].Decode(&s); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
