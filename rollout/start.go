package rollout

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// Start starts informers on the Deployment, its ReplicaSets and pods and the
// EndpointSlices of its Services, and returns once their caches are synced
// and the objects that existed before have been seen. From then on every
// change is recorded as it is delivered. Informers relist on their own after
// a broken watch; each break is recorded as a WatchGap event, including
// refused watches, which the reflector retries without reporting them (see
// gapNoting).
func (w *Watcher) Start(ctx context.Context) error {
	if w.deploy == nil {
		return errNotPrepared
	}
	ctx, cancel := context.WithCancel(ctx)
	ns := w.cfg.Namespace

	nameTweak := func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", w.cfg.Deployment).String()
	}
	byName := informers.NewSharedInformerFactoryWithOptions(w.client, 0,
		informers.WithNamespace(ns),
		informers.WithTweakListOptions(nameTweak))
	// ReplicaSets carry the pod template labels (plus pod-template-hash), so
	// the Deployment's selector filters both. Handlers filter again because
	// other controllers' objects can match too (and fake clients ignore
	// selectors on watches).
	selectorTweak := func(o *metav1.ListOptions) {
		o.LabelSelector = w.selector.String()
	}
	bySelector := informers.NewSharedInformerFactoryWithOptions(w.client, 0,
		informers.WithNamespace(ns),
		informers.WithTweakListOptions(selectorTweak))
	factories := []informers.SharedInformerFactory{byName, bySelector}

	type informer struct {
		name    string
		inf     cache.SharedIndexInformer
		handler cache.ResourceEventHandler
	}
	infs := []informer{
		// gapNoting: the generated informers plus a record of refused watches.
		{"deployments", byName.InformerFor(&appsv1.Deployment{}, gapNoting(w, "deployments", &appsv1.Deployment{}, w.client.AppsV1().Deployments(ns), nameTweak)), cache.ResourceEventHandlerDetailedFuncs{
			AddFunc:    func(obj any, initial bool) { w.onDeployment(obj) },
			UpdateFunc: func(_, obj any) { w.onDeployment(obj) },
		}},
		{"replicasets", bySelector.InformerFor(&appsv1.ReplicaSet{}, gapNoting(w, "replicasets", &appsv1.ReplicaSet{}, w.client.AppsV1().ReplicaSets(ns), selectorTweak)), cache.ResourceEventHandlerDetailedFuncs{
			AddFunc:    func(obj any, initial bool) { w.onReplicaSet(obj, initial) },
			UpdateFunc: func(_, obj any) { w.onReplicaSet(obj, false) },
			DeleteFunc: w.onReplicaSetDelete,
		}},
		{"pods", bySelector.InformerFor(&corev1.Pod{}, gapNoting(w, "pods", &corev1.Pod{}, w.client.CoreV1().Pods(ns), selectorTweak)), cache.ResourceEventHandlerDetailedFuncs{
			AddFunc:    func(obj any, initial bool) { w.onPod(obj, initial) },
			UpdateFunc: func(_, obj any) { w.onPod(obj, false) },
			DeleteFunc: w.onPodDelete,
		}},
	}
	if len(w.services) > 0 {
		req, err := labels.NewRequirement(discoveryv1.LabelServiceName, selection.In, w.services)
		if err != nil {
			cancel()
			return fmt.Errorf("endpointslice selector: %w", err)
		}
		svcTweak := func(o *metav1.ListOptions) {
			o.LabelSelector = labels.NewSelector().Add(*req).String()
		}
		bySvc := informers.NewSharedInformerFactoryWithOptions(w.client, 0,
			informers.WithNamespace(ns),
			informers.WithTweakListOptions(svcTweak))
		factories = append(factories, bySvc)
		infs = append(infs, informer{"endpointslices", bySvc.InformerFor(&discoveryv1.EndpointSlice{}, gapNoting(w, "endpointslices", &discoveryv1.EndpointSlice{}, w.client.DiscoveryV1().EndpointSlices(ns), svcTweak)), cache.ResourceEventHandlerDetailedFuncs{
			AddFunc:    func(obj any, initial bool) { w.onSlice(obj, initial) },
			UpdateFunc: func(_, obj any) { w.onSlice(obj, false) },
			DeleteFunc: w.onSliceDelete,
		}})
	}

	var synced []cache.InformerSynced
	for _, i := range infs {
		name := i.name
		if err := i.inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			w.record(Event{Time: w.now(), Type: WatchGap, Detail: name + ": " + err.Error()})
		}); err != nil {
			cancel()
			return fmt.Errorf("%s informer: %w", name, err)
		}
		reg, err := i.inf.AddEventHandler(i.handler)
		if err != nil {
			cancel()
			return fmt.Errorf("%s informer: %w", name, err)
		}
		// The registration is synced once the handler has seen the initial
		// list, not just once the store has it.
		synced = append(synced, reg.HasSynced)
	}

	w.mu.Lock()
	w.stop = func() {
		cancel()
		for _, f := range factories {
			f.Shutdown()
		}
	}
	w.mu.Unlock()
	for _, f := range factories {
		f.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		w.Stop()
		if err := context.Cause(ctx); err != nil {
			return fmt.Errorf("waiting for informers of deployment %s: %w", w.object(), err)
		}
		return fmt.Errorf("waiting for informers of deployment %s: not synced", w.object())
	}
	return nil
}

