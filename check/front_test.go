package check

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rollcheck/rollcheck/front"
	"github.com/rollcheck/rollcheck/report"
	"github.com/rollcheck/rollcheck/rollout"
)

// TestTheRunRecordsItsFront: a run infers the front from the Services it
// watches and says why; --front is taken as given, not inferred; neither
// changes anything in the cluster.
func TestTheRunRecordsItsFront(t *testing.T) {
	svc := service("web", web)
	svc.Annotations = map[string]string{"lab.rollcheck.dev/lb-deregister-lag": "1s"}
	class := "traefik"
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: networkingv1.IngressSpec{IngressClassName: &class}}
	for _, tt := range []struct {
		name  string
		given front.Name
		want  report.Front
	}{
		{"inferred from the Service's lab annotation", front.Auto, report.Front{Name: "alb", Inferred: true, Why: "Service web has lab.rollcheck.dev/lb-deregister-lag: the lab's ALB-like balancer"}},
		{"given with --front", front.KubeProxy, report.Front{Name: "kube-proxy"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster(t, "", deploy("web", 2, web), svc, ing)
			cfg := config(target(t, http.StatusOK))
			cfg.Action = rollout.Action{Kind: rollout.ActionWatch}
			cfg.WatchTimeout = 100 * time.Millisecond
			cfg.Front = tt.given
			in, err := Execute(context.Background(), Clients{Kube: c}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if in.Front == nil || *in.Front != tt.want {
				t.Errorf("front %+v, want %+v", in.Front, tt.want)
			}
			if ch := changes(c); len(ch) > 0 {
				t.Errorf("the cluster changed: %v", ch)
			}
		})
	}
}

// TestAnUnknownFrontSaysSo: a Service with nothing that tells its front,
// behind a target outside the cluster, is an unknown front that asks for
// --front.
func TestAnUnknownFrontSaysSo(t *testing.T) {
	c := cluster(t, "", deploy("web", 2, web), service("web", web))
	cfg := config(target(t, http.StatusOK))
	cfg.Action = rollout.Action{Kind: rollout.ActionWatch}
	cfg.WatchTimeout = 100 * time.Millisecond
	in, err := Execute(context.Background(), Clients{Kube: c}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if in.Front == nil || in.Front.Name != report.FrontUnknown || !in.Front.Inferred || !strings.Contains(in.Front.Why, "give --front") {
		t.Errorf("front %+v, want unknown asking for --front", in.Front)
	}
}
