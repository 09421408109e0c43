package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// Traefik's access log (lab.json's traefik_access_log, up --ingress or
// --gateway) is the ingress and Gateway fronts' own record of every
// request: which backend server (a pod's IP:port) Traefik sent it to and
// what came of it. The tests compare rollcheck's attribution of failures
// with it, as they compare the measured routing lag with the ALB-like
// balancer's departures.

// traefikRequest is one line of Traefik's access log (JSON, written as each
// request ends; the lab's Traefik keeps the default fields and the
// X-Pod-Name header).
type traefikRequest struct {
	Start    time.Time     `json:"StartUTC"`
	Duration time.Duration `json:"Duration"` // nanoseconds in the log
	// RequestHost is the Host the client asked for, RouterName the
	// router that took it (NAME@kubernetesgateway for an HTTPRoute,
	// @kubernetes for an Ingress; none when no route matched).
	RequestHost string `json:"RequestHost"`
	RouterName  string `json:"RouterName"`
	// ServiceAddr is the backend server's IP:port (a pod's), ServiceURL
	// the same as a URL; both empty when Traefik sent it nowhere (no
	// route, no endpoint).
	ServiceAddr string `json:"ServiceAddr"`
	ServiceURL  string `json:"ServiceURL"`
	// OriginStatus is what the pod answered (0: no answer), and
	// DownstreamStatus what the client got (502 when the pod refused or
	// reset, 499 when the client gave up first).
	OriginStatus     int `json:"OriginStatus"`
	DownstreamStatus int `json:"DownstreamStatus"`
	// PodHeader is the app's X-Pod-Name on the answer, where it sent one.
	PodHeader string `json:"downstream_X-Pod-Name"`
}

// failed reports whether the client got no 2xx/3xx answer, the way rollcheck
// counts a failure: a 4xx/5xx of Traefik's or the pod's, or nothing (499:
// the client's timeout came first).
func (r traefikRequest) failed() bool {
	return r.DownstreamStatus < 200 || r.DownstreamStatus >= 400
}

// readTraefikAccessLog returns the requests of Traefik's access log for
// host (the Host header asked for) that started in [from, to].
func readTraefikAccessLog(t *testing.T, host string, from, to time.Time) []traefikRequest {
	t.Helper()
	if lab.traefikAccessLog == "" {
		t.Fatal("lab.json names no traefik_access_log (up --ingress or --gateway)")
	}
	f, err := os.Open(lab.traefikAccessLog)
	if err != nil {
		t.Fatalf("Traefik's access log: %v", err)
	}
	defer f.Close()
	var out []traefikRequest
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		var r traefikRequest
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s line %d: %v", lab.traefikAccessLog, n, err)
		}
		if r.RequestHost == host && !r.Start.Before(from) && !r.Start.After(to) {
			out = append(out, r)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", lab.traefikAccessLog, err)
	}
	return out
}

// traefikByPod counts requests (all, failed) by the pod they went to,
// from each request's backend address and the pod IPs seen (ips: IP →
// pods that had it). A request sent nowhere counts under "", one to an
// address no pod had under "?ADDR".
func traefikByPod(reqs []traefikRequest, ips map[string][]string) (all, failed map[string]int) {
	all, failed = map[string]int{}, map[string]int{}
	for _, r := range reqs {
		pod := traefikPod(r.ServiceAddr, ips)
		all[pod]++
		if r.failed() {
			failed[pod]++
		}
	}
	return all, failed
}

// traefikPod is the pod a backend address (IP:port) belongs to, from the
// pod IPs seen: "" for no address, "?ADDR" when no pod had the IP, "?A|B"
// when more than one did.
func traefikPod(addr string, ips map[string][]string) string {
	if addr == "" {
		return ""
	}
	ip := addr
	if i := strings.LastIndexByte(ip, ':'); i >= 0 {
		ip = ip[:i]
	}
	switch pods := ips[ip]; len(pods) {
	case 1:
		return pods[0]
	case 0:
		return "?" + addr
	default:
		return "?" + strings.Join(pods, "|")
	}
}

// podIPs records the IP of every pod of app=demo it sees from its start to
// stop: a rollout's old pods and their IPs leave the API, so they are
// recorded while they exist.
type podIPs struct {
	mu   sync.Mutex
	byIP map[string][]string
	stop chan struct{}
}

// watchPodIPs starts recording the demo pods' IPs; the test's cleanup stops
// it. It returns once the informer has listed the pods there are.
func watchPodIPs(t *testing.T) *podIPs {
	t.Helper()
	w := &podIPs{byIP: map[string][]string{}, stop: make(chan struct{})}
	factory := informers.NewSharedInformerFactoryWithOptions(lab.client, 0, informers.WithNamespace("default"),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = labels.Set{"app": "demo"}.String() }))
	inf := factory.Core().V1().Pods().Informer()
	record := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, ip := range p.Status.PodIPs {
			if !slices.Contains(w.byIP[ip.IP], p.Name) {
				w.byIP[ip.IP] = append(w.byIP[ip.IP], p.Name)
			}
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    record,
		UpdateFunc: func(_, obj any) { record(obj) },
	}); err != nil {
		t.Fatal(err)
	}
	factory.Start(w.stop)
	t.Cleanup(func() { close(w.stop); factory.Shutdown() })
	if !cache.WaitForCacheSync(w.stop, inf.HasSynced) {
		t.Fatal("the pod informer did not sync")
	}
	return w
}

// snapshot is IP → pods seen with it so far.
func (w *podIPs) snapshot() map[string][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string][]string, len(w.byIP))
	for ip, pods := range w.byIP {
		out[ip] = slices.Clone(pods)
	}
	return out
}

// describeCounts prints counts by pod in a stable order.
func describeCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		name := k
		if name == "" {
			name = "(no backend)"
		}
		parts = append(parts, fmt.Sprintf("%s=%d", name, m[k]))
	}
	return strings.Join(parts, " ")
}
