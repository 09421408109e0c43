// Package front names what carries the load to a Service's pods (an ALB,
// an NLB, kube-proxy, an ingress controller, a Gateway) and infers it, when
// the user did not say, from the Service, the Ingresses and HTTPRoutes of
// its namespace and the targets. What a failure looks like depends on the
// front (FACTS.md §9), so the run records which one it assumed and why.
package front

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Name is one kind of front; Unknown ("") when it could not be told.
type Name string

// The fronts --front takes (Auto asks for inference). ALB is an ALB in IP
// mode (its targets are the pods); ALBInstance one in instance mode, the
// AWS Load Balancer Controller's default target type, whose targets are
// the nodes at the Service's NodePort, where kube-proxy picks the pod.
const (
	ALB         Name = "alb"
	ALBInstance Name = "alb-instance"
	NLB         Name = "nlb"
	KubeProxy   Name = "kube-proxy"
	Ingress     Name = "ingress"
	Gateway     Name = "gateway"
	Auto        Name = "auto"
	Unknown     Name = ""
)

// Names are the values --front accepts, in the order help lists them.
var Names = []Name{ALB, ALBInstance, NLB, KubeProxy, Ingress, Gateway, Auto}

// Parse reads a --front value; "" is Auto.
func Parse(s string) (Name, error) {
	if s == "" {
		return Auto, nil
	}
	n := Name(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Names, n) {
		return n, nil
	}
	return Unknown, fmt.Errorf("--front must be one of alb, alb-instance, nlb, kube-proxy, ingress, gateway or auto, got %q", s)
}

// Annotations and classes the inference reads.
const (
	labDeregisterLag = "lab.rollcheck.dev/lb-deregister-lag"
	awsLBType        = "service.beta.kubernetes.io/aws-load-balancer-type"
	albPrefix        = "alb.ingress.kubernetes.io/"
	albTargetType    = "alb.ingress.kubernetes.io/target-type"
	ingressClassAnn  = "kubernetes.io/ingress.class"
)

// HTTPRoutes is the Gateway API's HTTPRoute resource, read with the
// dynamic client so that rollcheck needs no Gateway API module and a
// cluster without its CRDs simply has none.
var HTTPRoutes = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// Request is what the inference looks at.
type Request struct {
	Namespace string
	// Services are the Services whose endpoints the run watches.
	Services []string
	// Targets are the load's URLs; HostHeader is -H "Host: NAME" ("" when
	// not given).
	Targets    []string
	HostHeader string
	// Attackers says the load comes from pods in the cluster.
	Attackers bool
}

// Infer tells the front from read-only lists of the namespace's Services,
// Ingresses and HTTPRoutes (dyn may be nil: no HTTPRoutes looked for), and
// says why. It returns Unknown with a why when nothing decides. A list that
// RBAC forbids is skipped and said in the why; other API errors are
// returned.
//
// A target at the Service's ClusterIP (or its name, from attacker pods)
// decides first: an in-cluster client reaches the pods through kube-proxy
// whatever balancer the Service also has. Then a route that names the
// load's host (an Ingress rule's host, an HTTPRoute's hostnames): an L7
// front picks the route by the host asked for, so the load goes through
// the front that serves that name, where a Service's annotation says only
// that a balancer exists. Then the lab's balancer, an AWS NLB, an ALB
// Ingress, an Ingress routing any host, an HTTPRoute for any host.
func Infer(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, r Request) (Name, string, error) {
	in := inference{Request: r, hosts: targetHosts(r.Targets, r.HostHeader)}
	list, err := client.CoreV1().Services(r.Namespace).List(ctx, metav1.ListOptions{})
	if err = in.listed("services", err); err != nil {
		return Unknown, "", err
	}
	if list != nil {
		for _, s := range list.Items {
			if slices.Contains(r.Services, s.Name) {
				in.svcs = append(in.svcs, s)
			}
		}
	}
	il, err := client.NetworkingV1().Ingresses(r.Namespace).List(ctx, metav1.ListOptions{})
	if err = in.listed("ingresses", err); err != nil {
		return Unknown, "", err
	}
	if il != nil {
		for _, ing := range il.Items {
			if backsAny(ing, r.Services) {
				in.ings = append(in.ings, ing)
			}
		}
	}
	if dyn != nil {
		routes, err := httpRoutes(ctx, dyn, r)
		if apierrors.IsNotFound(err) || isNoResource(err) {
			err = nil // no Gateway API CRDs: no HTTPRoute
		}
		if err = in.listed("httproutes", err); err != nil {
			return Unknown, "", err
		}
		in.routes = routes
	}
	name, why := in.decide()
	if name == Unknown && len(in.routes) > 0 {
		name, why = Gateway, fmt.Sprintf("HTTPRoute %s sends to the Service: a Gateway API front", in.routes[0].name)
	}
	if name == Unknown {
		why = "could not tell from the Service, Ingresses and HTTPRoutes: give --front"
	}
	if len(in.skipped) > 0 {
		why += " (not allowed to list " + strings.Join(in.skipped, ", ") + ")"
	}
	return name, why, nil
}

