package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/rollcheck/rollcheck/report"
)

// ingressHost is the host the first rule of scenarios/ingress.yaml's
// Ingress routes: the load sends it as the Host header.
const ingressHost = "ingress.rollcheck-lab.test"

// TestIngressFront (issue 25): the seed's to-be, loaded through the
// ingress front (Traefik v3.5.0, built from its Go module, in the node's
// namespace, configured by the standard Ingress of scenarios/ingress.yaml;
// only a plain TCP forwarder of ours between 127.0.0.1 and its
// entrypoint), passes with no failed request, rollcheck inferring the
// front from the Ingress rule that routes the load's host. Which pod gets
// a request and when a terminating one stops getting them is Traefik's own
// decision, from the Service's EndpointSlices. The as-is (an app that
// exits at once, no preStop) fails with a termination cause, and the pods
// rollcheck ties the failures to are those Traefik's access log sent the
// failed requests to.
func TestIngressFront(t *testing.T) {
	needRealNode(t)
	resetDemo(t)
	configureTraefik(t, "ingress.yaml")
	waitFrontServes(t, "the ingress front", lab.ingressURL, ingressHost, 60*time.Second)
	host := []string{"-H", "Host: " + ingressHost}

	r := toBePassesThrough(t, "ingress front", lab.ingressURL, host...)
	if f := r.report.Front; f == nil || f.Name != "ingress" || !f.Inferred {
		t.Errorf("to-be: front %+v, want ingress, inferred from the Ingress rule that routes host %s", f, ingressHost)
	}

	diagFreshDemo(t, manifest(t, "as-is.yaml"))
	waitFrontServes(t, "the ingress front", lab.ingressURL, ingressHost, 60*time.Second)
	ips := watchPodIPs(t)
	from := time.Now()
	r = rollcheck(t, append([]string{"-f", "../scenarios/as-is.scenario.yaml", "--target", lab.ingressURL + "/", "--baseline", "3s", "--settle", "3s"}, host...)...)
	to := time.Now()
	diagLog(t, "as-is through the ingress front", r)
	if f := r.report.Front; f == nil || f.Name != "ingress" || !f.Inferred {
		t.Errorf("as-is: front %+v, want ingress, inferred", f)
	}
	diagWantPrimary(t, r, string(report.TerminatingPodStillRouted), string(report.InflightCut), string(report.LBDeregistrationLag))
	if !hasRecommendation(r, "lifecycle.preStop") {
		t.Errorf("no preStop recommendation through an L7 front: %+v", r.report.Recommendations)
	}
	checkFailuresAgreeWithTraefik(t, r, readTraefikAccessLog(t, ingressHost, from, to), ips.snapshot())
}

// configureTraefik applies the scenarios/ file that configures one of
// Traefik's fronts, and deletes it when the test ends.
func configureTraefik(t *testing.T, file string) {
	t.Helper()
	kubectlApply(t, manifest(t, file))
	t.Cleanup(func() {
		kubectl(t, "delete", "-f", "../scenarios/"+file, "--ignore-not-found", "--wait", "--timeout", "30s")
	})
}

// waitFrontServes waits until a front (url, with the Host header host
// when not "") answers 200 from a current demo pod (named by the app's
// X-Pod-Name) 20 times in a row: Traefik has read the Ingress or the
// Gateway API objects and the Service's endpoints, or the balancer in
// instance mode has found its node targets healthy.
func waitFrontServes(t *testing.T, front, url, host string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	streak, first := 0, time.Now()
	last := "no answer yet"
	for streak < 20 {
		if ctx.Err() != nil {
			t.Fatalf("%s %s did not serve the demo pods within %s (last: %s; the lab's logs are in DIR/logs)", front, url, timeout, last)
		}
		current := map[string]bool{}
		pods, err := lab.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": "demo"}.String()})
		if err == nil {
			for _, p := range pods.Items {
				current[p.Name] = p.DeletionTimestamp == nil
			}
		}
		var resp *http.Response
		if err == nil {
			var req *http.Request
			if req, err = http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil); err == nil {
				req.Host = host
				resp, err = client.Do(req)
			}
		}
		switch {
		case err != nil:
			last, streak = err.Error(), 0
		case resp.StatusCode != http.StatusOK || !current[resp.Header.Get("X-Pod-Name")]:
			last, streak = resp.Status+" from pod "+resp.Header.Get("X-Pod-Name"), 0
		default:
			streak++
		}
		if resp != nil {
			resp.Body.Close()
		}
		if streak == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	t.Logf("%s served the demo pods %s after it was configured", front, time.Since(first).Round(10*time.Millisecond))
}
