package rollout

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
)

const webManifest = `# the pipeline's manifest
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, tier: front}
    spec:
      initContainers:
      - {name: migrate, image: "migrate:1"}
      containers:
      - {name: app, image: "app:2"}
      - {name: sidecar, image: "proxy:1"}
`

func TestParseManifest(t *testing.T) {
	m, err := ParseManifest("web.yaml", []byte(webManifest))
	if err != nil {
		t.Fatal(err)
	}
	body := m.JSON
	if m.Name != "web" || m.Kind != KindDeployment || !strings.Contains(string(body), `"app:2"`) {
		t.Errorf("parsed %s %s from %s", m.Kind, m.Name, body)
	}
	if !strings.HasPrefix(string(body), "{") {
		t.Errorf("apply body is not JSON: %.40s", body)
	}
	for name, tc := range map[string]struct{ in, want string }{
		"two objects":   {webManifest + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n", "holds 2 objects"},
		"empty":         {"# nothing\n", "holds 0 objects"},
		"not a deploy":  {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n", "is v1 Service"},
		"no name":       {"apiVersion: apps/v1\nkind: Deployment\nmetadata: {}\n", "no metadata.name"},
		"unknown field": {strings.Replace(webManifest, "replicas: 2", "replica: 2", 1), "not a valid Deployment"},
		"not yaml":      {"apiVersion: [\n", "web.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseManifest("web.yaml", []byte(tc.in))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want ErrInvalid with %q", err, tc.want)
			}
		})
	}
}

func TestApplyIsCheckedByDryRunThenApplied(t *testing.T) {
	m, err := ParseManifest("web.yaml", []byte(webManifest))
	body := m.JSON
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cs, _ := newClient(t, deployment())
	w := NewDriver(cs, Config{Namespace: ns, Deployment: "web", Action: Action{Kind: ActionApply, Manifest: body, Source: "web.yaml"}, NoServices: true})
	if err := w.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	applies := func() (dry, real int) {
		for _, a := range cs.Actions() {
			p, ok := a.(k8stesting.PatchActionImpl)
			if !ok || p.PatchType != types.ApplyPatchType {
				continue
			}
			if p.PatchOptions.FieldManager != FieldManager || p.PatchOptions.Force == nil || !*p.PatchOptions.Force {
				t.Errorf("apply options %+v", p.PatchOptions)
			}
			if len(p.PatchOptions.DryRun) > 0 {
				dry++
			} else {
				real++
			}
		}
		return
	}
	if dry, real := applies(); dry != 1 || real != 0 {
		t.Fatalf("after Prepare: %d dry-run and %d real applies, want 1 and 0", dry, real)
	}
	got, _ := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if got.Spec.Template.Spec.Containers[0].Image != "app:1" {
		t.Fatal("the dry run changed the deployment")
	}
	if err := w.Trigger(ctx); err != nil {
		t.Fatal(err)
	}
	if _, real := applies(); real != 1 {
		t.Fatalf("after Trigger: %d real applies, want 1", real)
	}
	got, _ = cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if got.Spec.Template.Spec.Containers[0].Image != "app:2" {
		t.Errorf("image after apply %s", got.Spec.Template.Spec.Containers[0].Image)
	}
	ev := w.Events()
	if len(ev) != 1 || ev[0].Type != RolloutTriggered || ev[0].Reason != "apply" || !strings.Contains(ev[0].Detail, "web.yaml") {
		t.Errorf("events %+v", ev)
	}
}

func TestApplyRefusedBeforeAnyChange(t *testing.T) {
	same := strings.Replace(webManifest, "app:2", "app:1", 1)
	for name, tc := range map[string]struct{ manifest, want string }{
		"no template change": {same, "starts no rollout"},
		"other deployment":   {strings.Replace(webManifest, "name: web", "name: api", 1), `is deployment "api", not "web"`},
		"other namespace":    {strings.Replace(webManifest, "namespace: default", "namespace: prod", 1), `in namespace "prod"`},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := ParseManifest("web.yaml", []byte(tc.manifest))
			body := m.JSON
			if err != nil {
				t.Fatal(err)
			}
			cs, _ := newClient(t, deployment())
			w := NewDriver(cs, Config{Namespace: ns, Deployment: "web", Action: Action{Kind: ActionApply, Manifest: body, Source: "web.yaml"}})
			err = w.Prepare(context.Background())
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Prepare: %v, want ErrInvalid with %q", err, tc.want)
			}
			got, _ := cs.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
			if got.Generation != 1 {
				t.Error("the deployment changed")
			}
		})
	}
}

