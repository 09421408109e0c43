package rollout

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// permission is one verb on one resource that a run needs.
type permission struct {
	verb, group, resource string
	named                 bool // about the Deployment itself, not the collection
}

// needed is every permission a run uses: Prepare gets the Deployment and
// finds its Services, Trigger patches it, Start lists and watches the rest.
var needed = []permission{
	{verb: "get", group: "apps", resource: "deployments", named: true},
	{verb: "patch", group: "apps", resource: "deployments", named: true},
	// The Deployment informer lists and watches with a name field selector,
	// which RBAC sees as list/watch on the collection.
	{verb: "list", group: "apps", resource: "deployments"},
	{verb: "watch", group: "apps", resource: "deployments"},
	{verb: "list", group: "apps", resource: "replicasets"},
	{verb: "watch", group: "apps", resource: "replicasets"},
	{verb: "list", resource: "pods"},
	{verb: "watch", resource: "pods"},
	{verb: "list", group: "discovery.k8s.io", resource: "endpointslices"},
	{verb: "watch", group: "discovery.k8s.io", resource: "endpointslices"},
	// Prepare lists Services only when none is named, and has already
	// failed with ErrForbidden if it could not; checking list here would
	// fail runs that name their Service.
	{verb: "get", resource: "services"},
}

// CheckAccess asks the API server, with SelfSubjectAccessReviews, whether the
// current user may do everything a run of rollcheck does to deployment in
// namespace. It returns an *AccessError naming each missing permission, or
// another error if the reviews themselves fail. Nothing is changed.
func CheckAccess(ctx context.Context, client kubernetes.Interface, namespace, deployment string) error {
	return checkAccess(ctx, client, namespace, deployment, needed)
}

// CheckWatchAccess is CheckAccess for a Deployment that the run only
// watches (both sides of a blue/green switch): everything but the patch.
func CheckWatchAccess(ctx context.Context, client kubernetes.Interface, namespace, deployment string) error {
	var watchOnly []permission
	for _, p := range needed {
		if p.verb != "patch" {
			watchOnly = append(watchOnly, p)
		}
	}
	return checkAccess(ctx, client, namespace, deployment, watchOnly)
}

// CheckServiceSwitch checks, as CheckAccess does, that the current user may
// patch Service service: the blue/green switch (--switch-service).
func CheckServiceSwitch(ctx context.Context, client kubernetes.Interface, namespace, service string) error {
	return checkAccess(ctx, client, namespace, service, []permission{
		{verb: "get", resource: "services", named: true},
		{verb: "patch", resource: "services", named: true},
	})
}

func checkAccess(ctx context.Context, client kubernetes.Interface, namespace, name string, needed []permission) error {
	var missing []string
	for _, p := range needed {
		attrs := &authorizationv1.ResourceAttributes{
			Namespace: namespace,
			Verb:      p.verb,
			Group:     p.group,
			Resource:  p.resource,
		}
		if p.named {
			attrs.Name = name
		}
		review := &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs},
		}
		res, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return apiError("checking access: create", "selfsubjectaccessreview", err)
		}
		if !res.Status.Allowed {
			missing = append(missing, p.describe(namespace, name))
		}
	}
	if len(missing) > 0 {
		return &AccessError{Missing: missing}
	}
	return nil
}

// describe phrases p as kubectl's Forbidden errors do:
// cannot patch deployments.apps "web" in namespace "default".
func (p permission) describe(namespace, name string) string {
	resource := p.resource
	if p.group != "" {
		resource += "." + p.group
	}
	if p.named {
		return fmt.Sprintf("cannot %s %s %q in namespace %q", p.verb, resource, name, namespace)
	}
	return fmt.Sprintf("cannot %s %s in namespace %q", p.verb, resource, namespace)
}
