package check

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/front"
	"github.com/rollcheck/rollcheck/kubeproxy"
	"github.com/rollcheck/rollcheck/report"
)

// Values of Config.KubeProxyLags.
const (
	KubeProxyAuto = "auto"
	KubeProxyOn   = "on"
	KubeProxyOff  = "off"
)

// maxProxyNodes bounds the nodes whose kube-proxy a run follows; past it
// the polls slow down so that the API server gets at most about
// maxProxyNodes / kubeProxyEvery requests a second.
const (
	maxProxyNodes  = 20
	kubeProxyEvery = 200 * time.Millisecond
)

// proxyWatch follows every node's kube-proxy during the run.
type proxyWatch struct {
	w      *kubeproxy.Watcher
	cancel context.CancelFunc
	done   sync.WaitGroup
	why    string
}

// followsKubeProxy says whether to read the nodes' kube-proxies: asked
// for, or (auto) the front's requests go through kube-proxy on a node and
// the load says which node each entered through, so that when that node
// applied a change decides where they went. Without an entry node the
// lags explain no failure, and the polls (five a second per node through
// the API server) only load the cluster.
func followsKubeProxy(mode string, fr *report.Front, load attack.Config) bool {
	switch mode {
	case KubeProxyOn:
		return true
	case KubeProxyOff:
		return false
	}
	if fr == nil || (load.NodeHeader == "" && load.EntryNode == "") {
		return false
	}
	switch front.Name(fr.Name) {
	case front.KubeProxy, front.ALBInstance:
		return true
	}
	return false
}

// startProxyWatch lists the nodes and polls each one's kube-proxy metrics
// through the API server's node proxy until stop. A list it cannot read is
// a reason in the report, not an error: the lags are extra evidence.
func startProxyWatch(ctx context.Context, client kubernetes.Interface, now func() time.Time) *proxyWatch {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		// get on nodes/proxy reaches every kubelet's API too: grant it
		// only where the lags are worth it.
		return &proxyWatch{why: "no permission to list nodes (needs list on nodes and get on nodes/proxy)"}
	}
	if err != nil {
		return &proxyWatch{why: fmt.Sprintf("listing the nodes: %v", err)}
	}
	names := make([]string, 0, len(nodes.Items))
	for _, n := range nodes.Items {
		names = append(names, n.Name)
	}
	every := kubeProxyEvery
	if len(names) > maxProxyNodes {
		every = kubeProxyEvery * time.Duration(len(names)) / maxProxyNodes
	}
	rest := client.CoreV1().RESTClient()
	fetch := func(ctx context.Context, node string) ([]byte, error) {
		return rest.Get().Resource("nodes").Name(node + ":" + strconv.Itoa(kubeproxy.MetricsPort)).SubResource("proxy").Suffix("metrics").DoRaw(ctx)
	}
	pw := &proxyWatch{w: kubeproxy.New(fetch, names, every, now)}
	wctx, cancel := context.WithCancel(ctx)
	pw.cancel = cancel
	pw.done.Add(1)
	go func() {
		defer pw.done.Done()
		pw.w.Run(wctx)
	}()
	return pw
}

// stop ends the polls and returns what they saw.
func (pw *proxyWatch) stop() *report.KubeProxyInput {
	if pw == nil {
		return nil
	}
	if pw.w == nil {
		return &report.KubeProxyInput{Withheld: pw.why}
	}
	pw.cancel()
	pw.done.Wait()
	return &report.KubeProxyInput{Nodes: pw.w.Nodes()}
}
