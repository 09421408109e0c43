package rollout

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// onWorkload keeps the latest workload (Deployment, StatefulSet or
// DaemonSet), wakes Wait and records changes that matter to a rollout.
func (r *Recorder) onWorkload(obj any) {
	t := r.now()
	o, ok := obj.(object)
	if !ok || o.GetName() != r.name {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur
	r.cur = o
	r.notifyLocked()
	if old == nil || !statusChanged(old, o) {
		return
	}
	e := Event{
		Time:     t,
		Type:     DeploymentUpdated,
		Replicas: ptr(statusOf(o).Desired),
		Revision: revisionOf(o),
		Detail:   statusLine(o),
	}
	if d, ok := o.(*appsv1.Deployment); ok {
		if c := deploymentCondition(d, appsv1.DeploymentProgressing); c != nil {
			e.Reason = c.Reason
			e.ServerTime = serverTime(c.LastUpdateTime)
		}
	}
	r.recordLocked(e)
}

// deploymentChanged reports whether b differs from a in what a rollout
// follows, ignoring resyncs and unrelated status churn.
func deploymentChanged(a, b *appsv1.Deployment) bool {
	if a.Generation != b.Generation || desired(a) != desired(b) {
		return true
	}
	as, bs := a.Status, b.Status
	if as.ObservedGeneration != bs.ObservedGeneration || as.Replicas != bs.Replicas ||
		as.UpdatedReplicas != bs.UpdatedReplicas || as.ReadyReplicas != bs.ReadyReplicas ||
		as.AvailableReplicas != bs.AvailableReplicas {
		return true
	}
	return progressingReason(a) != progressingReason(b)
}

func progressingReason(d *appsv1.Deployment) string {
	if c := deploymentCondition(d, appsv1.DeploymentProgressing); c != nil {
		return c.Reason
	}
	return ""
}

func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

const revisionAnnotation = "deployment.kubernetes.io/revision"

// ownedByDeployment reports whether rs belongs to the watched Deployment.
func (r *Recorder) ownedByDeployment(meta metav1.Object) bool {
	ref := metav1.GetControllerOf(meta)
	if ref == nil || ref.Kind != "Deployment" || ref.Name != r.name {
		return false
	}
	// The UID pins the Deployment Prepare read; a fake or older object may
	// leave it empty.
	return r.spec.GetUID() == "" || ref.UID == "" || ref.UID == r.spec.GetUID()
}

// onReplicaSet records spec.replicas changes; a ReplicaSet that appears
// after the sync counts as scaled up from zero.
func (r *Recorder) onReplicaSet(obj any, initial bool) {
	t := r.now()
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok || !r.ownedByDeployment(rs) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.rsSeen[rs.Name]
	r.rsSeen[rs.Name] = rs
	if initial {
		return
	}
	var before int32
	if old != nil {
		before = replicas(old)
	}
	if old != nil && before == replicas(rs) {
		return
	}
	r.recordLocked(Event{
		Time:       t,
		Type:       ReplicaSetScaled,
		ReplicaSet: rs.Name,
		Revision:   rs.Annotations[revisionAnnotation],
		Replicas:   ptr(replicas(rs)),
		Detail:     fmt.Sprintf("%d -> %d", before, replicas(rs)),
	})
}

func (r *Recorder) onReplicaSetDelete(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	r.mu.Lock()
	delete(r.rsSeen, rs.Name)
	r.mu.Unlock()
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}
