package rollout

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/rollcheck/rollcheck/workload"
)

// Kind is the kind of workload a Driver rolls out: every kind `kubectl
// rollout` knows. It is the workload model's one kind type.
type Kind = workload.Kind

// Kinds.
const (
	KindDeployment  = workload.KindDeployment
	KindStatefulSet = workload.KindStatefulSet
	KindDaemonSet   = workload.KindDaemonSet
)

// ParseWorkload accepts "NAME" (a Deployment) or "KIND/NAME" with KIND any
// of kubectl's spellings of deployment, statefulset or daemonset (also
// with the ".apps" group suffix), and returns the kind and NAME.
func ParseWorkload(s string) (Kind, string, error) {
	kind, name := KindDeployment, s
	if k, rest, ok := strings.Cut(s, "/"); ok {
		known, found := workload.ParseKind(k)
		if !found {
			return "", "", fmt.Errorf("workload %q: kind %q is not a Deployment, StatefulSet or DaemonSet: %w", s, k, ErrInvalid)
		}
		kind, name = known, rest
	}
	if name == "" {
		return "", "", fmt.Errorf("workload %q: empty name: %w", s, ErrInvalid)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", "", fmt.Errorf("workload %q: %s: %w", s, strings.Join(errs, "; "), ErrInvalid)
	}
	return kind, name, nil
}

// object is the watched workload: a *appsv1.Deployment, *appsv1.StatefulSet
// or *appsv1.DaemonSet. The functions below are the one place that tells
// the kinds apart.
type object interface {
	metav1.Object
}

// getObject reads the workload kind/name.
func getObject(ctx context.Context, client kubernetes.Interface, kind Kind, ns, name string) (object, error) {
	apps := client.AppsV1()
	switch kind.OrDefault() {
	case KindStatefulSet:
		return apps.StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	case KindDaemonSet:
		return apps.DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	}
	return apps.Deployments(ns).Get(ctx, name, metav1.GetOptions{})
}

// patchObject patches the workload kind/name.
func patchObject(ctx context.Context, client kubernetes.Interface, kind Kind, ns, name string, pt types.PatchType, body []byte, opts metav1.PatchOptions) (object, error) {
	apps := client.AppsV1()
	switch kind.OrDefault() {
	case KindStatefulSet:
		return apps.StatefulSets(ns).Patch(ctx, name, pt, body, opts)
	case KindDaemonSet:
		return apps.DaemonSets(ns).Patch(ctx, name, pt, body, opts)
	}
	return apps.Deployments(ns).Patch(ctx, name, pt, body, opts)
}

// templateOf is the workload's pod template.
func templateOf(o object) *corev1.PodTemplateSpec {
	switch o := o.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template
	case *appsv1.StatefulSet:
		return &o.Spec.Template
	case *appsv1.DaemonSet:
		return &o.Spec.Template
	}
	return &corev1.PodTemplateSpec{}
}

// selectorOf is the workload's pod selector.
func selectorOf(o object) *metav1.LabelSelector {
	switch o := o.(type) {
	case *appsv1.Deployment:
		return o.Spec.Selector
	case *appsv1.StatefulSet:
		return o.Spec.Selector
	case *appsv1.DaemonSet:
		return o.Spec.Selector
	}
	return nil
}

// revisionOf is the revision a status describes: a Deployment's revision
// annotation, a StatefulSet's updateRevision (its ControllerRevision). A
// DaemonSet's status names none.
func revisionOf(o object) string {
	switch o := o.(type) {
	case *appsv1.Deployment:
		return o.Annotations[revisionAnnotation]
	case *appsv1.StatefulSet:
		return o.Status.UpdateRevision
	}
	return ""
}

// refuseRollout says why no rollout of o can be started or followed: a
// paused Deployment, or an OnDelete update strategy, which replaces a pod
// only when someone deletes it. kubectl refuses both.
func refuseRollout(o object) error {
	switch o := o.(type) {
	case *appsv1.Deployment:
		if o.Spec.Paused {
			return fmt.Errorf("is paused (run kubectl rollout resume first): %w", ErrInvalid)
		}
	case *appsv1.StatefulSet:
		if o.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
			return fmt.Errorf("has spec.updateStrategy.type OnDelete: its controller replaces a pod only when someone deletes it, so nothing would roll (kubectl rollout status refuses it too); use RollingUpdate: %w", ErrInvalid)
		}
	case *appsv1.DaemonSet:
		if o.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
			return fmt.Errorf("has spec.updateStrategy.type OnDelete: its controller replaces a pod only when someone deletes it, so nothing would roll (kubectl rollout status refuses it too); use RollingUpdate: %w", ErrInvalid)
		}
	}
	return nil
}

// statusOf is the live counts of o for a progress line.
func statusOf(o object) Status {
	switch o := o.(type) {
	case *appsv1.Deployment:
		return Status{Desired: desired(o), Updated: o.Status.UpdatedReplicas, Ready: o.Status.ReadyReplicas, Available: o.Status.AvailableReplicas}
	case *appsv1.StatefulSet:
		return Status{Desired: stsReplicas(o), Updated: o.Status.UpdatedReplicas, Ready: o.Status.ReadyReplicas, Available: o.Status.AvailableReplicas}
	case *appsv1.DaemonSet:
		return Status{Desired: o.Status.DesiredNumberScheduled, Updated: o.Status.UpdatedNumberScheduled, Ready: o.Status.NumberReady, Available: o.Status.NumberAvailable}
	}
	return Status{}
}

