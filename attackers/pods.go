// Package attackers runs rollcheck's load from pods in the cluster: one
// owner ConfigMap per run, N attacker pods running `rollcheck attack`
// owned by it, their results streamed back through the API server (pod
// logs) and put on rollcheck's clock with offsets measured over
// port-forward round trips.
package attackers

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/rollout"
)

// Labels and names shared with `rollcheck cleanup`.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "rollcheck"
	LabelRun       = "rollcheck.io/run"
	LabelRole      = "rollcheck.io/role"
	RoleAttacker   = "attacker"

	// ClockPort is the attacker container's clock port, named ClockPortName.
	ClockPort     = 9090
	ClockPortName = "clock"
	// Container is the attacker pod's one container.
	Container = "attack"
	// PortRange is the attacker pod's source port range.
	PortRange = "1024 65535"
	// HeadersEnv carries the user's request headers, one "Key: value" a
	// line, from the run's Secret into the attacker (never in its args).
	HeadersEnv = "ROLLCHECK_ATTACK_HEADERS"
	headersKey = "headers"
	// TargetCAEnv carries the run's --target-ca bundle (PEM) from the
	// same Secret: the file is on the machine of the run, not in the pod.
	TargetCAEnv = "ROLLCHECK_ATTACK_TARGET_CA"
	targetCAKey = "target-ca"
	// MaxTargetCA bounds a --target-ca bundle for attackers: one
	// environment variable holds it (Linux takes at most 128 KiB a string).
	MaxTargetCA = 64 << 10

	// deadlineMargin is added to the run's longest length for the pods'
	// activeDeadlineSeconds and the attack's own --duration bound.
	deadlineMargin = 2 * time.Minute
)

// DefaultImageRepo is the repository of the attacker image; its tag is
// rollcheck's version.
const DefaultImageRepo = "rollcheck/rollcheck"

// OwnerName is the name of a run's owner ConfigMap.
func OwnerName(runID string) string { return "rollcheck-run-" + runID }

// NewRunID returns a short random run id, a valid label value and name part.
func NewRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Permissions are what a run with attackers needs in namespace, checked
// before anything starts and granted by `rollcheck rbac`.
func Permissions(namespace string) []rollout.Permission {
	var out []rollout.Permission
	add := func(verb, resource string) {
		out = append(out, rollout.Permission{Verb: verb, Resource: resource, Namespace: namespace})
	}
	add("create", "configmaps")
	add("delete", "configmaps")
	add("create", "secrets")
	add("delete", "secrets")
	add("create", "pods")
	add("delete", "pods")
	add("get", "pods")
	add("list", "pods")
	add("watch", "pods")
	add("get", "pods/log")
	add("create", "pods/portforward")
	return out
}

// Shares splits r into n rates that sum to it exactly: Freq is divided,
// the first Freq mod n attackers taking one more; a Freq smaller than n is
// scaled with Per (5/s over 3 is 50/10s: 17, 17 and 16 per 10s).
func Shares(r attack.Rate, n int) ([]attack.Rate, error) {
	if n < 1 {
		return nil, fmt.Errorf("attackers: %d attackers", n)
	}
	freq, per := r.Freq, r.Per
	for freq < n {
		if per > time.Hour {
			return nil, fmt.Errorf("rate %d/%s is too low to split over %d attackers", r.Freq, r.Per, n)
		}
		freq, per = freq*10, per*10
	}
	out := make([]attack.Rate, n)
	for i := range out {
		f := freq / n
		if i < freq%n {
			f++
		}
		out[i] = attack.Rate{Freq: f, Per: per}
	}
	return out, nil
}

// rateArg writes r as --rate takes it.
func rateArg(r attack.Rate) string { return strconv.Itoa(r.Freq) + "/" + r.Per.String() }

// podSpec is what one attacker pod is made of.
type podSpec struct {
	name  string
	index int
	rate  attack.Rate
	skew  time.Duration
	// secret is the run's Secret's data (nil: none); the pod reads
	// each of its keys from the environment.
	secret map[string]string
}

// ownerConfigMap is the run's owner object.
func (f *Fleet) ownerConfigMap() *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: OwnerName(f.runID), Namespace: f.cfg.Namespace, Labels: f.labels(false)},
		Data: map[string]string{
			"run":       f.runID,
			"attackers": strconv.Itoa(f.cfg.Count),
			"rate":      rateArg(f.cfg.Attack.Rate),
		},
	}
}

func (f *Fleet) labels(attacker bool) map[string]string {
	l := map[string]string{LabelManagedBy: ManagedBy, LabelRun: f.runID}
	if attacker {
		l[LabelRole] = RoleAttacker
	}
	return l
}

func (f *Fleet) ownerRef() []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: OwnerName(f.runID), UID: f.ownerUID}}
}

// secretData is what the run's Secret holds: the user's headers and the
// --target-ca bundle, each when given; nil when neither is.
func (f *Fleet) secretData() map[string]string {
	data := map[string]string{}
	if lines := headerLines(f.cfg.Attack.Targets); lines != "" {
		data[headersKey] = lines
	}
	if ca := f.cfg.Attack.TLS.CA; len(ca) > 0 {
		data[targetCAKey] = string(ca)
	}
	if len(data) == 0 {
		return nil
	}
	return data
}

// secretName is the name of the run's Secret (named when it held only
// headers; `rollcheck cleanup` finds it by its labels).
func (f *Fleet) secretName() string { return OwnerName(f.runID) + "-headers" }

// runSecret holds data, owned by the run's ConfigMap.
func (f *Fleet) runSecret(data map[string]string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: f.secretName(), Namespace: f.cfg.Namespace,
			Labels: f.labels(false), OwnerReferences: f.ownerRef()},
		StringData: data,
	}
}

