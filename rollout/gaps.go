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

// gapTracker records the gaps of one watch as WatchGap events: the first
// failure of a run of failures begins a gap, the first watch call that
// succeeds after it ends the gap, with the gap's start. Both the
// reflector's watch calls (gapNoting) and its watch error handler (a
// failed list, a watch refused for another reason than a refused
// connection) report to it, so that every gap has one start and, when the
// watch recovers, one end.
type gapTracker struct {
	r     *Recorder
	watch string
	mu    sync.Mutex // the reflector and its error handler run on different goroutines
	since time.Time  // when the current gap began; zero if none
}

// failed notes a failure of the watch; it begins a gap unless one is open.
func (g *gapTracker) failed(ctx context.Context, what string, err error) {
	if ctx.Err() != nil {
		return // stopping, not a gap
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.since.IsZero() {
		return
	}
	g.since = g.r.now()
	g.r.record(Event{Time: g.since, Type: WatchGap, Watch: g.watch, Detail: g.watch + ": " + what + err.Error()})
}

// watched notes a watch call that succeeded; it ends the open gap, if any.
func (g *gapTracker) watched(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.since.IsZero() {
		return
	}
	now, since := g.r.now(), g.since
	g.r.record(Event{Time: now, Type: WatchGap, Watch: g.watch, Resumed: true, GapStart: &since,
		Detail: fmt.Sprintf("%s: watch resumed after %s", g.watch, now.Sub(since).Round(time.Millisecond))})
	g.since = time.Time{}
}

// gapNoting returns an informer constructor, for SharedInformerFactory.
// InformerFor, that is the generated one plus a record of broken watches
// in g. The reflector retries a refused watch (the API server down or
// restarting) with backoff and without calling the watch error handler, so
// an API server restart would otherwise leave no trace in the timeline.
func gapNoting[L runtime.Object](g *gapTracker, obj runtime.Object, c listWatcher[L], tweak func(*metav1.ListOptions)) func(kubernetes.Interface, time.Duration) cache.SharedIndexInformer {
	return func(client kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		noteWatch := func(ctx context.Context, err error) {
			if err != nil {
				g.failed(ctx, "watch failed: ", err)
				return
			}
			g.watched(ctx)
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