// onDeployment keeps the latest Deployment, wakes Wait and records changes
// that matter to a rollout.
func (w *Watcher) onDeployment(obj any) {
	t := w.now()
	d, ok := obj.(*appsv1.Deployment)
	if !ok || d.Name != w.cfg.Deployment {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.cur
	w.cur = d
	w.notifyLocked()
	if old == nil || !deploymentChanged(old, d) {
		return
	}
	e := Event{
		Time:     t,
		Type:     DeploymentUpdated,
		Replicas: ptr(desired(d)),
		Revision: d.Annotations[revisionAnnotation],
		Detail: fmt.Sprintf("generation %d observed %d replicas %d updated %d ready %d available %d",
			d.Generation, d.Status.ObservedGeneration, d.Status.Replicas,
			d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas),
	}
	if c := deploymentCondition(d, appsv1.DeploymentProgressing); c != nil {
		e.Reason = c.Reason
		e.ServerTime = serverTime(c.LastUpdateTime)
	}
	w.recordLocked(e)
}

// deploymentChanged reports whether b differs from a in what a rollout
// follows, ignoring resyncs and unrelated status churn.
func deploymentChanged(a, b *appsv1.Deployment) bool {
	if a.Generation != b.Generation || desired(a) != desired(b) {
		return true
	}
	as, bs := a.Status, b.Status
	if as.ObservedGeneration != bs.ObservedGeneration || as.Replicas != bs.Replicas ||
		as.UpdatedReplicas != bs.UpdatedReplicas || as.ReadyReplicas != bs.ReadyReplicas ||
		as.AvailableReplicas != bs.AvailableReplicas {
		return true
	}
	return progressingReason(a) != progressingReason(b)
}

func progressingReason(d *appsv1.Deployment) string {
	if c := deploymentCondition(d, appsv1.DeploymentProgressing); c != nil {
		return c.Reason
	}
	return ""
}

func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

const revisionAnnotation = "deployment.kubernetes.io/revision"

// ownedByDeployment reports whether rs belongs to the watched Deployment.
func (w *Watcher) ownedByDeployment(meta metav1.Object) bool {
	ref := metav1.GetControllerOf(meta)
	if ref == nil || ref.Kind != "Deployment" || ref.Name != w.cfg.Deployment {
		return false
	}
	// The UID pins the Deployment Prepare read; a fake or older object may
	// leave it empty.
	return w.deploy.UID == "" || ref.UID == "" || ref.UID == w.deploy.UID
}

// onReplicaSet records spec.replicas changes; a ReplicaSet that appears
// after the sync counts as scaled up from zero.
func (w *Watcher) onReplicaSet(obj any, initial bool) {
	t := w.now()
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok || !w.ownedByDeployment(rs) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.rsSeen[rs.Name]
	w.rsSeen[rs.Name] = rs
	if initial {
		return
	}
	var before int32
	if old != nil {
		before = replicas(old)
	}
	if old != nil && before == replicas(rs) {
		return
	}
	w.recordLocked(Event{
		Time:       t,
		Type:       ReplicaSetScaled,
		ReplicaSet: rs.Name,
		Revision:   rs.Annotations[revisionAnnotation],
		Replicas:   ptr(replicas(rs)),
		Detail:     fmt.Sprintf("%d -> %d", before, replicas(rs)),
	})
}

func (w *Watcher) onReplicaSetDelete(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	w.mu.Lock()
	delete(w.rsSeen, rs.Name)
	w.mu.Unlock()
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// onPod records what changed since the last copy of the pod this Watcher
// saw. Comparing with its own copy rather than the informer's old object
// lets a delete, whose final state may carry changes never delivered as
// updates, be diffed the same way.
func (w *Watcher) onPod(obj any, initial bool) {
	t := w.now()
	pod, ok := obj.(*corev1.Pod)
	if !ok || !w.selector.Matches(labels.Set(pod.Labels)) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.pods[pod.Name]
	w.pods[pod.Name] = pod
	if initial {
		w.recordLocked(podSnapshot(t, pod))
		if pod.DeletionTimestamp != nil {
			e := deletionEvent(t, pod)
			e.Initial = true
			e.Detail += ", initial"
			w.recordLocked(e)
		}
		return
	}
	for _, e := range podEvents(t, old, pod) {
		w.recordLocked(e)
	}
}

func (w *Watcher) onPodDelete(obj any) {
	t := w.now()
	unknown := false
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, unknown = tomb.Obj, true
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok || !w.selector.Matches(labels.Set(pod.Labels)) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	old, seen := w.pods[pod.Name]
	delete(w.pods, pod.Name)
	if !unknown && seen {
		for _, e := range podEvents(t, old, pod) {
			if e.Type != PodCreated {
				w.recordLocked(e)
			}
		}
	}
	e := podEvent(t, PodDeleted, pod)
	if unknown {
		// The watch missed the delete; the object is the last one seen
		// before the relist, so nothing more can be said about its end.
		e.Detail = "final state unknown"
	}
	w.recordLocked(e)
}

// podEvent is an event about pod with the fields every pod event has.
func podEvent(t time.Time, typ EventType, pod *corev1.Pod) Event {
	e := Event{Time: t, Type: typ, Pod: pod.Name, IP: pod.Status.PodIP}
	if ref := metav1.GetControllerOf(pod); ref != nil && ref.Kind == "ReplicaSet" {
		e.ReplicaSet = ref.Name
	}
	return e
}

// podSnapshot describes a pod that existed before the watch started.
func podSnapshot(t time.Time, pod *corev1.Pod) Event {
	typ := PodNotReady
	cond := podCondition(pod, corev1.PodReady)
	if cond != nil && cond.Status == corev1.ConditionTrue {
		typ = PodReady
	}
	e := podEvent(t, typ, pod)
	e.Initial = true
	e.Detail = "initial"
	e.ServerTime = serverTime(pod.CreationTimestamp)
	return e
}

func deletionEvent(t time.Time, pod *corev1.Pod) Event {
	e := podEvent(t, DeletionRequested, pod)
	e.ServerTime = serverTime(*pod.DeletionTimestamp)
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		e.GracePeriod = ptr(time.Duration(*g) * time.Second)
		e.Detail = fmt.Sprintf("grace %ds", *g)
	} else {
		e.Detail = "grace unknown"
	}
	return e
}

// podEvents lists the transitions from old (nil: not seen before) to pod in
// lifecycle order.
func podEvents(t time.Time, old, pod *corev1.Pod) []Event {
	var out []Event
	if old == nil {
		e := podEvent(t, PodCreated, pod)
		e.ServerTime = serverTime(pod.CreationTimestamp)
		out = append(out, e)
		old = &corev1.Pod{}
	}
	if !scheduled(old) && scheduled(pod) {
		e := podEvent(t, PodScheduled, pod)
		e.Detail = pod.Spec.NodeName
		if c := podCondition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionTrue {
			e.ServerTime = serverTime(c.LastTransitionTime)
		}
		out = append(out, e)
	}
	oldStatuses := map[string]corev1.ContainerStatus{}
	for _, cs := range old.Status.ContainerStatuses {
		oldStatuses[cs.Name] = cs
	}
	var exits []Event
	for _, cs := range pod.Status.ContainerStatuses {
		prev := oldStatuses[cs.Name]
		if run := cs.State.Running; run != nil && (prev.State.Running == nil || !prev.State.Running.StartedAt.Equal(&run.StartedAt)) {
			e := podEvent(t, ContainerStarted, pod)
			e.Container = cs.Name
			e.ServerTime = serverTime(run.StartedAt)
			if cs.RestartCount > 0 {
				e.Detail = fmt.Sprintf("restart %d", cs.RestartCount)
			}
			out = append(out, e)
		}
		// A container that restarted between two updates shows its exit
		// only in lastState.
		term := cs.State.Terminated
		if term == nil && cs.RestartCount > prev.RestartCount {
			term = cs.LastTerminationState.Terminated
		}
		if term != nil && (prev.State.Terminated == nil || !prev.State.Terminated.FinishedAt.Equal(&term.FinishedAt)) {
			e := podEvent(t, ContainerExited, pod)
			e.Container = cs.Name
			e.ExitCode = ptr(term.ExitCode)
			e.Reason = term.Reason
			e.ServerTime = serverTime(term.FinishedAt)
			if term.Signal != 0 {
				e.Detail = fmt.Sprintf("signal %d", term.Signal)
			}
			exits = append(exits, e)
		}
	}
	oldReady, newReady := isReady(old), isReady(pod)
	var readiness []Event
	if oldReady != newReady {
		typ := PodNotReady
		if newReady {
			typ = PodReady
		}
		e := podEvent(t, typ, pod)
		if c := podCondition(pod, corev1.PodReady); c != nil {
			e.ServerTime = serverTime(c.LastTransitionTime)
			e.Reason = c.Reason
		}
		readiness = append(readiness, e)
	}
	deletion := old.DeletionTimestamp == nil && pod.DeletionTimestamp != nil
	// Order within one update follows the lifecycle: a pod becomes ready
	// after it starts; a deleted pod is asked to stop before it exits and
	// becomes not ready.
	if newReady {
		out = append(out, readiness...)
	}
	if deletion {
		out = append(out, deletionEvent(t, pod))
	}
	out = append(out, exits...)
	if !newReady {
		out = append(out, readiness...)
	}
	return out
}

func scheduled(pod *corev1.Pod) bool {
	if pod.Spec.NodeName != "" {
		return true
	}
	c := podCondition(pod, corev1.PodScheduled)
	return c != nil && c.Status == corev1.ConditionTrue
}

func isReady(pod *corev1.Pod) bool {
	c := podCondition(pod, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// serverTime keeps a server timestamp as secondary evidence; zero is absent.
func serverTime(t metav1.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	v := t.Time
	return &v
}

func ptr[T any](v T) *T { return &v }

// epState is one endpoint's conditions, with the nil defaults of
// discovery/v1 resolved.
type epState struct {
	pod, ip                     string
	ready, serving, terminating bool
}

// endpointKey identifies an endpoint across slices: its pod, or its first
// address when no pod is behind it.
func endpointKey(ep discoveryv1.Endpoint) string {
	if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" && ep.TargetRef.Name != "" {
		return ep.TargetRef.Name
	}
	if len(ep.Addresses) > 0 {
		return "ip:" + ep.Addresses[0]
	}
	return ""
}

func sliceEndpoints(s *discoveryv1.EndpointSlice) map[string]epState {
	out := map[string]epState{}
	for _, ep := range s.Endpoints {
		key := endpointKey(ep)
		if key == "" {
			continue
		}
		st := epState{
			ready:       ep.Conditions.Ready == nil || *ep.Conditions.Ready,
			serving:     ep.Conditions.Serving == nil || *ep.Conditions.Serving,
			terminating: ep.Conditions.Terminating != nil && *ep.Conditions.Terminating,
		}
		if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
			st.pod = ep.TargetRef.Name
		}
		if len(ep.Addresses) > 0 {
			st.ip = ep.Addresses[0]
		}
		out[key] = st
	}
	return out
}

// endpointsLocked merges the slices of service. While the controller moves
// an endpoint between slices it can be in two at once; it counts as ready
// (serving, terminating) if any copy is.
func (w *Watcher) endpointsLocked(service string) map[string]epState {
	out := map[string]epState{}
	for _, eps := range w.slices[service] {
		for key, st := range eps {
			if prev, ok := out[key]; ok {
				st.ready = st.ready || prev.ready
				st.serving = st.serving || prev.serving
				st.terminating = st.terminating || prev.terminating
			}
			out[key] = st
		}
	}
	return out
}

func sliceService(s *discoveryv1.EndpointSlice) string {
	return s.Labels[discoveryv1.LabelServiceName]
}

func (w *Watcher) watchesService(name string) bool {
	for _, s := range w.services {
		if s == name {
			return true
		}
	}
	return false
}

func (w *Watcher) onSlice(obj any, initial bool) {
	t := w.now()
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || !w.watchesService(sliceService(s)) {
		return
	}
	w.setSlice(t, sliceService(s), s.Name, sliceEndpoints(s), initial, serverTriggerTime(s))
}

func (w *Watcher) onSliceDelete(obj any) {
	t := w.now()
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || !w.watchesService(sliceService(s)) {
		return
	}
	w.setSlice(t, sliceService(s), s.Name, nil, false, nil)
}

// serverTriggerTime is the time of the pod or Service change behind the
// slice update, as the EndpointSlice controller annotates it.
func serverTriggerTime(s *discoveryv1.EndpointSlice) *time.Time {
	v, ok := s.Annotations[corev1.EndpointsLastChangeTriggerTime]
	if !ok {
		return nil
	}
	ts, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil
	}
	return &ts
}

