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
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Recorder records the timeline of one Deployment: informers on it, its
// ReplicaSets, its pods and the EndpointSlices of its Services, each change
// diffed against the last copy seen and recorded as an Event on the
// rollcheck clock. It also keeps the latest of each object, for Status and
// for the waits of the Driver that embeds it; it changes nothing in the
// cluster.
type Recorder struct {
	client kubernetes.Interface
	ns     string
	name   string // of the workload
	kind   Kind
	now    func() time.Time

	// Set by the Driver's Prepare, read-only afterwards.
	spec     object
	selector labels.Selector
	services []string

	// Set by Start and Stop.
	stopOnce sync.Once
	stop     func()

	mu      sync.Mutex
	events  []Event
	cur     object                                   // latest workload from the informer
	changed chan struct{}                            // closed and replaced when cur or the endpoints change
	pods    map[string]*corev1.Pod                   // last seen pod, by name
	gone    map[string]types.UID                     // pods seen deleted, by name: their UID (a StatefulSet's new pod reuses the name)
	rsSeen  map[string]*appsv1.ReplicaSet            // last seen ReplicaSet, by name
	slices  map[string]map[string]map[string]epState // service -> slice -> endpoint key -> state
	// minGen is the generation the controller must observe before the
	// Deployment's status describes the latest spec; the Driver's actions
	// raise it.
	minGen int64
	// applied is the workload as the Driver's last action's response
	// returned it: the new spec before the informer delivers it.
	applied object
}

func newRecorder(client kubernetes.Interface, kind Kind, namespace, name string, now func() time.Time) *Recorder {
	return &Recorder{
		client:  client,
		ns:      namespace,
		name:    name,
		kind:    kind.OrDefault(),
		now:     now,
		changed: make(chan struct{}),
		pods:    map[string]*corev1.Pod{},
		gone:    map[string]types.UID{},
		rsSeen:  map[string]*appsv1.ReplicaSet{},
		slices:  map[string]map[string]map[string]epState{},
	}
}

// object names the Deployment in messages: namespace/name.
func (r *Recorder) object() string {
	return fmt.Sprintf("%s/%s", r.ns, r.name)
}

// Name is the name of the watched workload.
func (r *Recorder) Name() string { return r.name }

// Kind is the kind of the watched workload.
func (r *Recorder) Kind() Kind { return r.kind }

// Ref names the watched workload as kubectl does: kind/name.
func (r *Recorder) Ref() string { return r.kind.Ref(r.name) }

// Deployment returns the Deployment as Prepare read it, or nil before or
// when the workload is another kind.
func (r *Recorder) Deployment() *appsv1.Deployment {
	d, _ := r.spec.(*appsv1.Deployment)
	return d
}

// Object returns the workload as Prepare read it (a *appsv1.Deployment,
// *appsv1.StatefulSet or *appsv1.DaemonSet), or nil before.
func (r *Recorder) Object() metav1.Object {
	if r.spec == nil {
		return nil
	}
	return r.spec
}

// TemplateLabels returns the labels of the workload's pod template as
// Prepare read it (nil before).
func (r *Recorder) TemplateLabels() map[string]string {
	if r.spec == nil {
		return nil
	}
	return templateOf(r.spec).Labels
}

// Services returns the names of the Services whose endpoints are watched,
// sorted; the first is the one Status counts. Empty before Prepare.
func (r *Recorder) Services() []string { return slices.Clone(r.services) }

// Events returns a copy of the timeline so far, ordered by Time.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	out := slices.Clone(r.events)
	r.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Status returns the live counts for a progress line: desired replicas
// from the workload, updated pods as Status.Updated says, ready and
// terminating pods as the pod informer has them, and ready endpoints of the
// first Service.
func (r *Recorder) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.statusLocked()
}

func (r *Recorder) statusLocked() Status {
	var s Status
	if o := r.latestLocked(); o != nil {
		s = statusOf(o)
		s.Updated = r.updatedLocked(o)
		_, _, s.Message = stateOf(o, r.minGen)
	}
	var ready int32
	for _, p := range r.pods {
		switch {
		case p.DeletionTimestamp != nil:
			s.Terminating++
		case active(p) && isReady(p) && r.ownsLocked(p):
			ready++
		}
	}
	if r.stop != nil {
		// Counted from the same pods as Updated and Terminating, which
		// the workload's status (readyReplicas) lags: the line then never
		// reads 5 ready of 4 while 4 old pods terminate.
		s.Ready = ready
	}
	if len(r.services) > 0 {
		for _, st := range r.endpointsLocked(r.services[0]) {
			if st.ready {
				s.ReadyEndpoints++
			}
		}
	}
	return s
}

// latestLocked is the newest workload known: of the informer's copy, the
// last action's response and the one Prepare read, the highest generation,
// the informer's on a tie (its status is the newest).
func (r *Recorder) latestLocked() object {
	var o object
	for _, c := range []object{r.cur, r.applied, r.spec} {
		if c != nil && (o == nil || c.GetGeneration() > o.GetGeneration()) {
			o = c
		}
	}
	return o
}

