package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// ParseSelector parses "key=value[,key=value]" for --selector, the labels
// merged into a Service's selector to switch it (blue/green).
func ParseSelector(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty selector: want key=value[,key=value]: %w", ErrInvalid)
	}
	m, err := labels.ConvertSelectorToLabelsMap(s)
	if err != nil {
		return nil, fmt.Errorf("selector %q: want key=value[,key=value]: %w: %w", s, ErrInvalid, err)
	}
	return m, nil
}

// MergeSelector returns selector with change merged in, as the strategic
// merge patch `kubectl patch service -p '{"spec":{"selector":...}}'` does.
func MergeSelector(selector, change map[string]string) map[string]string {
	out := make(map[string]string, len(selector)+len(change))
	for k, v := range selector {
		out[k] = v
	}
	for k, v := range change {
		out[k] = v
	}
	return out
}

// SelectorString prints a selector sorted, as kubectl does.
func SelectorString(m map[string]string) string {
	return labels.SelectorFromSet(m).String()
}

// SwitchService moves the watched Service (Config.Service) to the pods
// selected by change merged into its selector: the blue/green switch of
// seed 001. The Driver is the one of the Deployment traffic leaves; its
// pods are what WaitSwitched waits to see gone from the endpoints.
func (w *Driver) SwitchService(ctx context.Context, change map[string]string) error {
	if w.spec == nil || len(w.services) == 0 {
		return errNotPrepared
	}
	svcName := w.services[0]
	svcs := w.client.CoreV1().Services(w.cfg.Namespace)
	svc, err := svcs.Get(ctx, svcName, metav1.GetOptions{})
	if err != nil {
		return apiError("get service", w.cfg.Namespace+"/"+svcName, err)
	}
	before := SelectorString(svc.Spec.Selector)
	after := SelectorString(MergeSelector(svc.Spec.Selector, change))
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"selector": change}})
	if err != nil {
		return err
	}
	t := w.now()
	if _, err := svcs.Patch(ctx, svcName, types.StrategicMergePatchType, body, metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
		return apiError("patch service", w.cfg.Namespace+"/"+svcName, err)
	}
	w.mu.Lock()
	w.trigger = t
	w.recordLocked(Event{
		Time:    t,
		Type:    RolloutTriggered,
		Reason:  string(ActionSwitch),
		Service: svcName,
		Detail:  fmt.Sprintf("service %s selector %s -> %s", svcName, before, after),
	})
	w.mu.Unlock()
	return nil
}

// WaitSwitched waits until the Service's endpoints hold no pod of the
// watched Deployment: the switch has reached the EndpointSlices, which is
// what kube-proxy and load balancers follow. Whether the pods now behind it
// are ready is not a condition: a switch to pods that are not ready is
// complete, and the failures after it are what the report shows.
func (w *Driver) WaitSwitched(ctx context.Context, timeout time.Duration) Outcome {
	return w.waitFor(ctx, timeout, func(*Outcome) (bool, string, string) {
		if len(w.services) == 0 {
			return false, "", ""
		}
		svc := w.services[0]
		var left []string
		total, ready := 0, 0
		for _, st := range w.endpointsLocked(svc) {
			total++
			if st.ready {
				ready++
			}
			if _, ours := w.pods[st.pod]; ours && st.pod != "" {
				left = append(left, st.pod)
			}
		}
		if len(left) > 0 {
			sort.Strings(left)
			return false, "", fmt.Sprintf("service %s still routes to %s", svc, strings.Join(left, ", "))
		}
		return true, "", fmt.Sprintf("service %s switched away from deployment %s: %d endpoints, %d ready", svc, w.cfg.Deployment, total, ready)
	})
}
