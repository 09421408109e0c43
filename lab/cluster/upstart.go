package cluster

// up's start: the components in dependency order, each step's wait, and
// lab.json's contents.

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rollcheck/rollcheck/lab/node"
)

// startAll starts the components in dependency order and waits until the lab
// is ready. The node's part of each step is nd's.
func (o *upOptions) startAll(ctx context.Context, sup *supervisor, pk *pki, pt ports, nd nodeRunner) (*State, error) {
	kubeconfig := pk.path(kubeconfigFile)
	etcdAddr := fmt.Sprintf("127.0.0.1:%d", pt.etcdClient)
	state := o.newState(kubeconfig, etcdAddr, pt, nd)
	w := waiter{ctx: ctx, failed: sup.failed, logs: filepath.Join(o.dir, logsDir)}

	if err := nd.startRuntime(ctx, sup); err != nil {
		return nil, err
	}
	if err := sup.start(&child{name: "etcd", grace: 10 * time.Second, args: []string{
		"--dir", o.dir,
		"--listen-client", etcdAddr,
		"--listen-peer", fmt.Sprintf("127.0.0.1:%d", pt.etcdPeer),
	}}); err != nil {
		return nil, err
	}
	if err := w.until("etcd", func(context.Context) error { return dialable(etcdAddr) }); err != nil {
		return nil, err
	}
	apiArgs := append(apiserverArgs(pk, pt, etcdAddr), nd.apiserverArgs()...)
	if err := sup.start(&child{name: "apiserver", grace: 10 * time.Second, args: apiArgs}); err != nil {
		return nil, err
	}
	// The node's images load while the rest starts; up waits for them.
	imported := make(chan error, 1)
	go func() { imported <- nd.loadImages(ctx) }()

	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	restCfg.Timeout = 5 * time.Second
	restCfg.QPS, restCfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	if err := w.until("the API server's /readyz", func(ctx context.Context) error {
		return apiserverReady(ctx, cs)
	}); err != nil {
		return nil, err
	}

	// The Gateway API's resources exist before Traefik's Gateway provider
	// lists them; they get established while the rest starts.
	if len(o.gatewayCRDs) > 0 {
		if err := createCRDs(ctx, restCfg, o.gatewayCRDs); err != nil {
			return nil, err
		}
	}
	if err := sup.start(&child{name: "controller-manager", grace: 10 * time.Second, followsAPIServer: true, args: controllerManagerArgs(pk)}); err != nil {
		return nil, err
	}
	if err := sup.start(&child{name: "scheduler", grace: 10 * time.Second, followsAPIServer: true, args: schedulerArgs(kubeconfig)}); err != nil {
		return nil, err
	}
	if len(o.gatewayCRDs) > 0 {
		if err := w.until("the Gateway API's CRDs established", func(ctx context.Context) error {
			return crdsEstablished(ctx, restCfg, o.gatewayCRDs)
		}); err != nil {
			return nil, err
		}
	}
	if err := nd.startNode(sup); err != nil {
		return nil, err
	}
	if len(o.targets) > 0 || o.ingress || o.gateway {
		if err := sup.start(&child{name: "lb", grace: 10 * time.Second, args: o.lbCommandArgs(kubeconfig, nd)}); err != nil {
			return nil, err
		}
	}

	if err := w.until("the default ServiceAccount", func(ctx context.Context) error {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1GetOptions)
		return err
	}); err != nil {
		return nil, err
	}
	if err := nd.waitNode(w, cs); err != nil {
		return nil, err
	}
	select {
	case err := <-imported:
		if err != nil {
			return nil, err
		}
	case err := <-sup.failed:
		return nil, err
	case <-ctx.Done():
		return nil, fmt.Errorf("timed out importing the real node's images (logs in %s)", w.logs)
	}
	for _, t := range o.targets {
		if err := w.dialable("the load balancer", fmt.Sprintf("127.0.0.1:%d", t.port)); err != nil {
			return nil, err
		}
		if t.tlsPort != 0 {
			if err := w.dialable("the load balancer's TLS front", fmt.Sprintf("127.0.0.1:%d", t.tlsPort)); err != nil {
				return nil, err
			}
		}
	}
	if o.ingress {
		if err := w.dialable("the ingress front's forwarder", fmt.Sprintf("127.0.0.1:%d", o.ingressPort)); err != nil {
			return nil, err
		}
	}
	if o.gateway {
		if err := w.dialable("the Gateway API front's forwarder", fmt.Sprintf("127.0.0.1:%d", o.gatewayPort)); err != nil {
			return nil, err
		}
	}
	if err := nd.waitFronts(w); err != nil {
		return nil, err
	}
	return state, nil
}