// inference is what Infer read.
type inference struct {
	Request
	hosts   []host
	svcs    []corev1.Service       // the watched Services
	ings    []networkingv1.Ingress // the Ingresses that send to them
	routes  []route                // the HTTPRoutes that send to them
	skipped []string               // the lists RBAC forbade
}

// route is an HTTPRoute that sends to one of the watched Services.
type route struct {
	name      string
	hostnames []string // spec.hostnames; none: any host
}

// listed notes a forbidden list as skipped and returns any other error.
func (in *inference) listed(resource string, err error) error {
	switch {
	case apierrors.IsForbidden(err):
		in.skipped = append(in.skipped, resource)
	case err != nil:
		return fmt.Errorf("listing %s in namespace %s: %w", resource, in.Namespace, err)
	}
	return nil
}

// decide applies the rules that need no HTTPRoute, in order.
func (in *inference) decide() (Name, string) {
	for _, h := range in.hosts {
		if h.header {
			continue
		}
		for _, s := range in.svcs {
			if slices.Contains(s.Spec.ClusterIPs, h.name) || s.Spec.ClusterIP == h.name {
				return KubeProxy, fmt.Sprintf("an in-cluster client to the ClusterIP of Service %s: kube-proxy", s.Name)
			}
		}
		if in.Attackers && serviceName(h.name, in.Namespace, in.Services) {
			return KubeProxy, fmt.Sprintf("an in-cluster client to the Service name %s: kube-proxy", h.name)
		}
	}
	if ing, host := in.routingIngress(true); ing != nil {
		if why := albIngress(*ing); why != "" {
			return in.albMode(*ing, why)
		}
		return Ingress, fmt.Sprintf("Ingress %s (class %s) routes host %s to the Service: the host the load asks for picks the route", ing.Name, classOrDefault(*ing), host)
	}
	if rt, host := in.namedRoute(); rt != "" {
		return Gateway, fmt.Sprintf("HTTPRoute %s routes host %s to the Service: a Gateway API front, and the host the load asks for picks the route", rt, host)
	}
	ing, host := in.routingIngress(false)
	for _, s := range in.svcs {
		if _, ok := s.Annotations[labDeregisterLag]; ok {
			name, why := ALB, fmt.Sprintf("Service %s has %s: the lab's ALB-like balancer", s.Name, labDeregisterLag)
			if instanceMode(s.Annotations[albTargetType]) {
				name, why = ALBInstance, why+fmt.Sprintf(" in instance mode (%s: instance): its targets are the nodes at the Service's NodePort, and kube-proxy picks the pod", albTargetType)
			}
			// The lab's Traefik fronts route the same Service for any
			// host: the cluster cannot tell which one the target is.
			if ing != nil {
				why += fmt.Sprintf("; Ingress %s also routes host %s to it: give --front ingress if the load goes through it", ing.Name, host)
			}
			if len(in.routes) > 0 {
				why += fmt.Sprintf("; HTTPRoute %s also routes to it: give --front gateway if the load goes through it", in.routes[0].name)
			}
			return name, why
		}
	}
	for _, s := range in.svcs {
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		if t := strings.ToLower(s.Annotations[awsLBType]); t == "nlb" || t == "external" || t == "nlb-ip" {
			return NLB, fmt.Sprintf("Service %s is a LoadBalancer with %s: %s", s.Name, awsLBType, t)
		}
	}
	for _, ing := range in.ings {
		if why := albIngress(ing); why != "" {
			return in.albMode(ing, why)
		}
	}
	if ing != nil {
		return Ingress, fmt.Sprintf("Ingress %s (class %s) routes host %s to the Service", ing.Name, classOrDefault(*ing), host)
	}
	return Unknown, ""
}

