package rollout

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Driver acts on one Deployment (restart, set-image, apply, scale, a
// Service switch, or waiting for someone else's change) and follows the
// rollout it starts to its end, while its Recorder records the timeline.
// Use it in order: NewDriver, Prepare, Start, then any number of Trigger +
// Wait, and Stop. Events, Status and the getters are safe to call
// concurrently with the rest.
type Driver struct {
	*Recorder
	cfg Config

	trigger time.Time // time of the last action; guarded by the Recorder's mu
}

// NewDriver returns a Driver for cfg. It does not contact the cluster.
func NewDriver(client kubernetes.Interface, cfg Config) *Driver {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Driver{Recorder: newRecorder(client, cfg.Kind, cfg.Namespace, cfg.Deployment, now), cfg: cfg}
}

// Status is the Recorder's Status, and whether the Driver has started a
// rollout or seen one started elsewhere.
func (w *Driver) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.statusLocked()
	s.Triggered = !w.trigger.IsZero()
	return s
}

// Prepare reads the Deployment, checks that the Action fits it and finds the
// Services in front of its pods. It changes nothing in the cluster, so a
// mistake found here leaves the cluster as it was.
func (w *Driver) Prepare(ctx context.Context) error {
	d, err := getObject(ctx, w.client, w.kind, w.cfg.Namespace, w.cfg.Deployment)
	if err != nil {
		return apiError("get "+string(w.kind), w.object(), err)
	}
	if err := validateAction(d, w.cfg.Action); err != nil {
		return fmt.Errorf("%s %s: %w", w.kind, w.object(), err)
	}
	sel, err := metav1.LabelSelectorAsSelector(selectorOf(d))
	if err != nil {
		return fmt.Errorf("%s %s: selector: %w: %w", w.kind, w.object(), ErrInvalid, err)
	}
	if sel.Empty() {
		// An empty selector would watch every pod in the namespace.
		return fmt.Errorf("%s %s: empty selector: %w", w.kind, w.object(), ErrInvalid)
	}
	if w.cfg.Action.Kind == ActionApply {
		if err := w.checkApply(ctx, d); err != nil {
			return err
		}
	}
	var services []string
	if !w.cfg.NoServices {
		if services, err = w.findServices(ctx, d); err != nil {
			return err
		}
	}
	// What the Recorder watches: set once, before Start.
	w.spec, w.selector, w.services = d, sel, services
	return nil
}

// Record adds to the timeline a change the Driver did not make or see
// itself (an HTTPRoute's weights patched by the run). A RolloutTriggered
// event marks the Driver as triggered, as its own actions do.
func (w *Driver) Record(e Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e.Type == RolloutTriggered {
		w.trigger = e.Time
	}
	w.recordLocked(e)
}

// validateAction checks a against d without changing anything.
func validateAction(d object, a Action) error {
	if a.Kind == ActionWeights || a.Kind == ActionDrain {
		// Nothing in the workload changes: a paused one serves as well,
		// and its ReplicaSet still replaces an evicted pod.
		return nil
	}
	// kubectl refuses too: neither a paused Deployment nor an OnDelete
	// strategy would roll out.
	if err := refuseRollout(d); err != nil {
		return err
	}
	switch a.Kind {
	case ActionRestart, ActionWatch, ActionSwitch:
		return nil
	case ActionScale:
		if a.Replicas < 0 {
			return fmt.Errorf("scale to %d replicas: %w", a.Replicas, ErrInvalid)
		}
		return nil
	case ActionApply:
		if name := manifestName(a.Manifest); name != d.GetName() {
			return fmt.Errorf("%s is %s %q, not %q: %w", a.Source, manifestKind(a.Manifest), name, d.GetName(), ErrInvalid)
		}
		return nil
	case ActionSetImage:
		if len(a.Images) == 0 {
			return fmt.Errorf("set-image without CONTAINER=IMAGE: %w", ErrInvalid)
		}
		var have []string
		image := map[string]string{}
		pod := &templateOf(d).Spec
		for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
			image[c.Name] = c.Image
			have = append(have, c.Name)
		}
		sort.Strings(have)
		var names, same []string
		for name := range a.Images {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			cur, known := image[name]
			if !known {
				return fmt.Errorf("no container %q (containers: %s): %w", name, strings.Join(have, ", "), ErrInvalid)
			}
			if cur == a.Images[name] {
				same = append(same, fmt.Sprintf("container %s already runs %s", name, cur))
			}
		}
		if len(same) == len(names) {
			// The pod template would not change: no pod would be
			// replaced, and a run would judge a rollout that never was.
			return fmt.Errorf("set-image starts no rollout: %s: %w", strings.Join(same, ", "), ErrInvalid)
		}
		return nil
	}
	return fmt.Errorf("unknown action %q: %w", a.Kind, ErrInvalid)
}

// findServices returns the Service named in the config, or every Service
// whose selector matches the pod template, sorted. No Service is not an
// error: the timeline then has no endpoint events.
func (w *Driver) findServices(ctx context.Context, d object) ([]string, error) {
	podLabels := labels.Set(templateOf(d).Labels)
	svcs := w.client.CoreV1().Services(w.cfg.Namespace)
	if w.cfg.Service != "" {
		svc, err := svcs.Get(ctx, w.cfg.Service, metav1.GetOptions{})
		if err != nil {
			return nil, apiError("get service", w.cfg.Namespace+"/"+w.cfg.Service, err)
		}
		if len(svc.Spec.Selector) > 0 && !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
			return nil, fmt.Errorf("service %s/%s selects %s, not the pods of %s: %w",
				w.cfg.Namespace, svc.Name, labels.SelectorFromSet(svc.Spec.Selector), w.Ref(), ErrInvalid)
		}
		return []string{svc.Name}, nil
	}
	list, err := svcs.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, apiError("list services in namespace", w.cfg.Namespace, err)
	}
	var names []string
	for _, svc := range list.Items {
		// A Service without a selector has hand-made endpoints; it is not
		// in front of the Deployment by construction.
		if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
			names = append(names, svc.Name)
		}
	}
	sort.Strings(names)
	return names, nil
}
