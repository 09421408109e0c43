package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A CRD as the Gateway API publishes them (trimmed to what the reader
// looks at).
const testHTTPRouteCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  annotations:
    gateway.networking.k8s.io/bundle-version: v1.3.0
    gateway.networking.k8s.io/channel: standard
  name: httproutes.gateway.networking.k8s.io
spec:
  group: gateway.networking.k8s.io
  names:
    kind: HTTPRoute
    listKind: HTTPRouteList
    plural: httproutes
    singular: httproute
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
`

func TestGatewayCRDsAreReadFromNextToTheBinary(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "rollcheck-lab")
	if _, err := gatewayCRDs(exe); err == nil || !strings.Contains(err.Error(), "make lab-traefik") {
		t.Fatalf("error %v, want one naming make lab-traefik", err)
	}
	crdDir := filepath.Join(dir, gatewayCRDsDir)
	if err := os.MkdirAll(crdDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(crdDir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("gateway.networking.k8s.io_httproutes.yaml", testHTTPRouteCRD)
	crds, err := gatewayCRDs(exe)
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) != 1 || crds[0].Name != "httproutes.gateway.networking.k8s.io" || crds[0].Spec.Names.Plural != "httproutes" {
		t.Fatalf("crds %+v, want the HTTPRoute CRD", crds)
	}
	if v := gatewayAPIVersion(crds); v != "v1.3.0" {
		t.Errorf("version %q, want the bundle version v1.3.0", v)
	}

	write("other.yaml", strings.ReplaceAll(testHTTPRouteCRD, "group: gateway.networking.k8s.io", "group: example.com"))
	if _, err := gatewayCRDs(exe); err == nil || !strings.Contains(err.Error(), "example.com") {
		t.Errorf("error %v, want one refusing a CRD of another group", err)
	}
}