func TestScaleTriggerRecordsReplicas(t *testing.T) {
	ctx := context.Background()
	cs, _ := newClient(t, deployment())
	w := NewDriver(cs, Config{Namespace: ns, Deployment: "web", Action: Action{Kind: ActionScale, Replicas: 1}, NoServices: true})
	if err := w.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.TriggerAction(ctx, Action{Kind: ActionScale, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	got, _ := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if *got.Spec.Replicas != 3 {
		t.Errorf("replicas %d, want 3", *got.Spec.Replicas)
	}
	if p := patches(cs); len(p) != 1 || !strings.Contains(p[0], `{"spec":{"replicas":3}}`) {
		t.Errorf("patches %q", p)
	}
	ev := w.Events()
	if len(ev) != 1 || ev[0].Detail != "replicas 2 -> 3" || ev[0].Deployment != "web" {
		t.Errorf("events %+v", ev)
	}
	if err := w.TriggerAction(ctx, Action{Kind: ActionScale, Replicas: -1}); err == nil {
		t.Error("negative replicas were sent")
	}
}

func TestParseCanarySteps(t *testing.T) {
	steps, err := ParseCanarySteps("3/1, 2/2,1/3,0/4")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps {
		got = append(got, s.String())
	}
	if strings.Join(got, ",") != "3/1,2/2,1/3,0/4" {
		t.Errorf("steps %v", got)
	}
	for _, bad := range []string{"", "3", "3/x", "-1/2", "0/0", "1/1,,2/2", "1/1/1"} {
		if _, err := ParseCanarySteps(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseCanarySteps(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestParseSelector(t *testing.T) {
	m, err := ParseSelector("color=green,tier=web")
	if err != nil || m["color"] != "green" || m["tier"] != "web" || len(m) != 2 {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"", "color", "color!=green", "a=b=c d"} {
		if _, err := ParseSelector(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseSelector(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	merged := MergeSelector(map[string]string{"app": "web", "color": "blue"}, map[string]string{"color": "green"})
	if SelectorString(merged) != "app=web,color=green" {
		t.Errorf("merged %s", SelectorString(merged))
	}
}

// TestSwitchService follows a blue/green switch on the fake: the Service's
// selector is patched, and the switch is complete once no endpoint of the
// old Deployment's pods is left, ready or not.
func TestSwitchService(t *testing.T) {
	blue := deployment()
	blue.Name, blue.UID = "blue", "uid-blue"
	blue.Spec.Selector.MatchLabels = map[string]string{"app": "web", "color": "blue"}
	blue.Spec.Template.Labels = map[string]string{"app": "web", "color": "blue"}
	svc := service("web", map[string]string{"app": "web", "color": "blue"})
	bluePod := pod("blue-1", map[string]string{"app": "web", "color": "blue"})
	s := slice("web-1", endpoint("blue-1", "198.51.100.1", true, true, false))
	cs, watching := newClient(t, blue, svc, bluePod, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := NewDriver(cs, Config{Namespace: ns, Deployment: "blue", Service: "web", Action: Action{Kind: ActionSwitch}, Now: newClock().Now})
	if err := w.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	waitWatching(t, watching, "deployments", "pods", "endpointslices")
	if err := w.SwitchService(ctx, map[string]string{"color": "green"}); err != nil {
		t.Fatal(err)
	}
	got, _ := cs.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if SelectorString(got.Spec.Selector) != "app=web,color=green" {
		t.Fatalf("selector after switch %v", got.Spec.Selector)
	}
	done := make(chan Outcome, 1)
	go func() { done <- w.WaitSwitched(ctx, 10*time.Second) }()
	// The EndpointSlice controller replaces the blue endpoint with a green
	// one that is not ready yet: the switch is complete all the same.
	s2 := s.DeepCopy()
	s2.Endpoints = []discoveryv1.Endpoint{endpoint("green-1", "198.51.100.2", false, false, false)}
	if _, err := cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, s2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var out Outcome
	select {
	case out = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("WaitSwitched did not return")
	}
	if !out.Completed || !out.Triggered {
		t.Fatalf("outcome %+v", out)
	}
	ev := w.Events()
	var triggered, complete bool
	for _, e := range ev {
		triggered = triggered || (e.Type == RolloutTriggered && strings.Contains(e.Detail, "app=web,color=blue -> app=web,color=green"))
		complete = complete || (e.Type == RolloutComplete && strings.Contains(e.Detail, "1 endpoints, 0 ready"))
	}
	if !triggered || !complete {
		t.Errorf("events %v", ev)
	}
}

// TestRepeatedRestartsInOneSecondStillRoll: --repeat restarts as fast as
// the rollouts complete; two restarts in the same second must still change
// the template, or the second would start no rollout.
func TestRepeatedRestartsInOneSecondStillRoll(t *testing.T) {
	ctx := context.Background()
	cs, _ := newClient(t, deployment())
	clock := newClock()
	w := NewDriver(cs, Config{Namespace: ns, Deployment: "web", Action: Action{Kind: ActionRestart}, NoServices: true, Now: clock.Now})
	if err := w.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	gens := []int64{}
	for i := 0; i < 2; i++ {
		if err := w.Trigger(ctx); err != nil {
			t.Fatal(err)
		}
		d, _ := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		gens = append(gens, d.Generation)
		// What the informer would deliver before the next trigger.
		w.mu.Lock()
		w.cur = d
		w.mu.Unlock()
	}
	if gens[1] != gens[0]+1 {
		t.Errorf("generations %v: the second restart in the same second changed nothing", gens)
	}
	ev := w.Events()
	if ev[0].Detail == ev[1].Detail || !strings.Contains(ev[1].Detail, ".") {
		t.Errorf("trigger details %q and %q", ev[0].Detail, ev[1].Detail)
	}
}