// observedOf is the generation o's status describes.
func observedOf(o object) int64 {
	switch o := o.(type) {
	case *appsv1.Deployment:
		return o.Status.ObservedGeneration
	case *appsv1.StatefulSet:
		return o.Status.ObservedGeneration
	case *appsv1.DaemonSet:
		return o.Status.ObservedGeneration
	}
	return 0
}

// stateOf applies kubectl rollout status for o's kind.
func stateOf(o object, minGen int64) (done bool, failed, msg string) {
	switch o := o.(type) {
	case *appsv1.Deployment:
		return rolloutState(o, minGen)
	case *appsv1.StatefulSet:
		return statefulSetState(o, minGen)
	case *appsv1.DaemonSet:
		return daemonSetState(o, minGen)
	}
	return false, "", ""
}

// statusLine is what a workload update records: the counts a rollout
// follows.
func statusLine(o object) string {
	switch o := o.(type) {
	case *appsv1.Deployment:
		return fmt.Sprintf("generation %d observed %d replicas %d updated %d ready %d available %d",
			o.Generation, o.Status.ObservedGeneration, o.Status.Replicas,
			o.Status.UpdatedReplicas, o.Status.ReadyReplicas, o.Status.AvailableReplicas)
	case *appsv1.StatefulSet:
		return fmt.Sprintf("generation %d observed %d replicas %d updated %d ready %d available %d current revision %s update revision %s",
			o.Generation, o.Status.ObservedGeneration, o.Status.Replicas, o.Status.UpdatedReplicas,
			o.Status.ReadyReplicas, o.Status.AvailableReplicas, o.Status.CurrentRevision, o.Status.UpdateRevision)
	case *appsv1.DaemonSet:
		return fmt.Sprintf("generation %d observed %d desired %d scheduled %d updated %d ready %d available %d",
			o.Generation, o.Status.ObservedGeneration, o.Status.DesiredNumberScheduled, o.Status.CurrentNumberScheduled,
			o.Status.UpdatedNumberScheduled, o.Status.NumberReady, o.Status.NumberAvailable)
	}
	return ""
}

// generationStale: o's status does not describe its latest spec yet, or
// not the spec the Driver's action produced (minGen).
func generationStale(o object, observed, minGen int64) bool {
	return o.GetGeneration() < minGen || o.GetGeneration() > observed
}

// statefulSetState is kubectl's StatefulSetStatusViewer: the controller has
// observed the spec, every replica is ready, and (with a rollingUpdate,
// which the API server always sets) at least replicas - partition pods are
// at the update revision; without one, the current revision is the update
// revision.
func statefulSetState(s *appsv1.StatefulSet, minGen int64) (bool, string, string) {
	st := s.Status
	if st.ObservedGeneration == 0 || generationStale(s, st.ObservedGeneration, minGen) {
		return false, "", "waiting for statefulset spec update to be observed"
	}
	if s.Spec.Replicas != nil && st.ReadyReplicas < *s.Spec.Replicas {
		return false, "", fmt.Sprintf("waiting for %d pods to be ready", *s.Spec.Replicas-st.ReadyReplicas)
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if s.Spec.Replicas != nil && ru.Partition != nil {
			if want := *s.Spec.Replicas - *ru.Partition; st.UpdatedReplicas < want {
				return false, "", fmt.Sprintf("waiting for partitioned roll out to finish: %d out of %d new pods have been updated", st.UpdatedReplicas, want)
			}
		}
		return true, "", fmt.Sprintf("partitioned roll out complete: %d new pods have been updated", st.UpdatedReplicas)
	}
	if st.UpdateRevision != st.CurrentRevision {
		return false, "", fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s", st.UpdatedReplicas, st.UpdateRevision)
	}
	return true, "", fmt.Sprintf("statefulset rolling update complete %d pods at revision %s", st.CurrentReplicas, st.CurrentRevision)
}

// daemonSetState is kubectl's DaemonSetStatusViewer: the controller has
// observed the spec, and every node that should run a pod runs an updated
// one, and as many are available.
func daemonSetState(d *appsv1.DaemonSet, minGen int64) (bool, string, string) {
	st := d.Status
	if generationStale(d, st.ObservedGeneration, minGen) {
		return false, "", "waiting for daemon set spec update to be observed"
	}
	if st.UpdatedNumberScheduled < st.DesiredNumberScheduled {
		return false, "", fmt.Sprintf("waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated", d.Name, st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
	}
	if st.NumberAvailable < st.DesiredNumberScheduled {
		return false, "", fmt.Sprintf("waiting for daemon set %q rollout to finish: %d of %d updated pods are available", d.Name, st.NumberAvailable, st.DesiredNumberScheduled)
	}
	return true, "", fmt.Sprintf("daemon set %q successfully rolled out", d.Name)
}

func stsReplicas(s *appsv1.StatefulSet) int32 {
	if s.Spec.Replicas == nil {
		return 1
	}
	return *s.Spec.Replicas
}

// statusChanged reports whether b differs from a in what a rollout follows.
func statusChanged(a, b object) bool {
	if d1, ok := a.(*appsv1.Deployment); ok {
		if d2, ok := b.(*appsv1.Deployment); ok {
			return deploymentChanged(d1, d2)
		}
	}
	return a.GetGeneration() != b.GetGeneration() || statusLine(a) != statusLine(b)
}
