package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Watcher triggers one Deployment's rollout and records its timeline. Use it
// in order: NewWatcher, Prepare, Start, then any number of Trigger + Wait,
// and Stop. Events, Status and the getters are safe to call concurrently
// with the rest.
type Watcher struct {
	client kubernetes.Interface
	cfg    Config
	now    func() time.Time

	// Set by Prepare, read-only afterwards.
	deploy   *appsv1.Deployment
	selector labels.Selector
	services []string

	// Set by Start and Stop.
	stopOnce sync.Once
	stop     func()

	mu      sync.Mutex
	events  []Event
	cur     *appsv1.Deployment                       // latest Deployment from the informer
	changed chan struct{}                            // closed and replaced when cur or the endpoints change
	pods    map[string]*corev1.Pod                   // last seen pod, by name
	rsSeen  map[string]*appsv1.ReplicaSet            // last seen ReplicaSet, by name
	slices  map[string]map[string]map[string]epState // service -> slice -> endpoint key -> state
	minGen  int64                                    // generation the controller must observe before Wait may finish
	trigger time.Time                                // time of the last Trigger
}

// NewWatcher returns a Watcher for cfg. It does not contact the cluster.
func NewWatcher(client kubernetes.Interface, cfg Config) *Watcher {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Watcher{
		client:  client,
		cfg:     cfg,
		now:     now,
		changed: make(chan struct{}),
		pods:    map[string]*corev1.Pod{},
		rsSeen:  map[string]*appsv1.ReplicaSet{},
		slices:  map[string]map[string]map[string]epState{},
	}
}

// object names the Deployment in messages: namespace/name.
func (w *Watcher) object() string {
	return fmt.Sprintf("%s/%s", w.cfg.Namespace, w.cfg.Deployment)
}

// Prepare reads the Deployment, checks that the Action fits it and finds the
// Services in front of its pods. It changes nothing in the cluster, so a
// mistake found here leaves the cluster as it was.
func (w *Watcher) Prepare(ctx context.Context) error {
	d, err := w.client.AppsV1().Deployments(w.cfg.Namespace).Get(ctx, w.cfg.Deployment, metav1.GetOptions{})
	if err != nil {
		return apiError("get deployment", w.object(), err)
	}
	if err := validateAction(d, w.cfg.Action); err != nil {
		return fmt.Errorf("deployment %s: %w", w.object(), err)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return fmt.Errorf("deployment %s: selector: %w: %w", w.object(), ErrInvalid, err)
	}
	if sel.Empty() {
		// An empty selector would watch every pod in the namespace.
		return fmt.Errorf("deployment %s: empty selector: %w", w.object(), ErrInvalid)
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
	w.deploy, w.selector, w.services = d, sel, services
	return nil
}

// validateAction checks a against d without changing anything.
func validateAction(d *appsv1.Deployment, a Action) error {
	if d.Spec.Paused {
		// kubectl refuses too: a paused Deployment would never roll out.
		return fmt.Errorf("is paused (run kubectl rollout resume first): %w", ErrInvalid)
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
		if name := manifestName(a.Manifest); name != d.Name {
			return fmt.Errorf("%s is deployment %q, not %q: %w", a.Source, name, d.Name, ErrInvalid)
		}
		return nil
	case ActionSetImage:
		if len(a.Images) == 0 {
			return fmt.Errorf("set-image without CONTAINER=IMAGE: %w", ErrInvalid)
		}
		var have []string
		known := map[string]bool{}
		for _, c := range d.Spec.Template.Spec.InitContainers {
			known[c.Name] = true
			have = append(have, c.Name)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			known[c.Name] = true
			have = append(have, c.Name)
		}
		sort.Strings(have)
		var names []string
		for name := range a.Images {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if !known[name] {
				return fmt.Errorf("no container %q (containers: %s): %w", name, strings.Join(have, ", "), ErrInvalid)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown action %q: %w", a.Kind, ErrInvalid)
}

// findServices returns the Service named in the config, or every Service
// whose selector matches the pod template, sorted. No Service is not an
// error: the timeline then has no endpoint events.
func (w *Watcher) findServices(ctx context.Context, d *appsv1.Deployment) ([]string, error) {
	podLabels := labels.Set(d.Spec.Template.Labels)
	svcs := w.client.CoreV1().Services(w.cfg.Namespace)
	if w.cfg.Service != "" {
		svc, err := svcs.Get(ctx, w.cfg.Service, metav1.GetOptions{})
		if err != nil {
			return nil, apiError("get service", w.cfg.Namespace+"/"+w.cfg.Service, err)
		}
		if len(svc.Spec.Selector) > 0 && !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
			return nil, fmt.Errorf("service %s/%s selects %s, not the pods of deployment %s: %w",
				w.cfg.Namespace, svc.Name, labels.SelectorFromSet(svc.Spec.Selector), w.cfg.Deployment, ErrInvalid)
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

// Name is the name of the watched Deployment.
func (w *Watcher) Name() string { return w.cfg.Deployment }

// Deployment returns the Deployment as Prepare read it, or nil before.
func (w *Watcher) Deployment() *appsv1.Deployment { return w.deploy }

// Services returns the names of the Services whose endpoints are watched,
// sorted; the first is the one Status counts. Empty before Prepare.
func (w *Watcher) Services() []string { return slices.Clone(w.services) }

// Events returns a copy of the timeline so far, ordered by Time.
func (w *Watcher) Events() []Event {
	w.mu.Lock()
	out := slices.Clone(w.events)
	w.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Status returns the live counts for a progress line: replicas from the
// Deployment status and ready endpoints of the first Service.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	var s Status
	d := w.cur
	if d == nil {
		d = w.deploy
	}
	if d != nil {
		s.Desired = desired(d)
		s.Updated = d.Status.UpdatedReplicas
		s.Ready = d.Status.ReadyReplicas
		s.Available = d.Status.AvailableReplicas
		_, _, s.Message = rolloutState(d, w.minGen)
	}
	if len(w.services) > 0 {
		for _, st := range w.endpointsLocked(w.services[0]) {
			if st.ready {
				s.ReadyEndpoints++
			}
		}
	}
	return s
}

// Stop stops the informers and waits for them to exit. It is safe to call
// more than once and before Start.
func (w *Watcher) Stop() {
	w.stopOnce.Do(func() {
		w.mu.Lock()
		stop := w.stop
		w.mu.Unlock()
		if stop != nil {
			stop()
		}
	})
}

// record appends e to the timeline.
func (w *Watcher) record(e Event) {
	w.mu.Lock()
	w.recordLocked(e)
	w.mu.Unlock()
}

// notifyLocked wakes everything waiting on a change (Wait, AwaitExternal,
// WaitSwitched).
func (w *Watcher) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *Watcher) recordLocked(e Event) {
	w.events = append(w.events, e)
}

// desired is spec.replicas, which the API server defaults to 1.
func desired(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

var errNotPrepared = errors.New("rollout: Prepare was not called or failed")