// setSlice replaces one slice's endpoints (nil: the slice is gone) and
// records how the merged endpoints of its Service changed.
func (w *Watcher) setSlice(t time.Time, service, slice string, eps map[string]epState, initial bool, server *time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	before := w.endpointsLocked(service)
	if w.slices[service] == nil {
		w.slices[service] = map[string]map[string]epState{}
	}
	if eps == nil {
		delete(w.slices[service], slice)
	} else {
		w.slices[service][slice] = eps
	}
	after := w.endpointsLocked(service)
	w.notifyLocked()

	keys := make([]string, 0, len(before)+len(after))
	for k := range after {
		keys = append(keys, k)
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			keys = append(keys, k)
		}
	}
	// Map order is random; a stable order keeps timelines reproducible.
	slices.Sort(keys)
	for _, k := range keys {
		old, had := before[k]
		cur, has := after[k]
		var e Event
		switch {
		case !had && has:
			e = endpointEvent(t, EndpointAdded, service, cur)
			if initial {
				e.Initial = true
				e.Detail = "initial"
			}
		case had && !has:
			e = endpointEvent(t, EndpointRemoved, service, old)
			// Conditions describe the endpoint, which is gone.
			e.Ready, e.Serving, e.Terminating = nil, nil, nil
		case had && has && (old.ready != cur.ready || old.serving != cur.serving || old.terminating != cur.terminating):
			e = endpointEvent(t, EndpointChanged, service, cur)
			e.Detail = fmt.Sprintf("was ready=%t serving=%t terminating=%t", old.ready, old.serving, old.terminating)
		default:
			continue
		}
		e.ServerTime = server
		w.recordLocked(e)
	}
}

func endpointEvent(t time.Time, typ EventType, service string, st epState) Event {
	return Event{
		Time:        t,
		Type:        typ,
		Service:     service,
		Pod:         st.pod,
		IP:          st.ip,
		Ready:       ptr(st.ready),
		Serving:     ptr(st.serving),
		Terminating: ptr(st.terminating),
	}
}
