package workload

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestReadStatefulSetAndDaemonSet(t *testing.T) {
	five, two := int32(5), int32(2)
	pct := intstr.FromString("40%")
	tests := []struct {
		name                      string
		w                         Deployment
		kind                      Kind
		path                      string
		replicas, surge, unavail  int
		partition                 int
		typ                       appsv1.DeploymentStrategyType
		policy                    appsv1.PodManagementPolicyType
		maxUnavailableSet, defRep bool
	}{
		{"a StatefulSet with nothing set replaces one pod at a time, OrderedReady", ReadStatefulSet(&appsv1.StatefulSet{}),
			KindStatefulSet, "spec.updateStrategy.rollingUpdate.maxUnavailable", 1, 0, 1, 0, appsv1.RollingUpdateDeploymentStrategyType, appsv1.OrderedReadyPodManagement, false, true},
		{"a StatefulSet's partition and maxUnavailable resolve against its replicas", ReadStatefulSet(&appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
			Replicas: &five, PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &two, MaxUnavailable: &pct}},
		}}), KindStatefulSet, "spec.updateStrategy.rollingUpdate.maxUnavailable", 5, 0, 2, 2, appsv1.RollingUpdateDeploymentStrategyType, appsv1.ParallelPodManagement, true, false},
		{"an OnDelete StatefulSet", ReadStatefulSet(&appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}}),
			KindStatefulSet, "spec.updateStrategy.rollingUpdate.maxUnavailable", 1, 0, 1, 0, OnDelete, appsv1.OrderedReadyPodManagement, false, true},
		{"a DaemonSet's replicas are the nodes it is scheduled on, maxSurge 0 by default", ReadDaemonSet(&appsv1.DaemonSet{Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 4}}),
			KindDaemonSet, "spec.updateStrategy.rollingUpdate.maxUnavailable", 4, 0, 1, 0, appsv1.RollingUpdateDeploymentStrategyType, "", false, false},
		{"a DaemonSet with maxSurge 40% of 5 nodes rounds up", ReadDaemonSet(&appsv1.DaemonSet{
			Spec:   appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: &pct}}},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 5}}),
			KindDaemonSet, "spec.updateStrategy.rollingUpdate.maxUnavailable", 5, 2, 1, 0, appsv1.RollingUpdateDeploymentStrategyType, "", false, false},
		{"a Deployment keeps spec.strategy", Read(&appsv1.Deployment{}),
			KindDeployment, "spec.strategy.rollingUpdate.maxUnavailable", 1, 1, 0, 0, appsv1.RollingUpdateDeploymentStrategyType, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, st := tt.w, tt.w.Strategy
			if w.Kind != tt.kind || w.StrategyField("rollingUpdate.maxUnavailable") != tt.path {
				t.Errorf("kind %s path %s, want %s %s", w.Kind, w.StrategyField("rollingUpdate.maxUnavailable"), tt.kind, tt.path)
			}
			if w.Replicas != tt.replicas || w.ReplicasDefaulted != tt.defRep || st.Surge != tt.surge || st.Unavailable != tt.unavail || st.Partition != tt.partition {
				t.Errorf("replicas %d (defaulted %v) surge %d unavailable %d partition %d; want %d (%v) %d %d %d",
					w.Replicas, w.ReplicasDefaulted, st.Surge, st.Unavailable, st.Partition, tt.replicas, tt.defRep, tt.surge, tt.unavail, tt.partition)
			}
			if st.Type != tt.typ || w.PodManagementPolicy != tt.policy || st.MaxUnavailableSet != tt.maxUnavailableSet {
				t.Errorf("type %s policy %q maxUnavailable set %v; want %s %q %v", st.Type, w.PodManagementPolicy, st.MaxUnavailableSet, tt.typ, tt.policy, tt.maxUnavailableSet)
			}
			if w.Kind != KindDeployment && (w.ProgressDeadline != 0 || st.MaxSurgeSet && w.Kind == KindStatefulSet) {
				t.Errorf("a %s with a progress deadline %s or a maxSurge", w.Kind, w.ProgressDeadline)
			}
		})
	}
}
