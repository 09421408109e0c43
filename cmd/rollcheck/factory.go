package main

import (
	"fmt"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// factory is what every command gets from the root: the streams, the
// kubectl flags, and how to make a cluster client and read the clock. Tests
// build one with a fake client and a fixed clock.
type factory struct {
	genericiooptions.IOStreams
	flags *genericclioptions.ConfigFlags
	// kube returns the cluster client; nil means from the kubeconfig.
	kube func() (kubernetes.Interface, error)
	now  func() time.Time
}

func newFactory(streams genericiooptions.IOStreams) *factory {
	flags := genericclioptions.NewConfigFlags(true)
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		// A run starts with a burst of access reviews and lists; client-go's
		// default 5 requests/s would delay the start by seconds.
		if c.QPS == 0 {
			c.QPS, c.Burst = 50, 100
		}
		return c
	}
	return &factory{IOStreams: streams, flags: flags, now: time.Now}
}

// KubeClient returns the cluster client of the kubeconfig and the
// --kubeconfig/--context flags.
func (f *factory) KubeClient() (kubernetes.Interface, error) {
	if f.kube != nil {
		return f.kube()
	}
	cfg, err := f.flags.ToRESTConfig()
	if err != nil {
		return nil, configError{fmt.Errorf("loading kubeconfig: %w", err)}
	}
	return kubernetes.NewForConfig(cfg)
}

// DynamicClient returns the client that reads resources rollcheck has no
// types for (the Gateway API's HTTPRoutes); nil, with no error, when the
// cluster client is a test's (it then looks for none).
func (f *factory) DynamicClient() (dynamic.Interface, error) {
	if f.kube != nil {
		return nil, nil
	}
	cfg, err := f.flags.ToRESTConfig()
	if err != nil {
		return nil, configError{fmt.Errorf("loading kubeconfig: %w", err)}
	}
	return dynamic.NewForConfig(cfg)
}

// Namespace is the namespace of --namespace or the kubeconfig context, and
// whether one of them named it.
func (f *factory) Namespace() (string, bool, error) {
	ns, explicit, err := f.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", false, configError{fmt.Errorf("reading namespace from kubeconfig: %w", err)}
	}
	return ns, explicit, nil
}

// inCluster says rollcheck runs in a pod of a cluster: the ServiceAccount's
// token is mounted and the kubernetes Service's address is in the env, as
// client-go's in-cluster configuration reads them.
func inCluster() bool {
	_, err := rest.InClusterConfig()
	return err == nil
}
