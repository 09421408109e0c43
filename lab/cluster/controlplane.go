package cluster

// The control plane's command lines: what up runs as etcd's, the API
// server's, the controller manager's and the scheduler's flags.

import (
	"strconv"
	"strings"
)

// serviceCIDR labels Service ClusterIPs; nothing ever dials them.
const serviceCIDR = "10.96.0.0/16"

// controllers are the kube-controller-manager controllers the lab runs. The
// node lifecycle controller is left out on purpose: it would taint and evict
// the process kubelet's pods whenever the kubelet misses a heartbeat.
var controllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"endpointslice-controller",
	"garbage-collector-controller",
	"namespace-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
	"pod-garbage-collector-controller",
	"disruption-controller",
	"job-controller",
	"statefulset-controller",
	"daemonset-controller",
	"ttl-after-finished-controller",
	// A nightly CronJob keeps its reports on a PersistentVolumeClaim.
	"cronjob-controller",
	"persistentvolume-binder-controller",
	"persistentvolume-protection-controller",
	"persistentvolumeclaim-protection-controller",
}

func apiserverArgs(pk *pki, pt ports, etcdAddr string) []string {
	return []string{
		"--etcd-servers=http://" + etcdAddr,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(pt.apiserver),
		"--tls-cert-file=" + pk.path(servingCertFile),
		"--tls-private-key-file=" + pk.path(servingKeyFile),
		"--kubelet-client-certificate=" + pk.path(kubeletClientCertFile),
		"--kubelet-client-key=" + pk.path(kubeletClientKeyFile),
		"--client-ca-file=" + pk.path(caCertFile),
		"--token-auth-file=" + pk.path(tokenFile),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pk.path(saPubFile),
		"--service-account-signing-key-file=" + pk.path(saKeyFile),
		"--service-cluster-ip-range=" + serviceCIDR,
		// The kubernetes Service's endpoint would be 127.0.0.1, which
		// Endpoints and EndpointSlices reject; the real node publishes its
		// own (publishAPIServer), the process node needs none.
		"--endpoint-reconciler-type=none",
		// TaintNodesByCondition taints every new Node not-ready until the
		// node lifecycle controller clears it; the lab does not run that
		// controller (see controllers), so the taint would stay for good.
		"--disable-admission-plugins=TaintNodesByCondition",
		"--enable-priority-and-fairness=false",
		// Reach the kubelet (logs, exec, port-forward) at the Node's
		// InternalIP, never by looking its name up in DNS: that lookup
		// would leave the machine.
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
	}
}

func controllerManagerArgs(pk *pki) []string {
	kubeconfig := pk.path(kubeconfigFile)
	return []string{
		"--kubeconfig", kubeconfig,
		"--authentication-kubeconfig", kubeconfig,
		"--authorization-kubeconfig", kubeconfig,
		"--controllers=" + strings.Join(controllers, ","),
		"--service-account-private-key-file=" + pk.path(saKeyFile),
		"--root-ca-file=" + pk.path(caCertFile),
		"--use-service-account-credentials=false",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--kube-api-qps=100",
		"--kube-api-burst=200",
	}
}

func schedulerArgs(kubeconfig string) []string {
	return []string{
		"--kubeconfig", kubeconfig,
		"--authentication-kubeconfig", kubeconfig,
		"--authorization-kubeconfig", kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=0",
	}
}
