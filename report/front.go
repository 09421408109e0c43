package report

// Front is what carried the load to the Service's pods, as the run assumed
// it: given with --front, or inferred from the Service, the Ingresses and
// HTTPRoutes and the targets (package front). The diagnosis reads it, since
// what a failure looks like depends on the front.
type Front struct {
	// Name is alb, alb-instance, nlb, kube-proxy, ingress or gateway; unknown when the
	// inference could not tell.
	Name string `json:"name"`
	// Inferred is false when the user named it (--front).
	Inferred bool `json:"inferred"`
	// Why is what the inference read ("" when given).
	Why string `json:"why,omitempty"`
}

// FrontUnknown is Front.Name when the inference could not tell.
const FrontUnknown = "unknown"

// frontName is the front as the diagnosis keys on it: "" when unknown.
func frontName(f *Front) string {
	if f == nil || f.Name == FrontUnknown {
		return ""
	}
	return f.Name
}
