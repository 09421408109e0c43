package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// PortsAnnotation is the pod annotation holding the containerPort → loopback
// port mapping as a JSON object, e.g. {"8080": 41234}. The lab load balancer
// reads it to proxy endpoint IP:port to 127.0.0.1:loopbackPort.
const PortsAnnotation = "lab.rollcheck.dev/ports"

// setup assigns the IP label and loopback ports and publishes the mapping.
func (w *podWorker) setup(ctx context.Context) error {
	pod := w.latest()
	// After a kubelet restart keep the pod's IP and, where still free, its
	// loopback ports: a running pod's address does not change.
	ip := pod.Status.PodIP
	if ip == "" || !w.k.ips.claim(ip) {
		var err error
		if ip, err = w.k.ips.allocate(); err != nil {
			return err
		}
	}
	var prev map[string]int
	_ = json.Unmarshal([]byte(pod.Annotations[PortsAnnotation]), &prev)
	ports := map[int32]int{}
	w.mu.Lock()
	w.ip, w.ports = ip, ports
	w.mu.Unlock()
	for _, cp := range podPorts(pod, w.k.cfg.Images) {
		lp := prev[strconv.Itoa(int(cp))]
		if lp == 0 || !w.k.ports.claim(lp) {
			var err error
			if lp, err = w.k.ports.allocate(); err != nil {
				return err
			}
		}
		w.mu.Lock()
		ports[cp] = lp
		w.mu.Unlock()
	}
	if err := os.MkdirAll(w.logDir, 0o755); err != nil {
		return fmt.Errorf("create pod dir: %w", err)
	}
	ann := map[string]int{}
	for cp, lp := range ports {
		ann[strconv.Itoa(int(cp))] = lp
	}
	annJSON, _ := json.Marshal(ann)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{PortsAnnotation: string(annJSON)},
	}})
	if _, err := w.k.client.CoreV1().Pods(w.ns).Patch(ctx, w.name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotate ports: %w", err)
	}
	w.mu.Lock()
	w.sandbox = true
	w.startTime = metav1.Now().Rfc3339Copy()
	w.mu.Unlock()
	w.logf("ip %s ports %s", ip, annJSON)
	return nil
}

func (w *podWorker) release() {
	w.mu.Lock()
	ip, ports := w.ip, w.ports
	w.ip, w.ports = "", nil
	w.mu.Unlock()
	if ip != "" {
		w.k.ips.release(ip)
	}
	for _, lp := range ports {
		w.k.ports.release(lp)
	}
}

// podPorts lists the ports that need a loopback port: declared container
// ports first, then numeric probe/hook ports and port flags of the image.
func podPorts(pod *v1.Pod, images *ImageMap) []int32 {
	var out []int32
	seen := map[int32]bool{}
	add := func(p int32) {
		if p > 0 && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	containers := podContainers(pod)
	for _, c := range containers {
		for _, p := range c.Ports {
			add(p.ContainerPort)
		}
	}
	for _, c := range containers {
		for _, pr := range []*v1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
			if pr != nil {
				add(handlerPort(pr.HTTPGet, pr.TCPSocket))
			}
		}
		if lc := c.Lifecycle; lc != nil {
			for _, h := range []*v1.LifecycleHandler{lc.PreStop, lc.PostStart} {
				if h != nil {
					add(handlerPort(h.HTTPGet, h.TCPSocket))
				}
			}
		}
		if rule, ok := images.Lookup(c.Image); ok {
			for _, p := range portFlagPorts(append(append([]string(nil), c.Command...), c.Args...), rule.PortFlags) {
				add(p)
			}
		}
	}
	return out
}

func handlerPort(h *v1.HTTPGetAction, t *v1.TCPSocketAction) int32 {
	if h != nil && h.Port.IntVal > 0 {
		return h.Port.IntVal
	}
	if t != nil && t.Port.IntVal > 0 {
		return t.Port.IntVal
	}
	return 0
}
