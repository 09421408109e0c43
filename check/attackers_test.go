package check

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/rollcheck/rollcheck/attack"
)

// TestInClusterTargetsNeedAttackers: a Service DNS name or a Service's
// ClusterIP is refused without attackers (a ConfigError, before any
// change) and allowed with them; other targets pass.
func TestInClusterTargetsNeedAttackers(t *testing.T) {
	client := fake.NewClientset(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.12", ClusterIPs: []string{"10.96.0.12"}}})
	for _, c := range []struct {
		url, refused string
	}{
		{"http://web.shop.svc/", "Service name"},
		{"http://web.shop.svc.cluster.local:8080/x", "Service name"},
		{"http://10.96.0.12:8080/", "ClusterIP of service/web"},
		{"http://10.96.0.13/", ""},
		{"https://web.example.com/", ""},
	} {
		cfg := &Config{Namespace: "shop", Attack: attack.Config{Targets: []attack.Target{{URL: c.url}}}}
		err := inClusterTargets(t.Context(), client, cfg)
		var ce ConfigError
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("%s refused: %v", c.url, err)
		case c.refused != "" && (!errors.As(err, &ce) || !strings.Contains(err.Error(), c.refused) || !strings.Contains(err.Error(), "--attackers")):
			t.Errorf("%s: %v, want a ConfigError naming the %s and --attackers", c.url, err, c.refused)
		}
		cfg.InCluster = true
		if err := inClusterTargets(t.Context(), client, cfg); err != nil {
			t.Errorf("%s from a run inside the cluster: %v", c.url, err)
		}
		cfg.InCluster = false
		cfg.Attackers = &Attackers{Count: 2}
		if err := inClusterTargets(t.Context(), client, cfg); err != nil {
			t.Errorf("%s with attackers: %v", c.url, err)
		}
	}
}

// TestAttackerPermissionsInTheirNamespace: with attackers the run asks,
// in the attacker namespace, for what the fleet does.
func TestAttackerPermissionsInTheirNamespace(t *testing.T) {
	cfg := &Config{Namespace: "shop", Deployment: "web", Attackers: &Attackers{Count: 2, Namespace: "load"}}
	var got []string
	for _, p := range cfg.Permissions("web") {
		if p.Namespace == "load" {
			got = append(got, p.Verb+" "+p.Resource)
		}
	}
	want := "create configmaps,delete configmaps,create secrets,delete secrets,create pods,delete pods,get pods,list pods,watch pods,get pods/log,create pods/portforward"
	if strings.Join(got, ",") != want {
		t.Errorf("attacker permissions %v, want %s", got, want)
	}
}
