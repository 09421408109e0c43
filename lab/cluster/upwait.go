package cluster

// What startAll waits for, and the checks it polls.

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// waiter polls the conditions of startAll until they hold, failing early if
// a component dies and at ctx's deadline.
type waiter struct {
	ctx    context.Context
	failed <-chan error // the supervisor's: a component exited during startup
	logs   string       // DIR/logs, named in a timeout
}

// until polls cond until it holds.
func (w waiter) until(what string, cond func(context.Context) error) error {
	var last error
	for {
		if last = cond(w.ctx); last == nil {
			return nil
		}
		select {
		case err := <-w.failed:
			return err
		case <-w.ctx.Done():
			return fmt.Errorf("timed out waiting for %s: %v (logs in %s)", what, last, w.logs)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// nodeReady waits until Node name is Ready.
func (w waiter) nodeReady(cs kubernetes.Interface, name string) error {
	return w.until("Node "+name+" Ready", func(ctx context.Context) error {
		return nodeReady(ctx, cs, name)
	})
}

// dialable waits until addr accepts connections; what names the listener.
func (w waiter) dialable(what, addr string) error {
	return w.until(what+" on "+addr, func(context.Context) error { return dialable(addr) })
}

// apiReadyFunc returns a check of the API server's /readyz through the
// admin kubeconfig (nil if the kubeconfig cannot be read: no recovery then).
func apiReadyFunc(kubeconfig string) func(context.Context) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil
	}
	return func(ctx context.Context) error { return apiserverReady(ctx, cs) }
}

func dialable(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

func apiserverReady(ctx context.Context, cs kubernetes.Interface) error {
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("/readyz: %w: %s", err, firstLine(body))
	}
	return nil
}

func nodeReady(ctx context.Context, cs kubernetes.Interface, name string) error {
	n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1GetOptions)
	if err != nil {
		return err
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("node %s Ready=%s: %s", name, c.Status, c.Message)
		}
	}
	return fmt.Errorf("node %s has no Ready condition", name)
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

var metav1GetOptions = metav1.GetOptions{}
