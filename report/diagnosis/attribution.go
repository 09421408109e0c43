package diagnosis

import (
	"sort"
	"time"

	"github.com/rollcheck/rollcheck/attack"
)

// item is one failure, or several unrecorded failures of one class in one
// bucket (n > 1, no pod, no latency).
type item struct {
	t     time.Time
	lat   time.Duration
	class attack.Class
	pod   string
	node  string // the node it entered through ("" unknown)
	n     int
	// reused: the request went over a kept-alive connection.
	reused bool
}

// items lists the recorded failures plus, when records were dropped, the
// failures only counted in buckets, placed mid-bucket.
func items(a *attack.Result) []item {
	out := make([]item, 0, len(a.FailureList))
	for _, f := range a.FailureList {
		out = append(out, item{t: f.Time, lat: f.Latency, class: f.Class, pod: f.Pod, node: f.Node, n: 1, reused: f.Reused})
	}
	if a.Dropped > 0 && len(a.Buckets) > 0 {
		recorded := make([]map[attack.Class]int, len(a.Buckets))
		for _, f := range a.FailureList {
			i := sort.Search(len(a.Buckets), func(i int) bool { return a.Buckets[i].Start.After(f.Time) }) - 1
			if i < 0 {
				continue
			}
			if recorded[i] == nil {
				recorded[i] = map[attack.Class]int{}
			}
			recorded[i][f.Class]++
		}
		for i, b := range a.Buckets {
			for _, c := range attack.FailureClasses {
				if k := b.ByClass[c] - recorded[i][c]; k > 0 {
					out = append(out, item{t: b.Start.Add(a.BucketWidth / 2), class: c, n: k})
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].t.Before(out[j].t) })
	return out
}

// index finds candidate pods for a failure time in O(log pods).
type index struct {
	exits []*life // terminating pods that exited, by exit time
	news  []*life // pods created during the run, by ready time
	dels  []*life // terminating pods, by deletion time
	opt   Options
}

const walkBack = 16

func newIndex(pods map[string]*life, opt Options) *index {
	x := &index{opt: opt}
	far := time.Unix(1<<40, 0)
	for _, p := range pods {
		if !p.del.IsZero() {
			end := p.del
			for _, t := range []time.Time{p.unready, p.removed, p.exited} {
				if t.After(end) {
					end = t
				}
			}
			if p.exited.IsZero() && p.removed.IsZero() {
				end = far // still terminating when the watch ended
			} else {
				end = end.Add(opt.LagWindow)
			}
			p.windowEnd = end
			x.dels = append(x.dels, p)
			if !p.exited.IsZero() {
				x.exits = append(x.exits, p)
			}
		}
		if !p.initial && !p.ready.IsZero() {
			x.news = append(x.news, p)
		}
	}
	by := func(s []*life, key func(*life) time.Time) {
		sort.Slice(s, func(i, j int) bool {
			if a, b := key(s[i]), key(s[j]); !a.Equal(b) {
				return a.Before(b)
			}
			return s[i].name < s[j].name
		})
	}
	by(x.exits, func(p *life) time.Time { return p.exitLo })
	by(x.news, func(p *life) time.Time { return p.ready })
	by(x.dels, func(p *life) time.Time { return p.del })
	return x
}

// latest returns the last pod in s with key ≤ t that ok accepts, looking at
// most walkBack pods back.
func latest(s []*life, key func(*life) time.Time, t time.Time, ok func(*life) bool) *life {
	i := sort.Search(len(s), func(i int) bool { return key(s[i]).After(t) })
	for j := i - 1; j >= 0 && j >= i-walkBack; j-- {
		if ok(s[j]) {
			return s[j]
		}
	}
	return nil
}
