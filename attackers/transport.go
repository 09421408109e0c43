package attackers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// KubeTransport reaches pods through the API server: pod logs, and
// port-forward over SPDY to a listener on 127.0.0.1 only.
type KubeTransport struct {
	Kube kubernetes.Interface
	Rest *rest.Config
}

// Logs follows the attacker container's log.
func (t KubeTransport) Logs(ctx context.Context, namespace, pod string) (io.ReadCloser, error) {
	return t.Kube.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: Container, Follow: true}).Stream(ctx)
}

// Forward port-forwards an ephemeral 127.0.0.1 port to the pod's port.
func (t KubeTransport) Forward(ctx context.Context, namespace, pod string, port int) (string, func(), error) {
	if t.Rest == nil {
		return "", nil, errors.New("no REST config for port-forward")
	}
	rt, upgrader, err := spdy.RoundTripperFor(t.Rest)
	if err != nil {
		return "", nil, err
	}
	u := t.Kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		return "", nil, err
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	timer := time.NewTimer(15 * time.Second)
	defer timer.Stop()
	select {
	case <-ready:
	case err := <-done:
		if err == nil {
			err = errors.New("port-forward ended")
		}
		return "", nil, err
	case <-timer.C:
		close(stop)
		return "", nil, errors.New("port-forward not ready after 15s")
	case <-ctx.Done():
		close(stop)
		return "", nil, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		close(stop)
		return "", nil, fmt.Errorf("port-forward: no local port: %v", err)
	}
	var once sync.Once
	shut := func() { once.Do(func() { close(stop) }) }
	return "http://127.0.0.1:" + strconv.Itoa(int(ports[0].Local)), shut, nil
}