// albIngress says why ing is the AWS Load Balancer Controller's ("" when
// it is not).
func albIngress(ing networkingv1.Ingress) string {
	if class := ingressClass(ing); class == "alb" {
		return fmt.Sprintf("Ingress %s of class alb routes to the Service: the AWS Load Balancer Controller", ing.Name)
	}
	for k := range ing.Annotations {
		if strings.HasPrefix(k, albPrefix) {
			return fmt.Sprintf("Ingress %s has %s* annotations: the AWS Load Balancer Controller", ing.Name, albPrefix)
		}
	}
	return ""
}

// albMode tells an ALB Ingress's target type the way the AWS Load
// Balancer Controller reads it: the backend Service's
// alb.ingress.kubernetes.io/target-type first, then the Ingress's, and
// instance when neither sets it.
func (in *inference) albMode(ing networkingv1.Ingress, why string) (Name, string) {
	tt, from := ing.Annotations[albTargetType], "Ingress "+ing.Name
	for _, s := range in.svcs {
		if v, ok := s.Annotations[albTargetType]; ok && backsAny(ing, []string{s.Name}) {
			tt, from = v, "Service "+s.Name
			break
		}
	}
	switch {
	case strings.EqualFold(strings.TrimSpace(tt), "ip"):
		return ALB, why + fmt.Sprintf("; target type ip (%s): the pods are its targets", from)
	case strings.TrimSpace(tt) == "":
		return ALBInstance, why + "; no target type set, so instance, the controller's default: its targets are the nodes at the Service's NodePort, and kube-proxy picks the pod"
	case instanceMode(tt):
		return ALBInstance, why + fmt.Sprintf("; target type instance (%s): its targets are the nodes at the Service's NodePort, and kube-proxy picks the pod", from)
	default:
		return ALB, why + fmt.Sprintf("; target type %q (%s) is neither ip nor instance, which the controller refuses: give --front alb or alb-instance", strings.TrimSpace(tt), from)
	}
}

// instanceMode reports whether a Service's target-type annotation asks
// for instance mode.
func instanceMode(tt string) bool {
	return strings.EqualFold(strings.TrimSpace(tt), "instance")
}

func classOrDefault(ing networkingv1.Ingress) string {
	if class := ingressClass(ing); class != "" {
		return class
	}
	return "default"
}

// routingIngress is the first Ingress with a rule that routes one of the
// load's hosts to one of the Services, and that rule's host ("*" for any);
// named: only a rule that names a host.
func (in *inference) routingIngress(named bool) (*networkingv1.Ingress, string) {
	for i := range in.ings {
		for _, rule := range in.ings[i].Spec.Rules {
			if rule.HTTP == nil || named && rule.Host == "" || !hostMatches(rule.Host, in.hosts) || !routesTo(rule.HTTP.Paths, in.Services) {
				continue
			}
			if rule.Host == "" {
				return &in.ings[i], "*"
			}
			return &in.ings[i], rule.Host
		}
	}
	return nil, ""
}

// host is a host the load asks for: a target URL's, or the Host header's.
type host struct {
	name   string
	header bool
}

func targetHosts(targets []string, hostHeader string) []host {
	var out []host
	if h := hostOnly(hostHeader); h != "" {
		out = append(out, host{name: h, header: true})
	}
	for _, t := range targets {
		u, err := url.Parse(t)
		if err != nil {
			continue
		}
		if h := strings.TrimSuffix(strings.ToLower(u.Hostname()), "."); h != "" {
			out = append(out, host{name: h})
		}
	}
	return out
}

// hostOnly is a Host header's name without its port.
func hostOnly(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if name, _, err := net.SplitHostPort(h); err == nil {
		h = name
	}
	return strings.TrimSuffix(h, ".")
}

// namedRoute is the first HTTPRoute whose hostnames name one of the load's
// hosts, and that hostname ("" when none does).
func (in *inference) namedRoute() (string, string) {
	for _, rt := range in.routes {
		for _, hn := range rt.hostnames {
			if routeHostMatches(hn, in.hosts) {
				return rt.name, hn
			}
		}
	}
	return "", ""
}

