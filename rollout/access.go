package rollout

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Permission is one verb on one resource that a run needs. The permission
// check asks for exactly these, and `rollcheck rbac` prints a Role granting
// them, so the two read the same list.
type Permission struct {
	Verb, Group, Resource string
	// Subresource, such as eviction of pods ("" for the resource itself).
	Subresource string
	Namespace   string
	// Name is the object the permission is about (get or patch of the
	// Deployment); empty for the collection (list, watch, and the gets
	// that are not about one object).
	Name string
	// Named says the permission is about one object, even when Name is
	// not known yet (the Deployments of a switch are found at run time).
	Named bool
}

// Access names one of the lists of permissions a run checks.
type Access string

// The lists of permissions, one per role an object plays in a run.
const (
	// AccessRollout is a Deployment the run changes (restart, set-image,
	// apply, canary scale) and watches.
	AccessRollout Access = "rollout"
	// AccessWatch is a Deployment the run only watches: both sides of a
	// blue/green switch.
	AccessWatch Access = "watch"
	// AccessSwitch is the Service whose selector a blue/green switch patches.
	AccessSwitch Access = "switch"
	// AccessRoute is the HTTPRoute whose backendRef weights a weighted
	// canary patches.
	AccessRoute Access = "route"
)

// rolloutNeeds is every permission a run uses on a Deployment: Prepare gets
// it and finds its Services, Trigger patches it, Start lists and watches the
// rest.
var rolloutNeeds = []Permission{
	{Verb: "get", Group: "apps", Resource: "deployments", Named: true},
	{Verb: "patch", Group: "apps", Resource: "deployments", Named: true},
	// The Deployment informer lists and watches with a name field selector,
	// which RBAC sees as list/watch on the collection.
	{Verb: "list", Group: "apps", Resource: "deployments"},
	{Verb: "watch", Group: "apps", Resource: "deployments"},
	{Verb: "list", Group: "apps", Resource: "replicasets"},
	{Verb: "watch", Group: "apps", Resource: "replicasets"},
	{Verb: "list", Resource: "pods"},
	{Verb: "watch", Resource: "pods"},
	{Verb: "list", Group: "discovery.k8s.io", Resource: "endpointslices"},
	{Verb: "watch", Group: "discovery.k8s.io", Resource: "endpointslices"},
	// get for a Service named with --service; list because Prepare lists
	// them when none is named and the preflight checks (preflight.Fetch)
	// list them on every run, after this check.
	{Verb: "get", Resource: "services"},
	{Verb: "list", Resource: "services"},
}

// switchNeeds is what the blue/green switch does to its Service.
var switchNeeds = []Permission{
	{Verb: "get", Resource: "services", Named: true},
	{Verb: "patch", Resource: "services", Named: true},
}

// routeNeeds is what a weighted canary does to its HTTPRoute: Prepare and
// WaitAccepted get it, each step and the restore patch it.
var routeNeeds = []Permission{
	{Verb: "get", Group: "gateway.networking.k8s.io", Resource: "httproutes", Named: true},
	{Verb: "patch", Group: "gateway.networking.k8s.io", Resource: "httproutes", Named: true},
}

// DrainPermissions is what kubectl drain NODE does (k8s.io/kubectl's
// drain package): get and patch the node, list the pods on it in every
// namespace, get each and create its eviction, and, when the drain stops,
// list the PodDisruptionBudgets that refused.
func DrainPermissions(node string) []Permission {
	return []Permission{
		{Verb: "get", Resource: "nodes", Name: node, Named: true},
		{Verb: "patch", Resource: "nodes", Name: node, Named: true},
		{Verb: "list", Resource: "pods"},
		{Verb: "get", Resource: "pods"},
		{Verb: "create", Resource: "pods", Subresource: "eviction"},
		{Verb: "list", Group: "policy", Resource: "poddisruptionbudgets"},
	}
}

// Permissions returns the permissions that access needs in namespace on the
// objects names (Deployments for AccessRollout and AccessWatch, Services
// for AccessSwitch, HTTPRoutes for AccessRoute): the named ones once per name, those on the collection
// once. With no names, the named permissions come once with Name empty.
func Permissions(access Access, namespace string, names ...string) []Permission {
	return KindPermissions(KindDeployment, access, namespace, names...)
}

