package workload

import (
	"slices"
	"strings"
)

// Kind is a workload's kind, lower case as kubectl spells its resource
// (deployment, statefulset, daemonset): the one spelling of a kind in the
// project. The run report's JSON and a Driver's object reference carry it
// as it is; Title is the API's spelling. "" reads as a Deployment.
type Kind string

// Kinds.
const (
	KindDeployment  Kind = "deployment"
	KindStatefulSet Kind = "statefulset"
	KindDaemonSet   Kind = "daemonset"
)

// kindInfo is what tells one kind from another outside its own reader
// (Read, ReadStatefulSet, ReadDaemonSet): a new kind adds a row here and a
// reader.
type kindInfo struct {
	// title is the kind as the API spells it.
	title string
	// aliases are the other spellings kubectl takes for the resource.
	aliases []string
	// strategyPath is the field path of the update strategy.
	strategyPath string
	// progressDeadline: the kind has spec.progressDeadlineSeconds
	// (DefaultProgressDeadline when unset).
	progressDeadline bool
}

var kinds = map[Kind]kindInfo{
	KindDeployment:  {title: "Deployment", aliases: []string{"deployments", "deploy"}, strategyPath: "spec.strategy", progressDeadline: true},
	KindStatefulSet: {title: "StatefulSet", aliases: []string{"statefulsets", "sts"}, strategyPath: "spec.updateStrategy"},
	KindDaemonSet:   {title: "DaemonSet", aliases: []string{"daemonsets", "ds"}, strategyPath: "spec.updateStrategy"},
}

// OrDefault is k, or KindDeployment when k is unset.
func (k Kind) OrDefault() Kind {
	if k == "" {
		return KindDeployment
	}
	return k
}

func (k Kind) info() kindInfo { return kinds[k.OrDefault()] }

// Title is the kind as the API spells it: Deployment, StatefulSet,
// DaemonSet.
func (k Kind) Title() string { return k.info().title }

// Resource is the kind's API resource (in group apps), for RBAC.
func (k Kind) Resource() string { return string(k.OrDefault()) + "s" }

// Ref names the object as kubectl does: kind/name.
func (k Kind) Ref(name string) string { return string(k.OrDefault()) + "/" + name }

// ParseKind reads any of kubectl's spellings of a workload resource
// (deployment, deployments, deploy, sts, ds, ...; any case, with or
// without the ".apps" group suffix).
func ParseKind(s string) (Kind, bool) {
	s = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".apps")
	for k, info := range kinds {
		if s == string(k) || slices.Contains(info.aliases, s) {
			return k, true
		}
	}
	return "", false
}