// routeHostMatches reports whether an HTTPRoute's hostname matches one of
// hosts: exactly, or as "*.suffix", which the Gateway API matches against
// one label or more before the suffix.
func routeHostMatches(hostname string, hosts []host) bool {
	hostname = strings.ToLower(hostname)
	for _, h := range hosts {
		if h.name == hostname {
			return true
		}
		if suffix, ok := strings.CutPrefix(hostname, "*"); ok && strings.HasSuffix(h.name, suffix) && len(h.name) > len(suffix) {
			return true
		}
	}
	return false
}

// hostMatches reports whether an Ingress rule's host (exact, "*.suffix"
// wildcard of one label, or "" for any) matches one of hosts.
func hostMatches(rule string, hosts []host) bool {
	if rule == "" {
		return true
	}
	rule = strings.ToLower(rule)
	for _, h := range hosts {
		if h.name == rule {
			return true
		}
		if suffix, ok := strings.CutPrefix(rule, "*"); ok && strings.HasSuffix(h.name, suffix) &&
			!strings.Contains(strings.TrimSuffix(h.name, suffix), ".") {
			return true
		}
	}
	return false
}

func routesTo(paths []networkingv1.HTTPIngressPath, services []string) bool {
	for _, p := range paths {
		if p.Backend.Service != nil && slices.Contains(services, p.Backend.Service.Name) {
			return true
		}
	}
	return false
}

// backsAny reports whether ing sends to one of services, by a rule or its
// default backend.
func backsAny(ing networkingv1.Ingress, services []string) bool {
	if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil && slices.Contains(services, b.Service.Name) {
		return true
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP != nil && routesTo(rule.HTTP.Paths, services) {
			return true
		}
	}
	return false
}

func ingressClass(ing networkingv1.Ingress) string {
	if c := ing.Spec.IngressClassName; c != nil {
		return *c
	}
	return ing.Annotations[ingressClassAnn]
}

// httpRoutes returns the HTTPRoutes of the namespace whose backendRefs
// name one of the Services, in the API's order.
func httpRoutes(ctx context.Context, dyn dynamic.Interface, r Request) ([]route, error) {
	list, err := dyn.Resource(HTTPRoutes).Namespace(r.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []route
	for _, rt := range list.Items {
		if !routeBacksAny(rt, r) {
			continue
		}
		hostnames, _, _ := unstructured.NestedStringSlice(rt.Object, "spec", "hostnames")
		out = append(out, route{name: rt.GetName(), hostnames: hostnames})
	}
	return out, nil
}

// routeBacksAny reports whether an HTTPRoute's rules send to one of the
// Services.
func routeBacksAny(rt unstructured.Unstructured, r Request) bool {
	rules, _, _ := unstructured.NestedSlice(rt.Object, "spec", "rules")
	for _, rule := range rules {
		rm, ok := rule.(map[string]any)
		if !ok {
			continue
		}
		refs, _, _ := unstructured.NestedSlice(rm, "backendRefs")
		for _, ref := range refs {
			m, ok := ref.(map[string]any)
			if !ok {
				continue
			}
			kind, _, _ := unstructured.NestedString(m, "kind")
			group, _, _ := unstructured.NestedString(m, "group")
			ns, _, _ := unstructured.NestedString(m, "namespace")
			name, _, _ := unstructured.NestedString(m, "name")
			if (kind == "" || kind == "Service") && group == "" && (ns == "" || ns == r.Namespace) && slices.Contains(r.Services, name) {
				return true
			}
		}
	}
	return false
}

// isNoResource reports an error of a cluster that does not serve the
// resource at all (no CRD): the dynamic client's 404 is IsNotFound, a
// discovery-backed client's is a "no matches for kind" error.
func isNoResource(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no matches for")
}

// serviceName reports whether h names one of services as a client in the
// cluster would: NAME, NAME.NAMESPACE, NAME.NAMESPACE.svc or
// NAME.NAMESPACE.svc.cluster.local.
func serviceName(h, namespace string, services []string) bool {
	for _, s := range services {
		for _, n := range []string{s, s + "." + namespace, s + "." + namespace + ".svc", s + "." + namespace + ".svc.cluster.local"} {
			if h == n {
				return true
			}
		}
	}
	return false
}