// updatedLocked counts the pods of o's spec. A Deployment's are the active
// pods of the ReplicaSet with o's template, counted from the pod informer:
// they move as soon as the pods do, and a spec that no ReplicaSet has yet
// has none. Without that ReplicaSet, and for the other kinds, the status
// counts once the controller has observed o (kubectl's rule), and until
// then no pod is known to be of o.
func (r *Recorder) updatedLocked(o object) int32 {
	if d, ok := o.(*appsv1.Deployment); ok {
		if rs := r.replicaSetForLocked(&d.Spec.Template); rs != nil {
			return r.activePodsOfLocked(rs)
		}
	}
	if generationStale(o, observedOf(o), r.minGen) {
		return 0
	}
	return statusOf(o).Updated
}

// replicaSetForLocked is the watched ReplicaSet whose pod template is t,
// ignoring the pod-template-hash label the controller adds, as the
// Deployment controller finds its new ReplicaSet; the newest when several
// are.
func (r *Recorder) replicaSetForLocked(t *corev1.PodTemplateSpec) *appsv1.ReplicaSet {
	var found *appsv1.ReplicaSet
	for _, rs := range r.rsSeen {
		if !equalIgnoreHash(&rs.Spec.Template, t) {
			continue
		}
		if found == nil || found.CreationTimestamp.Before(&rs.CreationTimestamp) {
			found = rs
		}
	}
	return found
}

// equalIgnoreHash is kubectl's deployment util EqualIgnoreHash.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return equality.Semantic.DeepEqual(a, b)
}

// activePodsOfLocked counts the pods rs controls that are neither
// terminating nor finished, as a ReplicaSet's status.replicas does.
func (r *Recorder) activePodsOfLocked(rs *appsv1.ReplicaSet) int32 {
	var n int32
	for _, p := range r.pods {
		if controlledBy(p, rs) && active(p) {
			n++
		}
	}
	return n
}

// ownsLocked reports whether the watched workload controls p: a
// Deployment through one of its ReplicaSets. The pods informer selects by
// labels, which another workload's pods may carry too.
func (r *Recorder) ownsLocked(p *corev1.Pod) bool {
	ref := metav1.GetControllerOf(p)
	if ref == nil {
		return false
	}
	if r.kind == KindDeployment {
		rs := r.rsSeen[ref.Name]
		return rs != nil && controlledBy(p, rs)
	}
	return strings.EqualFold(ref.Kind, string(r.kind)) && ref.Name == r.name
}

// controlledBy reports whether rs is p's controller, by name and, when both
// are known, UID.
func controlledBy(p *corev1.Pod, rs *appsv1.ReplicaSet) bool {
	ref := metav1.GetControllerOf(p)
	return ref != nil && ref.Kind == "ReplicaSet" && ref.Name == rs.Name && (ref.UID == "" || rs.UID == "" || ref.UID == rs.UID)
}

// active: p is neither terminating nor finished, as controllers count
// their pods.
func active(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// Stop stops the informers and waits for them to exit. It is safe to call
// more than once and before Start.
func (r *Recorder) Stop() {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		stop := r.stop
		r.mu.Unlock()
		if stop != nil {
			stop()
		}
	})
}

// record appends e to the timeline.
func (r *Recorder) record(e Event) {
	r.mu.Lock()
	r.recordLocked(e)
	r.mu.Unlock()
}

// notifyLocked wakes everything waiting on a change (Wait, AwaitExternal,
// WaitSwitched, WaitDrained).
func (r *Recorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// errAwaitTimeout: await's timeout passed before its condition held.
var errAwaitTimeout = errors.New("timeout")

// await evaluates cond, with r.mu held, now and on every change the
// informers deliver, until it holds. It returns nil then, errAwaitTimeout
// after timeout (0: no limit), or ctx's error when ctx is done first. It is
// the one wait loop of Wait, WaitSwitched, AwaitExternal and WaitDrained.
func (r *Recorder) await(ctx context.Context, timeout time.Duration, cond func() bool) error {
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	for {
		r.mu.Lock()
		changed := r.changed
		ok := cond()
		r.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-expired:
			return errAwaitTimeout
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *Recorder) recordLocked(e Event) {
	r.events = append(r.events, e)
}

// PodNames are the names of every pod of the workload the Recorder has
// seen, current or gone, sorted: who a response's pod header names.
func (r *Recorder) PodNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.pods)+len(r.gone))
	for name := range r.pods {
		out = append(out, name)
	}
	for name := range r.gone {
		if _, ok := r.pods[name]; !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// desired is spec.replicas, which the API server defaults to 1.
func desired(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

var errNotPrepared = errors.New("rollout: Prepare was not called or failed")
