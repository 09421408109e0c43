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

// Manifest is a workload manifest for --apply, as ParseManifest read it.
type Manifest struct {
	Kind Kind
	Name string
	// JSON is the apply body.
	JSON []byte
}

// ParseManifest reads a workload manifest (YAML or JSON) for --apply. The
// file must hold exactly one object, an apps/v1 Deployment, StatefulSet or
// DaemonSet with a name: it is applied as it is, so anything else in it
// would be silently skipped.
func ParseManifest(source string, data []byte) (Manifest, error) {
	docs, err := manifest.Read(bytes.NewReader(data))
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: %w: %w", source, ErrInvalid, err)
	}
	if len(docs) != 1 {
		return Manifest{}, fmt.Errorf("%s: holds %d objects; --apply takes a file with exactly one Deployment, StatefulSet or DaemonSet: %w", source, len(docs), ErrInvalid)
	}
	var (
		tm   metav1.TypeMeta
		obj  any
		meta *metav1.ObjectMeta
	)
	if err := yaml.Unmarshal(docs[0].JSON, &tm); err != nil {
		return Manifest{}, fmt.Errorf("%s: %w: %w", source, ErrInvalid, err)
	}
	kind := Kind(strings.ToLower(tm.Kind))
	switch kind {
	case KindDeployment:
		d := &appsv1.Deployment{}
		obj, meta = d, &d.ObjectMeta
	case KindStatefulSet:
		s := &appsv1.StatefulSet{}
		obj, meta = s, &s.ObjectMeta
	case KindDaemonSet:
		d := &appsv1.DaemonSet{}
		obj, meta = d, &d.ObjectMeta
	}
	if tm.APIVersion != "apps/v1" || obj == nil {
		return Manifest{}, fmt.Errorf("%s: is %s %s; --apply takes an apps/v1 Deployment, StatefulSet or DaemonSet: %w", source, tm.APIVersion, tm.Kind, ErrInvalid)
	}
	if err := docs[0].Decode(obj); err != nil {
		return Manifest{}, fmt.Errorf("%s: not a valid %s: %w: %w", source, tm.Kind, ErrInvalid, err)
	}
	if meta.Name == "" {
		return Manifest{}, fmt.Errorf("%s: the %s has no metadata.name: %w", source, tm.Kind, ErrInvalid)
	}
	return Manifest{Kind: kind, Name: meta.Name, JSON: docs[0].JSON}, nil
}

// checkApply runs the apply as a server-side dry run: the API server
// validates and defaults the manifest exactly as it will for real, and
// rollcheck learns whether it changes the pod template. A manifest that
// leaves the template as it is starts no rollout, which would make the run
// judge nothing; that is an error before any load.
func (w *Driver) checkApply(ctx context.Context, cur object) error {
	a := w.cfg.Action
	if k := manifestKind(a.Manifest); k != w.kind {
		return fmt.Errorf("%s is a %s, not the run's %s: %w", a.Source, k, w.Ref(), ErrInvalid)
	}
	if ns := manifestNamespace(a.Manifest); ns != "" && ns != w.cfg.Namespace {
		return fmt.Errorf("%s: the %s is in namespace %q, the run in %q: %w", a.Source, w.kind.Title(), ns, w.cfg.Namespace, ErrInvalid)
	}
	dry, err := w.apply(ctx, true)
	if err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(*templateOf(dry), *templateOf(cur)) {
		return fmt.Errorf("%s leaves the pod template of %s %s as it is, so applying it starts no rollout: %w", a.Source, w.kind, w.object(), ErrInvalid)
	}
	return nil
}

// apply sends the manifest as a server-side apply with rollcheck's field
// manager, forcing conflicts as `kubectl apply --server-side
// --force-conflicts` does: the file is the state the user asked for.
func (w *Driver) apply(ctx context.Context, dryRun bool) (object, error) {
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: ptr(true)}
	what := "apply"
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
		what = "apply (dry run)"
	}
	d, err := patchObject(ctx, w.client, w.kind, w.cfg.Namespace, w.cfg.Deployment,
		types.ApplyPatchType, w.cfg.Action.Manifest, opts)
	if err != nil {
		return nil, apiError(what+" "+w.cfg.Action.Source+" to "+string(w.kind), w.object(), err)
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

// manifestKind is the manifest's kind, lower case as Kind spells it.
func manifestKind(body []byte) Kind {
	var tm metav1.TypeMeta
	_ = yaml.Unmarshal(body, &tm) // ParseManifest has checked it
	return Kind(strings.ToLower(tm.Kind))
}
