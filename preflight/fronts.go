package preflight

import (
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Annotations and labels the rules read.
const (
	albTargetType       = "alb.ingress.kubernetes.io/target-type"
	albTGAttributes     = "alb.ingress.kubernetes.io/target-group-attributes"
	ingressClassAnn     = "kubernetes.io/ingress.class"
	awsLBType           = "service.beta.kubernetes.io/aws-load-balancer-type"
	awsNLBTargetType    = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
	awsTGAttributes     = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"
	awsPrefix           = "service.beta.kubernetes.io/aws-load-balancer-"
	clbDrainingEnabled  = "service.beta.kubernetes.io/aws-load-balancer-connection-draining-enabled"
	clbDrainingTimeout  = "service.beta.kubernetes.io/aws-load-balancer-connection-draining-timeout"
	readinessGateInject = "elbv2.k8s.aws/pod-readiness-gate-inject"
	readinessGatePrefix = "target-health.elbv2.k8s.aws"
	deregistrationKey   = "deregistration_delay.timeout_seconds"
	// labDeregisterLag is read by the rollcheck lab's load balancer: how long
	// it keeps routing to a pod after the pod leaves the endpoints.
	labDeregisterLag = "lab.rollcheck.dev/lb-deregister-lag"
)

// frontKind names what routes traffic to the pods.
type frontKind string

const (
	kubeProxy    frontKind = "kube-proxy"
	ingressProxy frontKind = "ingress controller"
	alb          frontKind = "AWS ALB"
	nlb          frontKind = "AWS NLB"
	clb          frontKind = "AWS Classic ELB"
	cloudLB      frontKind = "cloud load balancer"
	labLB        frontKind = "lab load balancer"
)

// front is one hop that routes to the pods and needs time to stop routing
// to a deleted one.
type front struct {
	kind frontKind
	obj  string // the object that configures it: service/NAME or ingress/NAME
	svc  *corev1.Service
	ing  *networkingv1.Ingress
	// ip is true when the load balancer targets pod IPs (AWS target type ip).
	ip bool
	// lag is the expected time from pod deletion until the front stops
	// sending new requests; exact when lagKnown (the lab's annotation),
	// else the typical value from FACTS.md.
	lag      time.Duration
	lagKnown bool
	// awsHint is false for a LoadBalancer Service taken for a Classic ELB
	// only because nothing says otherwise.
	awsHint bool
}

// Typical lags from pod deletion to "no new requests" (FACTS.md 3, 4):
// kube-proxy programs rules within its 1 s minSyncPeriod; an ALB keeps
// routing 2-20 s, typically 10-17 s.
const (
	proxyLag = 1 * time.Second
	awsLag   = 15 * time.Second
)

// load reports whether f is a load balancer outside the cluster network
// (rather than kube-proxy alone).
func (f front) load() bool { return f.kind != kubeProxy }

// findFronts derives the fronts from the Services and Ingresses in front of
// the Deployment.
func findFronts(t *target) []front {
	var out []front
	for i := range t.services {
		s := &t.services[i]
		obj := "service/" + s.Name
		out = append(out, front{kind: kubeProxy, obj: obj, svc: s, lag: proxyLag})
		if v, ok := s.Annotations[labDeregisterLag]; ok {
			if d, err := time.ParseDuration(strings.TrimSpace(v)); err == nil && d >= 0 {
				out = append(out, front{kind: labLB, obj: obj, svc: s, lag: d, lagKnown: true})
			}
		}
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		lbType := strings.ToLower(s.Annotations[awsLBType])
		class := ""
		if s.Spec.LoadBalancerClass != nil {
			class = *s.Spec.LoadBalancerClass
		}
		switch {
		case class == "service.k8s.aws/nlb" || lbType == "nlb" || lbType == "nlb-ip" || lbType == "external":
			ip := lbType == "nlb-ip" || strings.EqualFold(s.Annotations[awsNLBTargetType], "ip")
			out = append(out, front{kind: nlb, obj: obj, svc: s, ip: ip, lag: awsLag, awsHint: true})
		case class != "":
			out = append(out, front{kind: cloudLB, obj: obj, svc: s, lag: awsLag})
		default:
			out = append(out, front{kind: clb, obj: obj, svc: s, lag: awsLag, awsHint: hasAWSAnnotation(s)})
		}
	}
	for i := range t.ingresses {
		ing := &t.ingresses[i]
		obj := "ingress/" + ing.Name
		if !isALB(ing) {
			out = append(out, front{kind: ingressProxy, obj: obj, ing: ing, lag: proxyLag})
			continue
		}
		// The LBC reads target-type from the Service first, then the
		// Ingress; instance is its default.
		for _, name := range ingressServices(ing) {
			s := t.service(name)
			if s == nil {
				continue
			}
			tt := ing.Annotations[albTargetType]
			if v, ok := s.Annotations[albTargetType]; ok {
				tt = v
			}
			out = append(out, front{kind: alb, obj: obj, svc: s, ing: ing, ip: strings.EqualFold(strings.TrimSpace(tt), "ip"), lag: awsLag, awsHint: true})
		}
	}
	return out
}

func (t *target) service(name string) *corev1.Service {
	for i := range t.services {
		if t.services[i].Name == name {
			return &t.services[i]
		}
	}
	return nil
}

func hasAWSAnnotation(s *corev1.Service) bool {
	for k := range s.Annotations {
		if strings.HasPrefix(k, awsPrefix) {
			return true
		}
	}
	return false
}

// isALB reports whether the AWS Load Balancer Controller serves ing.
func isALB(ing *networkingv1.Ingress) bool {
	if c := ing.Spec.IngressClassName; c != nil && *c == "alb" {
		return true
	}
	if ing.Annotations[ingressClassAnn] == "alb" {
		return true
	}
	for k := range ing.Annotations {
		if strings.HasPrefix(k, "alb.ingress.kubernetes.io/") {
			return true
		}
	}
	return false
}

// deregistration is a load balancer's draining time and where it is set.
type deregistration struct {
	delay time.Duration
	set   bool   // false: the AWS default of 300 s
	obj   string // where it is (or would be) set
	path  string
}

// deregistrationOf returns f's deregistration delay (ALB, NLB) or
// connection-draining timeout (Classic ELB, when draining is enabled).
func deregistrationOf(f front) (deregistration, bool) {
	switch f.kind {
	case alb:
		// Service annotations win over the Ingress's for that backend.
		if v, ok := tgAttribute(f.svc.Annotations[albTGAttributes], deregistrationKey); ok {
			return deregistration{delay: v, set: true, obj: "service/" + f.svc.Name, path: annPath(albTGAttributes)}, true
		}
		if v, ok := tgAttribute(f.ing.Annotations[albTGAttributes], deregistrationKey); ok {
			return deregistration{delay: v, set: true, obj: f.obj, path: annPath(albTGAttributes)}, true
		}
		return deregistration{delay: 300 * time.Second, obj: f.obj, path: annPath(albTGAttributes)}, true
	case nlb:
		if v, ok := tgAttribute(f.svc.Annotations[awsTGAttributes], deregistrationKey); ok {
			return deregistration{delay: v, set: true, obj: f.obj, path: annPath(awsTGAttributes)}, true
		}
		return deregistration{delay: 300 * time.Second, obj: f.obj, path: annPath(awsTGAttributes)}, true
	case clb:
		if !strings.EqualFold(strings.TrimSpace(f.svc.Annotations[clbDrainingEnabled]), "true") {
			return deregistration{}, false
		}
		d := 300 * time.Second
		set := false
		if n, err := strconv.Atoi(strings.TrimSpace(f.svc.Annotations[clbDrainingTimeout])); err == nil {
			d, set = time.Duration(n)*time.Second, true
		}
		return deregistration{delay: d, set: set, obj: f.obj, path: annPath(clbDrainingTimeout)}, true
	}
	return deregistration{}, false
}

// tgAttribute reads key from a target-group-attributes annotation:
// comma- or newline-separated key=value pairs.
func tgAttribute(ann, key string) (time.Duration, bool) {
	for _, kv := range strings.FieldsFunc(ann, func(r rune) bool { return r == ',' || r == '\n' }) {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || strings.TrimSpace(k) != key {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	return 0, false
}

func annPath(key string) string { return "metadata.annotations[" + key + "]" }
