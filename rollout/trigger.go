package rollout

import (
	"context"
	"errors"

	"encoding/json"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// RestartedAtAnnotation is the pod template annotation `kubectl rollout
// restart` sets; changing it changes the template and so rolls the pods.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// Trigger starts the rollout with the configured Action: a strategic merge
// patch of the pod template as kubectl does (the restartedAt annotation for
// restart, the named containers' images for set-image), or a server-side
// apply of the manifest. Errors wrap ErrNotFound or ErrForbidden when the
// API server says so.
func (w *Driver) Trigger(ctx context.Context) error {
	return w.TriggerAction(ctx, w.cfg.Action)
}

// TriggerAction is Trigger with another action than the configured one: a
// canary scales each Deployment several times in one run. Wait then follows
// what the action started.
func (w *Driver) TriggerAction(ctx context.Context, a Action) error {
	if w.spec == nil {
		return errNotPrepared
	}
	if err := validateAction(w.spec, a); err != nil {
		return fmt.Errorf("%s %s: %w", w.kind, w.object(), err)
	}
	if a.Kind == ActionScale && w.kind != KindDeployment {
		return fmt.Errorf("%s %s: scaling steps are for Deployments: %w", w.kind, w.object(), ErrInvalid)
	}
	t := w.now()
	var (
		d   object
		err error
	)
	detail := triggerDetail(a, t)
	switch a.Kind {
	case ActionApply:
		d, err = w.apply(ctx, false)
	case ActionScale:
		before := w.Status().Desired
		body := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, a.Replicas)
		d, err = w.client.AppsV1().Deployments(w.cfg.Namespace).Patch(ctx, w.cfg.Deployment,
			types.MergePatchType, body, metav1.PatchOptions{FieldManager: FieldManager})
		if err != nil {
			err = apiError("scale deployment", w.object(), err)
		}
		detail = fmt.Sprintf("replicas %d -> %d", before, a.Replicas)
	default:
		var body []byte
		prev := w.restartedAt()
		if a.Kind == ActionRestart {
			detail = RestartedAtAnnotation + "=" + restartValue(t, prev)
		}
		body, err = patchBody(templateOf(w.spec).Spec.InitContainers, a, t, prev)
		if err != nil {
			return fmt.Errorf("%s %s: %w", w.kind, w.object(), err)
		}
		d, err = patchObject(ctx, w.client, w.kind, w.cfg.Namespace, w.cfg.Deployment,
			types.StrategicMergePatchType, body, metav1.PatchOptions{FieldManager: FieldManager})
		if err != nil {
			err = apiError("patch "+string(w.kind), w.object(), err)
		}
	}
	if err != nil {
		return err
	}
	w.mu.Lock()
	// A spec change bumps metadata.generation in the response; the rollout
	// is not done until the controller has observed it, however complete
	// the (older) status looks.
	w.minGen = max(w.minGen, d.GetGeneration())
	w.applied = d
	w.trigger = t
	w.recordLocked(Event{
		Time:       t,
		Type:       RolloutTriggered,
		Reason:     string(a.Kind),
		Detail:     detail,
		Revision:   revisionOf(d),
		Deployment: w.cfg.Deployment,
	})
	w.mu.Unlock()
	return nil
}

type container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// patchBody builds the strategic merge patch for a. Containers are merged
// by name, so listing only the changed ones leaves the others alone.
// prev is the restartedAt value the template has now: a restart within the
// same second (--repeat) writes sub-second precision, or the patch would
// change nothing and start no rollout.
func patchBody(initContainers []corev1.Container, a Action, t time.Time, prev string) ([]byte, error) {
	switch a.Kind {
	case ActionRestart:
		return json.Marshal(map[string]any{
			"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
				"annotations": map[string]string{RestartedAtAnnotation: restartValue(t, prev)},
			}}},
		})
	case ActionSetImage:
		isInit := map[string]bool{}
		for _, c := range initContainers {
			isInit[c.Name] = true
		}
		var containers, inits []container
		for _, name := range sortedKeys(a.Images) {
			c := container{Name: name, Image: a.Images[name]}
			if isInit[name] {
				inits = append(inits, c)
			} else {
				containers = append(containers, c)
			}
		}
		spec := map[string]any{}
		if len(containers) > 0 {
			spec["containers"] = containers
		}
		if len(inits) > 0 {
			spec["initContainers"] = inits
		}
		if len(spec) == 0 {
			return nil, fmt.Errorf("set-image without CONTAINER=IMAGE: %w", ErrInvalid)
		}
		return json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": spec}}})
	}
	return nil, fmt.Errorf("unknown action %q: %w", a.Kind, ErrInvalid)
}

func restartValue(t time.Time, prev string) string {
	if v := t.Format(time.RFC3339); v != prev {
		return v
	}
	return t.Format(time.RFC3339Nano)
}

// restartedAt is the template's restartedAt annotation as last seen.
func (w *Driver) restartedAt() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	o := w.cur
	if o == nil {
		o = w.spec
	}
	return templateOf(o).Annotations[RestartedAtAnnotation]
}

func triggerDetail(a Action, t time.Time) string {
	switch a.Kind {
	case ActionRestart:
		return RestartedAtAnnotation + "=" + t.Format(time.RFC3339)
	case ActionApply:
		return "server-side apply of " + a.Source
	}
	var s string
	for i, name := range sortedKeys(a.Images) {
		if i > 0 {
			s += " "
		}
		s += name + "=" + a.Images[name]
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// AwaitExternal waits for a rollout that someone else starts (helm upgrade,
// kubectl apply, a CD system): the Deployment's spec generation rising above
// the one Prepare read. It records the moment it saw it as the trigger, so
// Wait then follows that rollout exactly as after Trigger. It gives up after
// timeout (0: no limit) or when ctx is done.
func (w *Driver) AwaitExternal(ctx context.Context, timeout time.Duration) error {
	if w.spec == nil {
		return errNotPrepared
	}
	g0 := w.spec.GetGeneration()
	err := w.await(ctx, timeout, func() bool {
		d := w.cur
		if d == nil || d.GetGeneration() <= g0 {
			return false
		}
		t := w.now()
		w.minGen = max(w.minGen, d.GetGeneration())
		w.trigger = t
		w.recordLocked(Event{
			Time:       t,
			Type:       RolloutTriggered,
			Deployment: w.cfg.Deployment,
			Reason:     "watch-only",
			Detail:     fmt.Sprintf("spec changed by someone else: generation %d -> %d", g0, d.GetGeneration()),
			Revision:   revisionOf(d),
		})
		return true
	})
	if errors.Is(err, errAwaitTimeout) {
		return fmt.Errorf("%s %s: no rollout started within %s", w.kind, w.object(), timeout)
	}
	return err
}
