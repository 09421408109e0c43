package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
)

func TestPrepareAndTrigger(t *testing.T) {
	restartedAt := `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-01-02T03:04:05Z"}}}}}`
	tests := []struct {
		name         string
		objs         []runtime.Object
		action       Action
		service      string
		wantPrepErr  error
		wantErrText  string
		wantPatches  []string
		wantServices []string
	}{
		{
			name:         "restart patches the restartedAt annotation",
			objs:         []runtime.Object{deployment(), service("web", map[string]string{"app": "web"}), service("other", map[string]string{"app": "other"})},
			action:       Action{Kind: ActionRestart},
			wantPatches:  []string{"application/strategic-merge-patch+json " + restartedAt},
			wantServices: []string{"web"},
		},
		{
			name:   "set-image patches containers and init containers by name",
			objs:   []runtime.Object{deployment()},
			action: Action{Kind: ActionSetImage, Images: map[string]string{"app": "app:2", "migrate": "migrate:2"}},
			wantPatches: []string{"application/strategic-merge-patch+json " +
				`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:2"}],"initContainers":[{"name":"migrate","image":"migrate:2"}]}}}}`},
		},
		{
			name: "every service selecting the pods is found, sorted",
			objs: []runtime.Object{deployment(), service("web", map[string]string{"app": "web"}),
				service("front", map[string]string{"tier": "front"}), service("manual", nil)},
			action:       Action{Kind: ActionRestart},
			wantPatches:  []string{"application/strategic-merge-patch+json " + restartedAt},
			wantServices: []string{"front", "web"},
		},
		{
			name:        "set-image with an unknown container is invalid and patches nothing",
			objs:        []runtime.Object{deployment()},
			action:      Action{Kind: ActionSetImage, Images: map[string]string{"nginx": "nginx:2"}},
			wantPrepErr: ErrInvalid,
			wantErrText: `no container "nginx" (containers: app, migrate, sidecar)`,
		},
		{
			name:        "a missing deployment is not found and patches nothing",
			objs:        []runtime.Object{service("web", map[string]string{"app": "web"})},
			action:      Action{Kind: ActionRestart},
			wantPrepErr: ErrNotFound,
			wantErrText: "default/web",
		},
		{
			name:        "a missing named service is not found",
			objs:        []runtime.Object{deployment()},
			service:     "web",
			action:      Action{Kind: ActionRestart},
			wantPrepErr: ErrNotFound,
			wantErrText: "default/web",
		},
		{
			name:        "a named service selecting other pods is invalid",
			objs:        []runtime.Object{deployment(), service("api", map[string]string{"app": "api"})},
			service:     "api",
			action:      Action{Kind: ActionRestart},
			wantPrepErr: ErrInvalid,
			wantErrText: "app=api",
		},
		{
			name: "a paused deployment is invalid",
			objs: func() []runtime.Object {
				d := deployment()
				d.Spec.Paused = true
				return []runtime.Object{d}
			}(),
			action:      Action{Kind: ActionRestart},
			wantPrepErr: ErrInvalid,
			wantErrText: "paused",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, _ := newClient(t, tt.objs...)
			w := NewDriver(cs, Config{Namespace: ns, Deployment: "web", Service: tt.service, Action: tt.action,
				Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }})
			err := w.Prepare(context.Background())
			if tt.wantPrepErr != nil {
				if !errors.Is(err, tt.wantPrepErr) || !strings.Contains(err.Error(), tt.wantErrText) {
					t.Fatalf("Prepare = %v, want %v containing %q", err, tt.wantPrepErr, tt.wantErrText)
				}
				if err := w.Trigger(context.Background()); err == nil {
					t.Errorf("Trigger after a failed Prepare succeeded")
				}
				if p := patches(cs); len(p) > 0 {
					t.Errorf("patched after a failed Prepare: %q", p)
				}
				return
			}
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if got := w.Services(); !slices.Equal(got, tt.wantServices) {
				t.Errorf("Services = %q, want %q", got, tt.wantServices)
			}
			if p := patches(cs); len(p) > 0 {
				t.Fatalf("Prepare patched: %q", p)
			}
			if err := w.Trigger(context.Background()); err != nil {
				t.Fatalf("Trigger: %v", err)
			}
			if got := patches(cs); !slices.Equal(got, tt.wantPatches) {
				t.Errorf("patches:\n got %q\nwant %q", got, tt.wantPatches)
			}
			ev := w.Events()
			if len(ev) != 1 || ev[0].Type != RolloutTriggered || ev[0].Reason != string(tt.action.Kind) {
				t.Errorf("events = %+v, want one rollout-triggered", ev)
			}
		})
	}
}

func TestTriggerMapsAPIErrors(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	tests := []struct {
		name   string
		apiErr error
		want   error
	}{
		{name: "a forbidden patch wraps ErrForbidden", apiErr: apierrors.NewForbidden(gr, "web", errors.New("no")), want: ErrForbidden},
		{name: "a deployment deleted since Prepare wraps ErrNotFound", apiErr: apierrors.NewNotFound(gr, "web"), want: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, _ := newClient(t, deployment())
			w := NewDriver(cs, Config{Namespace: ns, Deployment: "web", Action: Action{Kind: ActionRestart}})
			if err := w.Prepare(context.Background()); err != nil {
				t.Fatal(err)
			}
			cs.PrependReactor("patch", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, tt.apiErr
			})
			err := w.Trigger(context.Background())
			if !errors.Is(err, tt.want) {
				t.Fatalf("Trigger = %v, want %v", err, tt.want)
			}
			var status apierrors.APIStatus
			if !errors.As(err, &status) {
				t.Errorf("Trigger = %v, want the API status kept in the chain", err)
			}
			if len(w.Events()) != 0 {
				t.Errorf("events after a failed trigger: %+v", w.Events())
			}
		})
	}
}
