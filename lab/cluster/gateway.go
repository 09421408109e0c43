package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
)

// The Gateway API front (up --gateway, real node only): the same Traefik
// as the ingress front, with its Kubernetes Gateway provider, configured
// by a GatewayClass, a Gateway and HTTPRoutes (scenarios/gateway.yaml).
// The API's resources are CustomResourceDefinitions that no cluster has
// built in; up installs the standard channel's, as the Gateway API
// project publishes them, before Traefik starts (its provider waits for
// their lists to sync).
const (
	// gatewayCRDsDir is the directory next to rollcheck-lab where make
	// lab-traefik copies config/crd/standard of the module
	// sigs.k8s.io/gateway-api, at the version Traefik's go.mod requires.
	gatewayCRDsDir = "gateway-api-crds"
	// gatewayPort is the Gateway entrypoint's port on the node's address:
	// a Gateway's listener port must be it (Traefik binds a listener to
	// the entrypoint of the same port).
	gatewayPort = 8001
	// gatewayBundleVersion is the annotation the Gateway API puts on each
	// of its CRDs.
	gatewayBundleVersion = "gateway.networking.k8s.io/bundle-version"
)

// gatewayCRDs reads the Gateway API's standard CRDs from the directory
// next to exe (make lab-traefik puts them there), or says how to get them.
func gatewayCRDs(exe string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	dir := filepath.Join(filepath.Dir(exe), gatewayCRDsDir)
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("--gateway needs the Gateway API's CRDs in %s: run `make lab-traefik` (it copies them from the module sigs.k8s.io/gateway-api at the version Traefik's Gateway provider is built against)", dir)
	}
	slices.Sort(files)
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096).Decode(crd); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if crd.Kind != "CustomResourceDefinition" || crd.Spec.Group != "gateway.networking.k8s.io" {
			return nil, fmt.Errorf("%s: kind %q of group %q, want a CustomResourceDefinition of gateway.networking.k8s.io", f, crd.Kind, crd.Spec.Group)
		}
		crds = append(crds, crd)
	}
	if !slices.ContainsFunc(crds, func(c *apiextensionsv1.CustomResourceDefinition) bool { return c.Spec.Names.Kind == "HTTPRoute" }) {
		return nil, fmt.Errorf("%s has no HTTPRoute CRD", dir)
	}
	return crds, nil
}

// gatewayAPIVersion is the bundle version the CRDs carry ("" when they do
// not say).
func gatewayAPIVersion(crds []*apiextensionsv1.CustomResourceDefinition) string {
	for _, c := range crds {
		if v := c.Annotations[gatewayBundleVersion]; v != "" {
			return v
		}
	}
	return ""
}

// createCRDs creates crds (one already there is kept: a lab restarted
// with --keep-data has them).
func createCRDs(ctx context.Context, cfg *rest.Config, crds []*apiextensionsv1.CustomResourceDefinition) error {
	cs, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, c := range crds {
		if _, err := cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, c, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating CRD %s: %w", c.Name, err)
		}
	}
	return nil
}

// crdsEstablished reports nil once every CRD of crds is Established: the
// API server serves its resource.
func crdsEstablished(ctx context.Context, cfg *rest.Config, crds []*apiextensionsv1.CustomResourceDefinition) error {
	cs, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var waiting []string
	for _, c := range crds {
		got, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !established(got) {
			waiting = append(waiting, c.Name)
		}
	}
	if len(waiting) > 0 {
		return errors.New("not established yet: " + strings.Join(waiting, ", "))
	}
	return nil
}

func established(c *apiextensionsv1.CustomResourceDefinition) bool {
	for _, cond := range c.Status.Conditions {
		if cond.Type == apiextensionsv1.Established {
			return cond.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}
