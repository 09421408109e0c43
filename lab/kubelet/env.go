package kubelet

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

// containerEnv builds the process environment: a base (PATH, HOME), the lab
// variables, then the container's env in order with $(VAR) expansion.
func (w *podWorker) containerEnv(spec *v1.Container) ([]string, map[string]string) {
	pod := w.latest()
	w.mu.Lock()
	ip, ports := w.ip, w.ports
	w.mu.Unlock()
	var keys []string
	vars := map[string]string{}
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			keys = append(keys, k)
		}
		vars[k] = v
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			set(k, v)
		}
	}
	set("HOSTNAME", pod.Name)
	set("POD_NAME", pod.Name)
	set("POD_NAMESPACE", pod.Namespace)
	set("POD_IP", ip)
	set("NODE_NAME", w.k.cfg.NodeName)
	first := int32(0)
	for _, p := range spec.Ports {
		if first == 0 {
			first = p.ContainerPort
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if first == 0 {
				first = p.ContainerPort
			}
		}
	}
	if lp, ok := ports[first]; ok {
		set("PORT", strconv.Itoa(lp))
	}
	for cp, lp := range ports {
		set("PORT_"+strconv.Itoa(int(cp)), strconv.Itoa(lp))
	}
	for _, e := range spec.Env {
		val := e.Value
		if e.ValueFrom == nil {
			val = expansion.Expand(val, expansion.MappingFuncFor(vars))
		} else if fr := e.ValueFrom.FieldRef; fr != nil {
			val = w.fieldValue(pod, fr.FieldPath)
		} else if sr := e.ValueFrom.SecretKeyRef; sr != nil {
			val = w.secretValue(pod.Namespace, sr)
		} else {
			w.logf("env %s of container %s: only value, fieldRef and secretKeyRef are supported", e.Name, spec.Name)
		}
		set(e.Name, val)
	}
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, k+"="+vars[k])
	}
	return env, vars
}

func (w *podWorker) fieldValue(pod *v1.Pod, path string) string {
	w.mu.Lock()
	ip := w.ip
	w.mu.Unlock()
	switch path {
	case "metadata.name":
		return pod.Name
	case "metadata.namespace":
		return pod.Namespace
	case "metadata.uid":
		return string(pod.UID)
	case "spec.nodeName":
		return pod.Spec.NodeName
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName
	case "status.podIP", "status.podIPs":
		return ip
	case "status.hostIP", "status.hostIPs":
		return nodeIP
	}
	var key string
	if _, err := fmt.Sscanf(path, "metadata.labels['%s", &key); err == nil {
		return pod.Labels[trimKey(key)]
	}
	if _, err := fmt.Sscanf(path, "metadata.annotations['%s", &key); err == nil {
		return pod.Annotations[trimKey(key)]
	}
	return ""
}

func trimKey(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ']' || s[len(s)-1] == '\'') {
		s = s[:len(s)-1]
	}
	return s
}

// secretValue reads a secretKeyRef at container start. A missing Secret
// or key gives "" and a log line (the real kubelet would hold the
// container back with CreateContainerConfigError).
func (w *podWorker) secretValue(namespace string, ref *v1.SecretKeySelector) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := w.k.client.CoreV1().Secrets(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		w.logf("env from secret %s: %v", ref.Name, err)
		return ""
	}
	if v, ok := s.Data[ref.Key]; ok {
		return string(v)
	}
	return s.StringData[ref.Key]
}
