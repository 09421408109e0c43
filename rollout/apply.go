package rollout

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/rollcheck/rollcheck/manifest"
)

// FieldManager is the field manager rollcheck's patches and applies use.
const FieldManager = "rollcheck"

// ParseManifest reads a Deployment manifest (YAML or JSON) for --apply. The
// file must hold exactly one object, an apps/v1 Deployment with a name: it
// is applied as it is, so anything else in it would be silently skipped.
// It returns the Deployment (for checks) and its JSON (the apply body).
func ParseManifest(source string, data []byte) (*appsv1.Deployment, []byte, error) {
	docs, err := manifest.Read(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w: %w", source, ErrInvalid, err)
	}
	if len(docs) != 1 {
		return nil, nil, fmt.Errorf("%s: holds %d objects; --apply takes a file with exactly one Deployment: %w", source, len(docs), ErrInvalid)
	}
	var d appsv1.Deployment
	if err := docs[0].Decode(&d); err != nil {
		return nil, nil, fmt.Errorf("%s: not a valid Deployment: %w: %w", source, ErrInvalid, err)
	}
	if d.APIVersion != "apps/v1" || d.Kind != "Deployment" {
		return nil, nil, fmt.Errorf("%s: is %s %s; --apply takes an apps/v1 Deployment: %w", source, d.APIVersion, d.Kind, ErrInvalid)
	}
	if d.Name == "" {
		return nil, nil, fmt.Errorf("%s: the Deployment has no metadata.name: %w", source, ErrInvalid)
	}
	return &d, docs[0].JSON, nil
}

// checkApply runs the apply as a server-side dry run: the API server
// validates and defaults the manifest exactly as it will for real, and
// rollcheck learns whether it changes the pod template. A manifest that
// leaves the template as it is starts no rollout, which would make the run
// judge nothing; that is an error before any load.
func (w *Driver) checkApply(ctx context.Context, cur *appsv1.Deployment) error {
	a := w.cfg.Action
	if ns := manifestNamespace(a.Manifest); ns != "" && ns != w.cfg.Namespace {
		return fmt.Errorf("%s: the Deployment is in namespace %q, the run in %q: %w", a.Source, ns, w.cfg.Namespace, ErrInvalid)
	}
	dry, err := w.apply(ctx, true)
	if err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(dry.Spec.Template, cur.Spec.Template) {
		return fmt.Errorf("%s leaves the pod template of deployment %s as it is, so applying it starts no rollout: %w", a.Source, w.object(), ErrInvalid)
	}
	return nil
}

// apply sends the manifest as a server-side apply with rollcheck's field
// manager, forcing conflicts as `kubectl apply --server-side
// --force-conflicts` does: the file is the state the user asked for.
func (w *Driver) apply(ctx context.Context, dryRun bool) (*appsv1.Deployment, error) {
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: ptr(true)}
	what := "apply"
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
		what = "apply (dry run)"
	}
	d, err := w.client.AppsV1().Deployments(w.cfg.Namespace).Patch(ctx, w.cfg.Deployment,
		types.ApplyPatchType, w.cfg.Action.Manifest, opts)
	if err != nil {
		return nil, apiError(what+" "+w.cfg.Action.Source+" to deployment", w.object(), err)
	}
	return d, nil
}

func manifestMeta(body []byte) metav1.ObjectMeta {
	var m struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	_ = yaml.Unmarshal(body, &m) // ParseManifest has checked it
	return m.Metadata
}

func manifestNamespace(body []byte) string { return strings.TrimSpace(manifestMeta(body).Namespace) }

func manifestName(body []byte) string { return manifestMeta(body).Name }
