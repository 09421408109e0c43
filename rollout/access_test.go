package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// allowAllBut answers SelfSubjectAccessReviews: allowed unless deny says no.
func allowAllBut(cs *fake.Clientset, deny func(*authorizationv1.ResourceAttributes) bool) {
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		review := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		review.Status.Allowed = !deny(review.Spec.ResourceAttributes)
		return true, review, nil
	})
}

func TestCheckAccess(t *testing.T) {
	tests := []struct {
		name        string
		deny        func(*authorizationv1.ResourceAttributes) bool
		wantMissing []string
	}{
		{
			name: "full access passes",
			deny: func(*authorizationv1.ResourceAttributes) bool { return false },
		},
		{
			name: "a denied patch is named with resource, object and namespace",
			deny: func(a *authorizationv1.ResourceAttributes) bool {
				return a.Verb == "patch" && a.Resource == "deployments" && a.Group == "apps" && a.Name == "web"
			},
			wantMissing: []string{`cannot patch deployments.apps "web" in namespace "default"`},
		},
		{
			name: "denied watches are each listed",
			deny: func(a *authorizationv1.ResourceAttributes) bool {
				return a.Verb == "watch" && a.Resource != "deployments"
			},
			wantMissing: []string{
				`cannot watch replicasets.apps in namespace "default"`,
				`cannot watch pods in namespace "default"`,
				`cannot watch endpointslices.discovery.k8s.io in namespace "default"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset()
			allowAllBut(cs, tt.deny)
			err := CheckAccess(context.Background(), cs, ns, "web")
			if tt.wantMissing == nil {
				if err != nil {
					t.Fatalf("CheckAccess = %v, want nil", err)
				}
				return
			}
			var ae *AccessError
			if !errors.As(err, &ae) {
				t.Fatalf("CheckAccess = %v, want *AccessError", err)
			}
			if !slices.Equal(ae.Missing, tt.wantMissing) {
				t.Errorf("Missing = %q, want %q", ae.Missing, tt.wantMissing)
			}
		})
	}
}

func TestCheckAccessReturnsReviewFailures(t *testing.T) {
	// A review the API server cannot answer is not a missing permission.
	cs := fake.NewClientset()
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	err := CheckAccess(context.Background(), cs, ns, "web")
	var ae *AccessError
	if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("CheckAccess = %v, want the review error", err)
	}
}

func TestPermissions(t *testing.T) {
	key := func(ps []Permission) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Verb+" "+p.Resource+"."+p.Group+" "+p.Namespace+"/"+p.Name)
		}
		return out
	}
	t.Run("a changed Deployment needs get and patch on it and list and watch on the collections", func(t *testing.T) {
		got := key(Permissions(AccessRollout, "shop", "web"))
		for _, want := range []string{"get deployments.apps shop/web", "patch deployments.apps shop/web", "watch deployments.apps shop/", "list services. shop/"} {
			if !slices.Contains(got, want) {
				t.Errorf("Permissions lacks %q: %q", want, got)
			}
		}
	})
	t.Run("a watched Deployment needs no patch", func(t *testing.T) {
		for _, p := range Permissions(AccessWatch, "shop", "web") {
			if p.Verb == "patch" {
				t.Errorf("watch access asks for %s", p)
			}
		}
	})
	t.Run("two Deployments repeat the named permissions only", func(t *testing.T) {
		one, two := Permissions(AccessRollout, "shop", "a"), Permissions(AccessRollout, "shop", "a", "b")
		if want := len(one) + 2; len(two) != want {
			t.Errorf("%d permissions for two Deployments, want %d: %q", len(two), want, key(two))
		}
	})
	t.Run("without names the named permissions have no name but stay named", func(t *testing.T) {
		for _, p := range Permissions(AccessSwitch, "shop") {
			if p.Name != "" || !p.Named {
				t.Errorf("%+v: want Named without a Name", p)
			}
		}
	})
}

func TestCheckAccessAsksForPermissions(t *testing.T) {
	// The check and `rollcheck rbac` must read one list.
	cs := fake.NewClientset()
	var asked []Permission
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		r := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		a := r.Spec.ResourceAttributes
		asked = append(asked, Permission{Verb: a.Verb, Group: a.Group, Resource: a.Resource, Namespace: a.Namespace, Name: a.Name})
		r.Status.Allowed = true
		return true, r, nil
	})
	if err := CheckAccess(context.Background(), cs, ns, "web"); err != nil {
		t.Fatal(err)
	}
	if err := CheckServiceSwitch(context.Background(), cs, ns, "front"); err != nil {
		t.Fatal(err)
	}
	want := append(Permissions(AccessRollout, ns, "web"), Permissions(AccessSwitch, ns, "front")...)
	for i := range want {
		want[i].Named = false // not part of a review
	}
	if !slices.Equal(asked, want) {
		t.Errorf("reviews asked\n%v\nwant\n%v", asked, want)
	}
}
