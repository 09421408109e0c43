package rollout

import (
	"context"
	"fmt"

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
func (r *Recorder) Start(ctx context.Context) error {
	if r.spec == nil {
		return errNotPrepared
	}
	ctx, cancel := context.WithCancel(ctx)
	ns := r.ns

	nameTweak := func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", r.name).String()
	}
	byName := informers.NewSharedInformerFactoryWithOptions(r.client, 0,
		informers.WithNamespace(ns),
		informers.WithTweakListOptions(nameTweak))
	// ReplicaSets carry the pod template labels (plus pod-template-hash), so
	// the Deployment's selector filters both. Handlers filter again because
	// other controllers' objects can match too (and fake clients ignore
	// selectors on watches).
	selectorTweak := func(o *metav1.ListOptions) {
		o.LabelSelector = r.selector.String()
	}
	bySelector := informers.NewSharedInformerFactoryWithOptions(r.client, 0,
		informers.WithNamespace(ns),
		informers.WithTweakListOptions(selectorTweak))
	factories := []informers.SharedInformerFactory{byName, bySelector}

	type informer struct {
		name    string
		inf     cache.SharedIndexInformer
		handler cache.ResourceEventHandler
	}
	trackers := map[string]*gapTracker{}
	gaps := func(watch string) *gapTracker {
		trackers[watch] = &gapTracker{r: r, watch: watch}
		return trackers[watch]
	}
	// gapNoting: the generated informers plus a record of broken watches.
	onWorkload := cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(obj any, initial bool) { r.onWorkload(obj) },
		UpdateFunc: func(_, obj any) { r.onWorkload(obj) },
	}
	var infs []informer
	apps := r.client.AppsV1()
	switch r.kind {
	case KindStatefulSet:
		infs = append(infs, informer{"statefulsets", byName.InformerFor(&appsv1.StatefulSet{}, gapNoting(gaps("statefulsets"), &appsv1.StatefulSet{}, apps.StatefulSets(ns), nameTweak)), onWorkload})
	case KindDaemonSet:
		infs = append(infs, informer{"daemonsets", byName.InformerFor(&appsv1.DaemonSet{}, gapNoting(gaps("daemonsets"), &appsv1.DaemonSet{}, apps.DaemonSets(ns), nameTweak)), onWorkload})
	default:
		infs = append(infs,
			informer{"deployments", byName.InformerFor(&appsv1.Deployment{}, gapNoting(gaps("deployments"), &appsv1.Deployment{}, apps.Deployments(ns), nameTweak)), onWorkload},
			informer{"replicasets", bySelector.InformerFor(&appsv1.ReplicaSet{}, gapNoting(gaps("replicasets"), &appsv1.ReplicaSet{}, apps.ReplicaSets(ns), selectorTweak)), cache.ResourceEventHandlerDetailedFuncs{
				AddFunc:    func(obj any, initial bool) { r.onReplicaSet(obj, initial) },
				UpdateFunc: func(_, obj any) { r.onReplicaSet(obj, false) },
				DeleteFunc: r.onReplicaSetDelete,
			}})
	}
	infs = append(infs, informer{"pods", bySelector.InformerFor(&corev1.Pod{}, gapNoting(gaps("pods"), &corev1.Pod{}, r.client.CoreV1().Pods(ns), selectorTweak)), cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(obj any, initial bool) { r.onPod(obj, initial) },
		UpdateFunc: func(_, obj any) { r.onPod(obj, false) },
		DeleteFunc: r.onPodDelete,
	}})
	if len(r.services) > 0 {
		req, err := labels.NewRequirement(discoveryv1.LabelServiceName, selection.In, r.services)
		if err != nil {
			cancel()
			return fmt.Errorf("endpointslice selector: %w", err)
		}
		svcTweak := func(o *metav1.ListOptions) {
			o.LabelSelector = labels.NewSelector().Add(*req).String()
		}
		bySvc := informers.NewSharedInformerFactoryWithOptions(r.client, 0,
			informers.WithNamespace(ns),
			informers.WithTweakListOptions(svcTweak))
		factories = append(factories, bySvc)
		infs = append(infs, informer{"endpointslices", bySvc.InformerFor(&discoveryv1.EndpointSlice{}, gapNoting(gaps("endpointslices"), &discoveryv1.EndpointSlice{}, r.client.DiscoveryV1().EndpointSlices(ns), svcTweak)), cache.ResourceEventHandlerDetailedFuncs{
			AddFunc:    func(obj any, initial bool) { r.onSlice(obj, initial) },
			UpdateFunc: func(_, obj any) { r.onSlice(obj, false) },
			DeleteFunc: r.onSliceDelete,
		}})
	}

	var synced []cache.InformerSynced
	for _, i := range infs {
		g := trackers[i.name]
		if err := i.inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, _ *cache.Reflector, err error) {
			g.failed(ctx, "", err)
		}); err != nil {
			cancel()
			return fmt.Errorf("%s informer: %w", i.name, err)
		}
		reg, err := i.inf.AddEventHandler(i.handler)
		if err != nil {
			cancel()
			return fmt.Errorf("%s informer: %w", i.name, err)
		}
		// The registration is synced once the handler has seen the initial
		// list, not just once the store has it.
		synced = append(synced, reg.HasSynced)
	}

	r.mu.Lock()
	r.stop = func() {
		cancel()
		for _, f := range factories {
			f.Shutdown()
		}
	}
	r.mu.Unlock()
	for _, f := range factories {
		f.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		r.Stop()
		if err := context.Cause(ctx); err != nil {
			return fmt.Errorf("waiting for informers of %s %s: %w", r.kind, r.object(), err)
		}
		return fmt.Errorf("waiting for informers of %s %s: not synced", r.kind, r.object())
	}
	return nil
}