// headerLines renders the targets' headers for HeadersEnv; the targets of
// one run share them.
func headerLines(targets []attack.Target) string {
	if len(targets) == 0 {
		return ""
	}
	var b strings.Builder
	for k, vs := range targets[0].Header {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	return b.String()
}

// checkTargets refuses what must not appear in pod args: passwords in
// URLs. Headers go through the Secret, and a CA bundle too, which must
// fit in one environment variable.
func checkTargets(targets []attack.Target, tls attack.TLS) error {
	if len(tls.CA) > MaxTargetCA {
		return fmt.Errorf("--target-ca with --attackers: the bundle is %d KiB, and attacker pods take at most %d KiB (one environment variable): pass only the CAs that sign the targets", len(tls.CA)>>10, MaxTargetCA>>10)
	}
	for _, t := range targets {
		u, err := url.Parse(t.URL)
		if err != nil {
			return err
		}
		if u.User != nil {
			return fmt.Errorf("target %s: credentials in the URL would be visible in the attacker pods' arguments; send them as a header (-H), which attackers get from a Secret", attack.RedactURL(t.URL))
		}
	}
	return nil
}

// pod builds attacker s.
func (f *Fleet) pod(s podSpec) *corev1.Pod {
	c := f.cfg
	a := c.Attack
	args := []string{"attack", "--name", s.name, "--rate", rateArg(s.rate),
		// Successes in summaries, failures in full (rollcheck.attack/v2),
		// in the run's buckets.
		"--summarize", "--bucket", bucketWidth(a).String(),
		"--duration", f.bound().String(), "--timeout", a.Timeout.String(),
		"--clock-listen", ":" + strconv.Itoa(ClockPort), "--wait-start",
		"--beacon-every", c.BeaconEvery.String(),
		// The load's connections as the run resolved them: Config's
		// Connections, else its older KeepAlive switch.
		"--connections", string(connections(a))}
	if a.HTTP2 {
		args = append(args, "--http2")
	}
	if a.PodHeader != "" {
		args = append(args, "--pod-header", a.PodHeader)
	}
	if a.TLS.Insecure {
		args = append(args, "--target-insecure")
	}
	if a.TLS.ServerName != "" {
		args = append(args, "--target-server-name", a.TLS.ServerName)
	}
	if len(a.Targets) > 0 && a.Targets[0].Method != "" {
		args = append(args, "--method", a.Targets[0].Method)
	}
	if s.skew != 0 {
		args = append(args, "--clock-skew", s.skew.String())
	}
	for _, t := range a.Targets {
		args = append(args, t.URL)
	}
	var env []corev1.EnvVar
	for _, e := range []struct{ name, key string }{{HeadersEnv, headersKey}, {TargetCAEnv, targetCAKey}} {
		if _, ok := s.secret[e.key]; ok {
			env = append(env, corev1.EnvVar{Name: e.name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: f.secretName()}, Key: e.key}}})
		}
	}
	grace := int64((a.Timeout + 10*time.Second) / time.Second)
	deadline := int64((f.bound() + deadlineMargin) / time.Second)
	no := false
	// The CPU request follows the measured cost, and the Go runtime's
	// threads the request (attack.AttackerCPU, AttackerProcs).
	cpu := resource.NewMilliQuantity(attack.AttackerCPU(s.rate.PerSecond()), resource.DecimalSI)
	env = append(env, corev1.EnvVar{Name: "GOMAXPROCS", Value: strconv.Itoa(attack.AttackerProcs(s.rate.PerSecond()))})
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: c.Namespace, Labels: f.labels(true), OwnerReferences: f.ownerRef()},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			ActiveDeadlineSeconds:         &deadline,
			AutomountServiceAccountToken:  &no,
			// Each connection an attacker closes stays in TIME_WAIT for
			// 60 s on its side: with --connections new, the default 28,232
			// source ports carried about 470 new connections a second
			// (docs/benchmarks.md). The widest range is a safe sysctl,
			// which every kubelet allows.
			SecurityContext:    &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_local_port_range", Value: PortRange}}},
			EnableServiceLinks: &no,
			TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.ScheduleAnyway,
				LabelSelector: &metav1.LabelSelector{MatchLabels: f.labels(true)},
			}},
			Containers: []corev1.Container{{
				Name:  Container,
				Image: c.Image,
				Args:  args,
				Env:   env,
				Ports: []corev1.ContainerPort{{Name: ClockPortName, ContainerPort: ClockPort, Protocol: corev1.ProtocolTCP}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU:    *cpu,
					corev1.ResourceMemory: resource.MustParse("64Mi"),
				}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(ClockPort)}},
					PeriodSeconds: 1,
				},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no},
			}},
		},
	}
}

// bound is the attack's own --duration: the run's longest length plus a
// margin, so that a forgotten attacker stops by itself.
func (f *Fleet) bound() time.Duration {
	return (f.cfg.MaxRun + deadlineMargin).Round(time.Second)
}

// connections is how the attackers use their connections: the run's
// Connections, or, when it left them empty, its KeepAlive switch.
func connections(a attack.Config) attack.Connections {
	if a.Connections != "" {
		return a.Connections
	}
	if a.KeepAlive {
		return attack.ConnectionsReused
	}
	return attack.ConnectionsNew
}

// bucketWidth is the run's bucket width, as the load resolves it.
func bucketWidth(a attack.Config) time.Duration {
	if a.BucketWidth > 0 {
		return a.BucketWidth
	}
	return attack.DefaultBucketWidth
}
