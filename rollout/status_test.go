package rollout

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// replicaSetOf is the ReplicaSet the Deployment controller makes for d's
// template: the template with the pod-template-hash label.
func replicaSetOf(d *appsv1.Deployment, name, hash string) *appsv1.ReplicaSet {
	ctrl := true
	t := *d.Spec.Template.DeepCopy()
	t.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, Labels: t.Labels, CreationTimestamp: serverNow,
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &ctrl}},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: t},
	}
}

// podOf is a pod rs controls, Ready or not.
func podOf(rs *appsv1.ReplicaSet, name string, ready bool) *corev1.Pod {
	p := pod(name, rs.Spec.Template.Labels)
	p.OwnerReferences[0].Name = rs.Name
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}}
	return p
}

// TestStatusFollowsTheRollout plays a restart of two replicas with maxSurge
// 1 through the fake API and reads Status after each change: Updated counts
// the pods of the new template from the moment the patch is answered, not
// the old status's "2 of 2".
func TestStatusFollowsTheRollout(t *testing.T) {
	ctx := context.Background()
	d := deployment()
	oldRS := replicaSetOf(d, "web-abc", "abc")
	old1, old2 := podOf(oldRS, "web-abc-1", true), podOf(oldRS, "web-abc-2", true)
	cs, watching := newClient(t, d, oldRS, old1, old2)
	w := startDriver(t, cs, watching)
	pods := cs.CoreV1().Pods(ns)

	type counts struct{ updated, ready, terminating int32 }
	status := func() counts {
		st := w.Status()
		return counts{st.Updated, st.Ready, st.Terminating}
	}
	if st := w.Status(); st.Triggered || st.Updated != 2 || st.Desired != 2 || st.Ready != 2 || st.Terminating != 0 {
		t.Fatalf("before the rollout: %+v, want 2 of 2 updated (the pods of the template found), not triggered", st)
	}
	if err := w.Trigger(ctx); err != nil {
		t.Fatal(err)
	}
	if st := w.Status(); !st.Triggered || st.Updated != 0 || st.Desired != 2 {
		t.Fatalf("right after the patch, before the informer has it: %+v, want 0 of 2 updated, triggered", st)
	}
	patched, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	newRS := replicaSetOf(patched, "web-def", "def")
	new1, new2 := podOf(newRS, "web-def-1", false), podOf(newRS, "web-def-2", false)
	terminating := func(p *corev1.Pod) func() error {
		return func() error {
			p = p.DeepCopy()
			now := serverNow
			p.DeletionTimestamp = &now
			_, err := pods.Update(ctx, p, metav1.UpdateOptions{})
			return err
		}
	}
	create := func(p *corev1.Pod) func() error {
		return func() error { _, err := pods.Create(ctx, p, metav1.CreateOptions{}); return err }
	}
	ready := func(p *corev1.Pod) func() error {
		return func() error {
			p = podOf(newRS, p.Name, true)
			_, err := pods.Update(ctx, p, metav1.UpdateOptions{})
			return err
		}
	}
	// A ready pod with the same labels that another controller owns.
	foreign := podOf(newRS, "other-1", true)
	foreign.OwnerReferences[0].Name = "other"
	steps := []struct {
		name   string
		change func() error
		want   counts
	}{
		{"the informer delivers the patched Deployment", func() error { return nil }, counts{0, 2, 0}},
		{"the new ReplicaSet appears without pods", func() error {
			_, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, newRS, metav1.CreateOptions{})
			return err
		}, counts{0, 2, 0}},
		{"a ready pod of another controller with the same labels counts for nothing", create(foreign), counts{0, 2, 0}},
		{"its first pod is created, not ready yet", create(new1), counts{1, 2, 0}},
		{"it becomes ready", ready(new1), counts{1, 3, 0}},
		{"an old pod is deleted: terminating, no longer counted ready", terminating(old1), counts{1, 2, 1}},
		{"the second new pod is created", create(new2), counts{2, 2, 1}},
		{"the first old pod is gone and the second deleted", func() error {
			if err := pods.Delete(ctx, old1.Name, metav1.DeleteOptions{}); err != nil {
				return err
			}
			return terminating(old2)()
		}, counts{2, 1, 1}},
		{"the second new pod becomes ready", ready(new2), counts{2, 2, 1}},
		{"a new pod is deleted: it no longer counts as updated", terminating(podOf(newRS, new2.Name, true)), counts{1, 1, 2}},
		{"the last old pod is gone", func() error { return pods.Delete(ctx, old2.Name, metav1.DeleteOptions{}) }, counts{1, 1, 1}},
	}
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		waitFor(t, s.name, func() bool { return status() == s.want })
	}
}

// TestUpdatedWaitsForTheControllerWithoutAReplicaSet: a StatefulSet's or
// DaemonSet's status (and a Deployment's whose new ReplicaSet is not seen)
// counts updated pods only once the controller has observed the spec.
func TestUpdatedWaitsForTheControllerWithoutAReplicaSet(t *testing.T) {
	sts := func(gen, observed int64) object {
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "db", Generation: gen},
			Spec:       appsv1.StatefulSetSpec{Replicas: ptr(int32(3))},
			Status:     appsv1.StatefulSetStatus{ObservedGeneration: observed, UpdatedReplicas: 3, ReadyReplicas: 3},
		}
	}
	ds := func(gen, observed int64) object {
		return &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: "agent", Generation: gen},
			Status:     appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3},
		}
	}
	dep := func(gen, observed int64) object {
		d := deployment()
		d.Generation, d.Status.ObservedGeneration = gen, observed
		return d
	}
	tests := []struct {
		name    string
		cur     object
		minGen  int64
		updated int32
	}{
		{"a StatefulSet whose status describes its spec counts its status", sts(2, 2), 0, 3},
		{"a StatefulSet whose new spec is not observed has none updated", sts(3, 2), 0, 0},
		{"a StatefulSet the informer shows older than the patch has none updated", sts(2, 2), 3, 0},
		{"a DaemonSet whose status describes its spec counts its status", ds(4, 4), 0, 3},
		{"a DaemonSet whose new spec is not observed has none updated", ds(5, 4), 0, 0},
		{"a Deployment without a ReplicaSet seen counts its observed status", dep(2, 2), 0, 2},
		{"a Deployment without a ReplicaSet seen and not observed has none updated", dep(3, 2), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecorder(nil, KindDeployment, ns, tt.cur.GetName(), nil)
			r.cur, r.minGen = tt.cur, tt.minGen
			if got := r.Status().Updated; got != tt.updated {
				t.Errorf("Updated = %d, want %d", got, tt.updated)
			}
		})
	}
}