// newState is lab.json as startAll fills it in; run adds up's own fields
// once the lab is ready.
func (o *upOptions) newState(kubeconfig, etcdAddr string, pt ports, nd nodeRunner) *State {
	state := &State{
		Dir:        o.dir,
		Kubeconfig: kubeconfig,
		LB:         map[string]string{},
		LBTLS:      map[string]string{},
		APIServer:  fmt.Sprintf("https://127.0.0.1:%d", pt.apiserver),
		Etcd:       "http://" + etcdAddr,
		NodeMode:   o.nodeMode,
	}
	nd.fillState(state)
	if o.ingress {
		state.IngressURL = fmt.Sprintf("http://127.0.0.1:%d", o.ingressPort)
	}
	if o.gateway {
		state.GatewayURL = fmt.Sprintf("http://127.0.0.1:%d", o.gatewayPort)
	}
	if o.ingress || o.gateway {
		state.TraefikAccessLog = filepath.Join(o.dir, logsDir, traefikAccessLog)
	}
	for _, t := range o.targets {
		u := fmt.Sprintf("http://127.0.0.1:%d", t.port)
		if t.kubeProxy {
			if state.KubeProxy == nil {
				state.KubeProxy = map[string]string{}
			}
			state.KubeProxy[t.key()] = u
			continue
		}
		if t.instance {
			if state.LBInstance == nil {
				state.LBInstance = map[string]string{}
			}
			state.LBInstance[t.service] = u
			continue
		}
		state.LB[t.service] = u
		if state.LBURL == "" {
			state.LBURL = u
		}
		tu := fmt.Sprintf("https://127.0.0.1:%d", t.tlsPort)
		state.LBTLS[t.service] = tu
		if state.LBTLSURL == "" {
			state.LBTLSURL = tu
			state.FrontCA = filepath.Join(o.dir, FrontCAFile)
		}
	}
	return state
}

// lbCommandArgs are lb's flags: a listener per --lb, --lb-instance and
// --kube-proxy target, an HTTPS listener per --lb target with the front's certificate,
// the Traefik fronts' forwarders, the lags given, the node's flags, then
// --lb-arg.
func (o *upOptions) lbCommandArgs(kubeconfig string, nd nodeRunner) []string {
	args := []string{"--kubeconfig", kubeconfig}
	for _, t := range o.targets {
		flag := "--service"
		switch {
		case t.kubeProxy:
			flag = "--cluster-ip-service"
		case t.instance:
			flag = "--instance-service"
		}
		value := fmt.Sprintf("%s=127.0.0.1:%d", t.service, t.port)
		if t.node != "" {
			value += "@" + node.NodeLayout(o.dir, t.nodeIndex).NetnsPath()
		}
		args = append(args, flag, value)
	}
	tlsFront := false
	for _, t := range o.targets {
		if t.tlsPort != 0 {
			args = append(args, "--tls-service", fmt.Sprintf("%s=127.0.0.1:%d", t.service, t.tlsPort))
			tlsFront = true
		}
	}
	if tlsFront {
		args = append(args, "--tls-cert", filepath.Join(o.dir, frontCertFile), "--tls-key", filepath.Join(o.dir, frontKeyFile))
	}
	if o.ingress {
		args = append(args, "--tcp-forward", fmt.Sprintf("127.0.0.1:%d=%s", o.ingressPort, traefikEntrypoint))
	}
	if o.gateway {
		args = append(args, "--tcp-forward", fmt.Sprintf("127.0.0.1:%d=%s", o.gatewayPort, gatewayEntrypoint))
	}
	if o.setRegisterLag {
		args = append(args, "--register-lag", o.registerLag.String())
	}
	if o.setDeregLag {
		args = append(args, "--deregister-lag", o.deregisterLag.String())
	}
	if o.setIdleTimeout {
		args = append(args, "--idle-timeout", o.idleTimeout.String())
	}
	args = append(args, nd.lbArgs()...)
	return append(args, o.lbArgs...)
}
