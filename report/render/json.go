package render

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/rollcheck/rollcheck/report"
)

// Func writes a computed report in one format.
type Func func(r *report.Report, w io.Writer) error

// WriteJSON renders the report as indented JSON (schema rollcheck.report/v1).
func WriteJSON(r *report.Report, w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing JSON report: %w", err)
	}
	return nil
}
