package rollout

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// epState is one endpoint's conditions, with the nil defaults of
// discovery/v1 resolved.
type epState struct {
	pod, ip string
	// uid is the pod's, when the endpoint names it: a StatefulSet's new
	// pod has the old one's name.
	uid                         types.UID
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
			st.pod, st.uid = ep.TargetRef.Name, ep.TargetRef.UID
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
func (r *Recorder) endpointsLocked(service string) map[string]epState {
	out := map[string]epState{}
	for _, eps := range r.slices[service] {
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

func (r *Recorder) watchesService(name string) bool {
	for _, s := range r.services {
		if s == name {
			return true
		}
	}
	return false
}

func (r *Recorder) onSlice(obj any, initial bool) {
	t := r.now()
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || !r.watchesService(sliceService(s)) {
		return
	}
	r.setSlice(t, sliceService(s), s.Name, sliceEndpoints(s), initial, serverTriggerTime(s))
}

func (r *Recorder) onSliceDelete(obj any) {
	t := r.now()
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || !r.watchesService(sliceService(s)) {
		return
	}
	r.setSlice(t, sliceService(s), s.Name, nil, false, nil)
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
func (r *Recorder) setSlice(t time.Time, service, slice string, eps map[string]epState, initial bool, server *time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	before := r.endpointsLocked(service)
	if r.slices[service] == nil {
		r.slices[service] = map[string]map[string]epState{}
	}
	if eps == nil {
		delete(r.slices[service], slice)
	} else {
		r.slices[service][slice] = eps
	}
	after := r.endpointsLocked(service)
	r.notifyLocked()

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
		r.recordLocked(e)
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