// kindNeeds is rolloutNeeds for a workload of kind: a StatefulSet or a
// DaemonSet in place of the Deployment, and no ReplicaSets (their
// controllers own pods directly).
func kindNeeds(kind Kind) []Permission {
	if kind.OrDefault() == KindDeployment {
		return rolloutNeeds
	}
	var out []Permission
	for _, p := range rolloutNeeds {
		switch p.Resource {
		case "replicasets":
			continue
		case "deployments":
			p.Resource = kind.Resource()
		}
		out = append(out, p)
	}
	return out
}

// KindPermissions is Permissions for workloads of kind (AccessRollout and
// AccessWatch; AccessSwitch and AccessRoute are about a Service and an
// HTTPRoute whatever the kind).
func KindPermissions(kind Kind, access Access, namespace string, names ...string) []Permission {
	var list []Permission
	switch access {
	case AccessRollout:
		list = kindNeeds(kind)
	case AccessWatch:
		for _, p := range kindNeeds(kind) {
			if p.Verb != "patch" {
				list = append(list, p)
			}
		}
	case AccessSwitch:
		list = switchNeeds
	case AccessRoute:
		list = routeNeeds
	}
	if len(names) == 0 {
		names = []string{""}
	}
	var out []Permission
	for i, name := range names {
		for _, p := range list {
			if !p.Named && i > 0 {
				continue
			}
			p.Namespace = namespace
			if p.Named {
				p.Name = name
			}
			out = append(out, p)
		}
	}
	return out
}

// CheckAccess asks the API server, with SelfSubjectAccessReviews, whether the
// current user may do everything a run of rollcheck does to deployment in
// namespace (Permissions of AccessRollout). It returns an *AccessError
// naming each missing permission, or another error if the reviews
// themselves fail. Nothing is changed.
func CheckAccess(ctx context.Context, client kubernetes.Interface, namespace, deployment string) error {
	return CheckPermissions(ctx, client, Permissions(AccessRollout, namespace, deployment))
}

// CheckWatchAccess is CheckAccess for a Deployment that the run only
// watches (both sides of a blue/green switch): everything but the patch.
func CheckWatchAccess(ctx context.Context, client kubernetes.Interface, namespace, deployment string) error {
	return CheckPermissions(ctx, client, Permissions(AccessWatch, namespace, deployment))
}

// CheckServiceSwitch checks, as CheckAccess does, that the current user may
// patch Service service: the blue/green switch (--switch-service).
func CheckServiceSwitch(ctx context.Context, client kubernetes.Interface, namespace, service string) error {
	return CheckPermissions(ctx, client, Permissions(AccessSwitch, namespace, service))
}

// CheckPermissions asks, with one SelfSubjectAccessReview each, for every
// permission in needed, and returns an *AccessError naming each one
// missing. Nothing is changed.
func CheckPermissions(ctx context.Context, client kubernetes.Interface, needed []Permission) error {
	var missing []string
	for _, p := range needed {
		attrs := &authorizationv1.ResourceAttributes{
			Namespace:   p.Namespace,
			Verb:        p.Verb,
			Group:       p.Group,
			Resource:    p.Resource,
			Subresource: p.Subresource,
			Name:        p.Name,
		}
		review := &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs},
		}
		res, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return apiError("checking access: create", "selfsubjectaccessreview", err)
		}
		if !res.Status.Allowed {
			missing = append(missing, p.String())
		}
	}
	if len(missing) > 0 {
		return &AccessError{Missing: missing}
	}
	return nil
}

// String phrases p as kubectl's Forbidden errors do:
// cannot patch deployments.apps "web" in namespace "default".
func (p Permission) String() string {
	resource := p.Resource
	if p.Subresource != "" {
		resource += "/" + p.Subresource
	}
	if p.Group != "" {
		resource += "." + p.Group
	}
	if p.Namespace == "" {
		// Cluster-scoped (a node), or in every namespace.
		if p.Name != "" {
			return fmt.Sprintf("cannot %s %s %q at the cluster scope", p.Verb, resource, p.Name)
		}
		return fmt.Sprintf("cannot %s %s at the cluster scope", p.Verb, resource)
	}
	if p.Name != "" {
		return fmt.Sprintf("cannot %s %s %q in namespace %q", p.Verb, resource, p.Name, p.Namespace)
	}
	return fmt.Sprintf("cannot %s %s in namespace %q", p.Verb, resource, p.Namespace)
}
