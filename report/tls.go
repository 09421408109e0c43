package report

// TargetTLS is how the load checked the https targets' certificates
// (--target-ca, --target-insecure, --target-server-name).
type TargetTLS struct {
	// Verified is false with --target-insecure: any certificate was
	// accepted, and InsecureReason is among the report's reasons.
	Verified bool `json:"verified"`
	// CustomCA: the certificates were checked against the CAs of
	// --target-ca, not the system's roots.
	CustomCA bool `json:"custom_ca,omitempty"`
	// ServerName is the SNI and the name the certificates had to be valid
	// for, when it was not the URL's host.
	ServerName string `json:"server_name,omitempty"`
}

// InsecureReason is the line a report of a run with --target-insecure
// carries among its reasons, whatever its verdict.
const InsecureReason = "warning: the targets' TLS certificates were NOT verified (--target-insecure): the responses counted may have come from any server"
