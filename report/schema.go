package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaJSON is the JSON Schema of the v1 report (report/schema/).
//
//go:embed schema/report-v1.schema.json
var SchemaJSON []byte

var compiled = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(SchemaJSON))
	if err != nil {
		return nil, fmt.Errorf("report schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	const url = "report-v1.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("report schema: %w", err)
	}
	return c.Compile(url)
})

// Validate checks a JSON report against the v1 schema.
func Validate(data []byte) error {
	sch, err := compiled()
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("report does not match schema %s: %w", Schema, err)
	}
	return nil
}
