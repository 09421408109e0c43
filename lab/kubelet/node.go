package kubelet

import (
	"context"
	"fmt"
	"runtime"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

const (
	kubeletVersion = "v1.35.4"
	leaseNamespace = "kube-node-lease"
	leaseDuration  = 40 // seconds, as the kubelet's default
)

// registerNode creates or updates the Node, retrying until the API server
// answers or ctx is done. The EndpointSlice controller skips pods whose Node
// does not exist, so this runs before any pod is started.
func (k *Kubelet) registerNode(ctx context.Context) error {
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		if err := k.tryRegisterNode(ctx); err != nil {
			k.cfg.Logf("register node %s: %v (retrying)", k.cfg.NodeName, err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("register node %s: %w", k.cfg.NodeName, err)
	}
	k.cfg.Logf("node %s registered (InternalIP %s)", k.cfg.NodeName, nodeIP)
	return nil
}

func (k *Kubelet) tryRegisterNode(ctx context.Context) error {
	nodes := k.client.CoreV1().Nodes()
	want := k.desiredNode()
	_, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// Labels, pod CIDR (immutable once set) and taints: the admission plugin
	// TaintNodesByCondition adds node.kubernetes.io/not-ready on create; we
	// are ready, so drop it (and a stale unreachable taint) at once.
	err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		n, err := nodes.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		changed := false
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		for key, val := range want.Labels {
			if n.Labels[key] != val {
				n.Labels[key] = val
				changed = true
			}
		}
		if n.Spec.PodCIDR == "" {
			n.Spec.PodCIDR, n.Spec.PodCIDRs = want.Spec.PodCIDR, want.Spec.PodCIDRs
			changed = true
		}
		var taints []v1.Taint
		for _, t := range n.Spec.Taints {
			if t.Key == v1.TaintNodeNotReady || t.Key == v1.TaintNodeUnreachable {
				changed = true
				continue
			}
			taints = append(taints, t)
		}
		n.Spec.Taints = taints
		if !changed {
			return nil
		}
		_, err = nodes.Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return err
	}
	return k.updateNodeStatus(ctx)
}

func (k *Kubelet) desiredNode() *v1.Node {
	q := resource.MustParse
	res := v1.ResourceList{
		v1.ResourceCPU:              q("16"),
		v1.ResourceMemory:           q("64Gi"),
		v1.ResourcePods:             q("110"),
		v1.ResourceEphemeralStorage: q("100Gi"),
	}
	cidr := k.cfg.PodCIDR.Masked().String()
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: k.cfg.NodeName,
			Labels: map[string]string{
				"kubernetes.io/hostname": k.cfg.NodeName,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     runtime.GOARCH,
				"beta.kubernetes.io/os":  "linux",
				"rollcheck.dev/lab":      "true",
			},
		},
		Spec: v1.NodeSpec{PodCIDR: cidr, PodCIDRs: []string{cidr}, Taints: k.cfg.RegisterTaints},
		Status: v1.NodeStatus{
			Capacity:        res,
			Allocatable:     res.DeepCopy(),
			Phase:           v1.NodeRunning,
			DaemonEndpoints: k.desiredEndpoints(),
			Conditions:      k.nodeConditions(nil, metav1.Now().Rfc3339Copy()),
			Addresses: []v1.NodeAddress{
				{Type: v1.NodeInternalIP, Address: nodeIP},
				{Type: v1.NodeHostName, Address: k.cfg.NodeName},
			},
			NodeInfo: v1.NodeSystemInfo{
				KubeletVersion:          kubeletVersion,
				OperatingSystem:         "linux",
				Architecture:            runtime.GOARCH,
				ContainerRuntimeVersion: "lab://" + kubeletVersion,
				OSImage:                 "rollcheck lab",
				KernelVersion:           "lab",
			},
		},
	}
	for key, val := range k.cfg.NodeLabels {
		n.Labels[key] = val
	}
	return n
}

// nodeConditions returns healthy conditions, keeping transition times of
// conditions that already had the same status.
func (k *Kubelet) nodeConditions(old []v1.NodeCondition, now metav1.Time) []v1.NodeCondition {
	mk := func(t v1.NodeConditionType, s v1.ConditionStatus, reason, msg string) v1.NodeCondition {
		c := v1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
		for _, o := range old {
			if o.Type == t && o.Status == s {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		return c
	}
	return []v1.NodeCondition{
		mk(v1.NodeMemoryPressure, v1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		mk(v1.NodeDiskPressure, v1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		mk(v1.NodePIDPressure, v1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		mk(v1.NodeReady, v1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
	}
}

// updateNodeStatus writes capacity, addresses and fresh Ready heartbeats.
func (k *Kubelet) updateNodeStatus(ctx context.Context) error {
	nodes := k.client.CoreV1().Nodes()
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		n, err := nodes.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := k.desiredNode()
		want.Status.Conditions = k.nodeConditions(n.Status.Conditions, metav1.Now().Rfc3339Copy())
		n.Status = want.Status
		_, err = nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

// heartbeat renews the node Lease and the Ready condition until ctx is done.
func (k *Kubelet) heartbeat(ctx context.Context) {
	beat := func() {
		if err := k.renewLease(ctx); err != nil && ctx.Err() == nil {
			k.cfg.Logf("renew node lease: %v", err)
		}
		if err := k.updateNodeStatus(ctx); err != nil && ctx.Err() == nil {
			if apierrors.IsNotFound(err) {
				// Someone deleted our Node: register again.
				err = k.tryRegisterNode(ctx)
			}
			if err != nil && ctx.Err() == nil {
				k.cfg.Logf("update node status: %v", err)
			}
		}
	}
	beat()
	t := time.NewTicker(k.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			beat()
		}
	}
}

func (k *Kubelet) renewLease(ctx context.Context) error {
	leases := k.client.CoordinationV1().Leases(leaseNamespace)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Namespace: leaseNamespace},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(k.cfg.NodeName),
				LeaseDurationSeconds: ptr.To[int32](leaseDuration),
				RenewTime:            &now,
			},
		}
		if n, err := k.client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{}); err == nil {
			l.OwnerReferences = []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID,
			}}
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.HolderIdentity = ptr.To(k.cfg.NodeName)
	l.Spec.LeaseDurationSeconds = ptr.To[int32](leaseDuration)
	l.Spec.RenewTime = &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}
