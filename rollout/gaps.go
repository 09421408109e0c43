package rollout

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// listWatcher is the part of a typed client (PodInterface, ...) an informer
// uses.
type listWatcher[L runtime.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// gapNoting returns an informer constructor, for SharedInformerFactory.
// InformerFor, that is the generated one plus a record of broken watches.
// The reflector retries a refused watch (the API server down or restarting)
// with backoff and without calling the watch error handler, so an API
// server restart would otherwise leave no trace in the timeline. The first
// failed watch call of a run of failures is recorded as a WatchGap, and the
// first success after it as another, with the gap's length.
func gapNoting[L runtime.Object](r *Recorder, name string, obj runtime.Object, c listWatcher[L], tweak func(*metav1.ListOptions)) func(kubernetes.Interface, time.Duration) cache.SharedIndexInformer {
	return func(client kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		var (
			mu    sync.Mutex // the reflector calls Watch from one goroutine; this is for -race's peace of mind
			since time.Time  // when the current run of failed watches began; zero if none
		)
		noteWatch := func(ctx context.Context, err error) {
			if ctx.Err() != nil {
				return // stopping, not a gap
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && since.IsZero():
				since = r.now()
				r.record(Event{Time: since, Type: WatchGap, Detail: name + ": watch failed: " + err.Error()})
			case err == nil && !since.IsZero():
				now := r.now()
				r.record(Event{Time: now, Type: WatchGap, Detail: fmt.Sprintf("%s: watch resumed after %s", name, now.Sub(since).Round(time.Millisecond))})
				since = time.Time{}
			}
		}
		lw := &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				tweak(&o)
				return c.List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				tweak(&o)
				wi, err := c.Watch(ctx, o)
				noteWatch(ctx, err)
				return wi, err
			},
		}
		return cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, client), obj, resync,
			cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
}
