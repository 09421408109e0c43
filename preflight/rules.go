package preflight

import (
	"fmt"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rollcheck/rollcheck/workload"
)

// Rule ids. They are stable: users pass them to --disable and CI configs
// keep them.
const (
	RuleNoReadinessProbe            = "no-readiness-probe"
	RuleReadinessSameAsLiveness     = "readiness-same-as-liveness"
	RuleNoPreStop                   = "no-prestop"
	RulePreStopShorterThanLag       = "prestop-shorter-than-lb-lag"
	RuleGracePeriodTooShort         = "grace-period-too-short"
	RuleDeregistrationNotAboveGrace = "deregistration-delay-not-above-grace"
	RuleNoPodReadinessGate          = "no-pod-readiness-gate"
	RuleRecreateStrategy            = "recreate-strategy"
	RuleRollingUpdateNoReadyPods    = "rolling-update-no-ready-pods"
	RuleRollingUpdateInvalid        = "rolling-update-invalid"
	RuleSingleReplica               = "single-replica"
	RuleMinReadySecondsZero         = "min-ready-seconds-zero"
	RuleShellFormEntrypoint         = "shell-form-entrypoint"
	RuleCLBNoConnectionDraining     = "clb-no-connection-draining"
)

var rules = []Rule{
	{RuleNoReadinessProbe, Error, "a container that takes traffic has no readinessProbe on a port it declares", checkReadinessProbe},
	{RuleReadinessSameAsLiveness, Warning, "readinessProbe and livenessProbe call the same check", checkSameProbes},
	{RuleNoPreStop, Error, "no preStop hook while a load balancer or kube-proxy needs time to stop routing", checkPreStop},
	{RulePreStopShorterThanLag, Error, "preStop sleep shorter than the load balancer's known deregistration lag", checkPreStopLag},
	{RuleGracePeriodTooShort, Error, "preStop + expected shutdown >= terminationGracePeriodSeconds", checkGrace},
	{RuleDeregistrationNotAboveGrace, Warning, "load balancer deregistration delay / draining timeout <= terminationGracePeriodSeconds", checkDeregistration},
	{RuleNoPodReadinessGate, Error, "AWS load balancer in ip mode without a pod readiness gate", checkReadinessGate},
	{RuleRecreateStrategy, Error, "Recreate strategy stops every pod before starting new ones", checkRecreate},
	{RuleRollingUpdateNoReadyPods, Error, "maxUnavailable can leave zero ready pods for the replica count", checkNoReadyPods},
	{RuleRollingUpdateInvalid, Error, "maxSurge and maxUnavailable both 0, or not a number or percentage", checkInvalidRollingUpdate},
	{RuleSingleReplica, Warning, "one replica: any disruption of the pod is an outage", checkSingleReplica},
	{RuleMinReadySecondsZero, Info, "minReadySeconds 0 with a start-up slower than the readiness period", checkMinReadySeconds},
	{RuleShellFormEntrypoint, Warning, "shell-form command (sh -c without exec) as PID 1 swallows SIGTERM", checkShellForm},
	{RuleCLBNoConnectionDraining, Error, "Classic ELB Service without connection draining", checkCLBDraining},
	{RuleDaemonSetNoSurge, Error, daemonSetNoSurgeSummary, checkDaemonSetNoSurge},
	{RuleOrderedReadyNoReadiness, Error, orderedReadyNoReadinessShort, checkOrderedReadyNoReadiness},
	{RuleNoPDB, Warning, "two or more replicas behind a Service and no PodDisruptionBudget: a node drain evicts them at once", checkNoPDB},
	{RulePDBBlocksEvicts, Error, "a PodDisruptionBudget that allows no disruption (maxUnavailable 0, minAvailable = replicas) blocks every drain", checkPDBBlocksEvictions},
	{RuleProxySidecarNotNative, Error, "a known proxy (istio-proxy, Envoy, linkerd-proxy, cloud-sql-proxy, nginx, HAProxy, Traefik, or a container named proxy) beside the app as a regular container with no preStop, not a native sidecar", checkProxySidecar},
	{RuleIstioDrainShorterThanApp, Error, "Istio's proxy drains for less time than the app's preStop and shutdown take (terminationDrainDuration, 5 s by default)", checkIstioDrainShorterThanApp},
	{RuleGraceBelowSidecarDrain, Error, "terminationGracePeriodSeconds no longer than Istio's terminationDrainDuration: the proxy is killed mid-drain", checkGraceBelowSidecarDrain},
	{RuleIstioNoHoldApplication, Warning, "Istio injects its proxy and the pod does not set holdApplicationUntilProxyStarts", checkIstioHold},
	{RuleLocalNoNodeHealthCheck, Error, "an AWS load balancer in instance mode before an externalTrafficPolicy Local Service, not health-checking its healthCheckNodePort over HTTP", checkLocalWithoutNodeHealthCheck},
	{RuleServerStopsAtOnce, Error, "a container runs nginx or Apache httpd, which SIGTERM stops at once, with no graceful stop (a preStop that quits it, or lifecycle.stopSignal)", checkServerStopsAtOnce},
	{RulePDBSelectsNone, Warning, "a PodDisruptionBudget whose selector matches no pod (in the files, or by its status in the cluster) protects nothing", checkPDBSelectsNone},
}

func (t *target) finding(rule string, sev Severity, obj, path, current, suggested, why string) Finding {
	return Finding{Rule: rule, Severity: sev, Object: obj, Path: path, Current: current, Suggested: suggested, Why: why}
}

// loadBalanced returns the first front outside kube-proxy, if any.
func (t *target) loadBalanced() (front, bool) {
	for _, f := range t.fronts {
		if f.load() {
			return f, true
		}
	}
	return front{}, false
}

// maxLag is the longest expected routing lag over the fronts.
func (t *target) maxLag() (front, bool) {
	var best front
	for _, f := range t.fronts {
		if f.lag > best.lag || best.kind == "" {
			best = f
		}
	}
	return best, best.kind != ""
}

// checkReadinessProbe flags the containers that take traffic and may be
// Ready before they listen (workload.Deployment.NotListening): the answer
// the diagnosis takes too, so that lint and the run report agree on it.
func checkReadinessProbe(t *target) []Finding {
	if len(t.services) == 0 && !slices.ContainsFunc(t.w.Containers, func(c workload.Container) bool { return c.Ports }) {
		return nil // no declared port and no Service: nothing routes to the pods
	}
	var out []Finding
	for _, c := range t.w.NotListening() {
		port, suggested := "PORT", ""
		if c.Ports {
			p := c.Spec.Ports[0]
			if port = strconv.Itoa(int(p.ContainerPort)); p.Name != "" {
				port = p.Name
			}
		} else {
			suggested = "declare the port traffic comes to (ports: [{containerPort: PORT}]) and probe it: "
		}
		suggested += fmt.Sprintf("httpGet {path: /ready, port: %s} (or tcpSocket), periodSeconds 5", port)
		if c.Readiness != nil {
			// A probe that checks something else (a file, a command, another
			// port) may pass while the application does not listen yet.
			out = append(out, t.finding(RuleNoReadinessProbe, Warning, t.obj, c.Path("readinessProbe"),
				describeHandler(c.Readiness.ProbeHandler)+" (no port the container declares)", suggested,
				"The readiness probe connects to no port the container declares, so it can pass before the application listens, and a new pod then gets requests it cannot answer yet."))
			continue
		}
		sev := Warning
		why := "Without a readiness probe a new pod counts as ready as soon as its process starts, so anything that routes to it sends requests before the application listens."
		if len(t.services) > 0 {
			sev = Error
			why = fmt.Sprintf("Without a readiness probe a new pod is added to the endpoints of service/%s as soon as its process starts, before the application listens, and the rollout removes old pods on that false signal.", t.services[0].Name)
		}
		out = append(out, t.finding(RuleNoReadinessProbe, sev, t.obj, c.Path("readinessProbe"), "none", suggested, why))
	}
	return out
}

func checkSameProbes(t *target) []Finding {
	var out []Finding
	for _, c := range t.w.Containers {
		if c.Readiness == nil || c.Liveness == nil || !reflect.DeepEqual(c.Readiness.ProbeHandler, c.Liveness.ProbeHandler) {
			continue
		}
		sev := Warning
		why := "When the one check fails (slow start, overload) the pod is restarted instead of only taken out of rotation, which turns a slow pod into a restart loop."
		if c.Startup != nil {
			// The startupProbe holds liveness back during start-up, the
			// riskiest time; what remains is restarts under load.
			sev = Info
			why = "When the one check fails under load the pod is restarted instead of only taken out of rotation; the startupProbe protects start-up, not the rest of the pod's life."
		}
		out = append(out, t.finding(RuleReadinessSameAsLiveness, sev, t.obj, c.Path("livenessProbe"), "same check as readinessProbe ("+describeHandler(c.Liveness.ProbeHandler)+")",
			"a liveness check that only fails when the process is stuck (e.g. /livez), readiness on /ready", why))
	}
	return out
}

func describeHandler(h corev1.ProbeHandler) string {
	switch {
	case h.HTTPGet != nil:
		return fmt.Sprintf("httpGet %s port %s", h.HTTPGet.Path, h.HTTPGet.Port.String())
	case h.TCPSocket != nil:
		return "tcpSocket port " + h.TCPSocket.Port.String()
	case h.GRPC != nil:
		return fmt.Sprintf("grpc port %d", h.GRPC.Port)
	case h.Exec != nil:
		return "exec " + strings.Join(h.Exec.Command, " ")
	}
	return "none"
}

// suggestedSleep is the preStop sleep to propose in front of f.
func suggestedSleep(f front) time.Duration {
	if f.lagKnown {
		return f.lag + 2*time.Second
	}
	if f.lag < 5*time.Second {
		return 5 * time.Second
	}
	return f.lag
}

func checkPreStop(t *target) []Finding {
	f, ok := t.maxLag()
	if !ok {
		return nil // nothing routes to the pods
	}
	var out []Finding
	for _, c := range t.w.Serving() {
		if c.PreStop.Set {
			continue
		}
		sev := Warning
		why := fmt.Sprintf("SIGTERM arrives at the same time as the endpoint removal, and kube-proxy needs about %s to stop routing to the pod, so an application that stops listening at once refuses those connections.", seconds(proxyLag))
		if lb, isLB := t.loadBalanced(); isLB {
			sev = Error
			why = fmt.Sprintf("SIGTERM arrives at the same time as the endpoint removal, but the %s (%s) keeps sending new requests for about %s after that, which fail once the application stops.", lb.kind, lb.obj, seconds(f.lag))
		}
		out = append(out, t.finding(RuleNoPreStop, sev, t.obj, c.Path("lifecycle.preStop"), "none",
			fmt.Sprintf(`sleep: {seconds: %d} (or exec: ["sleep", "%d"])`, ceilSeconds(suggestedSleep(f)), ceilSeconds(suggestedSleep(f))), why))
	}
	return out
}

func checkPreStopLag(t *target) []Finding {
	var known []front
	for _, f := range t.fronts {
		if f.lagKnown {
			known = append(known, f)
		}
	}
	if len(known) == 0 {
		return nil
	}
	var out []Finding
	for _, c := range t.w.Serving() {
		if !c.PreStop.Known {
			continue // no preStop is no-prestop's; an unknown hook cannot be timed
		}
		d := c.PreStop.Sleep
		for _, f := range known {
			if d >= f.lag {
				continue
			}
			out = append(out, t.finding(RulePreStopShorterThanLag, Error, t.obj, c.Path("lifecycle.preStop"),
				"sleep "+seconds(d), fmt.Sprintf("sleep %d", ceilSeconds(suggestedSleep(f))),
				fmt.Sprintf("%s keeps routing for %s after the pod leaves the endpoints (%s), so requests still arrive after the preStop sleep ends and SIGTERM stops the application.", f.obj, seconds(f.lag), labDeregisterLag)))
		}
	}
	return out
}

// springShutdown is the Spring Boot graceful shutdown timeout, in the
// spellings of its environment binding (the second as seed 002 writes it).
var springShutdown = []string{"SPRING_LIFECYCLE_TIMEOUT_PER_SHUTDOWN_PHASE", "SPRING_LIFECYCLE_TIMEOUT-PER-SHUTDOWN-PHASE"}

// shutdownOf is how long c is expected to take from SIGTERM to exit.
func (t *target) shutdownOf(c *corev1.Container) (time.Duration, string) {
	for _, e := range c.Env {
		for _, name := range springShutdown {
			if e.Name != name {
				continue
			}
			if d, err := time.ParseDuration(strings.TrimSpace(e.Value)); err == nil && d >= 0 {
				return d, name
			}
		}
	}
	return t.shutdown, "expected"
}

func checkGrace(t *target) []Finding {
	grace := t.w.Grace
	cur := seconds(grace)
	if t.w.GraceDefaulted {
		cur += " (default)"
	}
	// Every container's preStop and shutdown must fit in the one grace
	// period, so the container that needs longest decides.
	var worst *corev1.Container
	var need, pre, shut time.Duration
	var shutFrom string
	for _, c := range t.w.Containers {
		p := c.PreStop.Sleep
		s, from := t.shutdownOf(c.Spec)
		if p+s > need || worst == nil {
			worst, need, pre, shut, shutFrom = c.Spec, p+s, p, s, from
		}
	}
	if worst == nil || need < grace {
		return nil
	}
	suggest := ceilSeconds(need + 5*time.Second)
	suggested := fmt.Sprintf("%d (preStop %s + shutdown %s + 5s margin)", suggest, seconds(pre), seconds(shut))
	for _, f := range t.fronts {
		if dr, ok := deregistrationOf(f); ok && dr.delay <= time.Duration(suggest)*time.Second {
			suggested += fmt.Sprintf(", and raise the deregistration delay of %s above it", dr.obj)
			break
		}
	}
	return []Finding{t.finding(RuleGracePeriodTooShort, Error, t.obj, "spec.template.spec.terminationGracePeriodSeconds",
		fmt.Sprintf("%s; container %s needs preStop %s + shutdown %s (%s) = %s", cur, worst.Name, seconds(pre), seconds(shut), shutFrom, seconds(need)),
		suggested,
		"The grace period runs from the start of preStop, not from SIGTERM, so the kubelet SIGKILLs the container while it still finishes in-flight requests.")}
}

func checkDeregistration(t *target) []Finding {
	grace := t.w.Grace
	var out []Finding
	seen := map[string]bool{}
	for _, f := range t.fronts {
		dr, ok := deregistrationOf(f)
		if !ok || dr.delay > grace || seen[dr.obj+dr.path] {
			continue
		}
		seen[dr.obj+dr.path] = true
		what := deregistrationKey
		if f.kind == clb {
			what = "connection draining timeout"
		}
		cur := fmt.Sprintf("%s=%d, terminationGracePeriodSeconds %d", what, int64(dr.delay/time.Second), int64(grace/time.Second))
		if !dr.set {
			cur += " (" + what + " default 300)"
		}
		out = append(out, t.finding(RuleDeregistrationNotAboveGrace, Warning, dr.obj, dr.path, cur,
			fmt.Sprintf("%s=%d (above the grace period)", what, int64(grace/time.Second)+10),
			fmt.Sprintf("The %s force-closes connections when its delay ends, so requests the pod is still finishing within its grace period get a 5xx: keep preStop + shutdown < grace < deregistration delay.", f.kind)))
	}
	return out
}

func checkReadinessGate(t *target) []Finding {
	var ipFront *front
	for i := range t.fronts {
		if f := t.fronts[i]; (f.kind == alb || f.kind == nlb) && f.ip {
			ipFront = &t.fronts[i]
			break
		}
	}
	if ipFront == nil {
		return nil
	}
	for _, g := range t.pod.ReadinessGates {
		if strings.HasPrefix(string(g.ConditionType), readinessGatePrefix) {
			return nil
		}
	}
	why := fmt.Sprintf("In ip mode the %s (%s) needs a health check to pass before a new pod gets traffic, but without the gate the pod is Ready at once and the rollout can remove old targets before new ones serve, leaving only initial or draining targets (503/504).", ipFront.kind, ipFront.obj)
	suggested := "label " + readinessGateInject + "=enabled (before the pods are created)"
	if t.ns == nil {
		return []Finding{t.finding(RuleNoPodReadinessGate, Warning, "namespace/"+t.namespace, "metadata.labels["+readinessGateInject+"]",
			"unknown (the Namespace is not in the input)", suggested, why)}
	}
	v := t.ns.Labels[readinessGateInject]
	if v == "enabled" {
		return nil
	}
	cur := "not set"
	if v != "" {
		cur = v
	}
	return []Finding{t.finding(RuleNoPodReadinessGate, Error, "namespace/"+t.ns.Name, "metadata.labels["+readinessGateInject+"]", cur, suggested, why)}
}

func checkRecreate(t *target) []Finding {
	if t.w.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		return nil
	}
	return []Finding{t.finding(RuleRecreateStrategy, Error, t.obj, "spec.strategy.type", "Recreate",
		"RollingUpdate with maxSurge 1, maxUnavailable 0",
		"Recreate deletes every old pod before it creates a new one, so the Service has no endpoint for the whole start-up of the new version.")}
}

func checkNoReadyPods(t *target) []Finding {
	rep, st := t.w.Replicas, t.w.Strategy
	if !st.Rolling() || rep == 0 || t.w.Kind == workload.KindDaemonSet {
		// A DaemonSet's pods are one per node, each alone on its node:
		// daemonset-no-surge is about it.
		return nil
	}
	surge, unavail := st.Surge, st.Unavailable
	if st.Invalid != nil || (surge == 0 && unavail == 0) || unavail < rep {
		return nil
	}
	raw := st.MaxUnavailable.String()
	if !st.MaxUnavailableSet {
		raw += " (default)"
	}
	suggested := "0 (with maxSurge 1 or more)"
	if t.w.Kind == workload.KindStatefulSet {
		// A StatefulSet has no surge: it stops a pod before it starts
		// the replacement, so only other replicas can serve meanwhile.
		suggested = "below the replicas: 2 or more replicas with maxUnavailable 1 (a StatefulSet has no surge)"
	}
	return []Finding{t.finding(RuleRollingUpdateNoReadyPods, Error, t.obj, t.w.StrategyField("rollingUpdate.maxUnavailable"),
		fmt.Sprintf("%s = %d of %d replicas", raw, unavail, rep), suggested,
		fmt.Sprintf("With maxUnavailable %d and %d replicas the controller may take every old pod down before a new one is ready.", unavail, rep))}
}

func checkInvalidRollingUpdate(t *target) []Finding {
	st := t.w.Strategy
	if !st.Rolling() {
		return nil
	}
	if st.Invalid != nil {
		return []Finding{t.finding(RuleRollingUpdateInvalid, Error, t.obj, t.w.StrategyField("rollingUpdate"), st.Invalid.Error(), "an integer or a percentage such as 25%",
			"The API server rejects the Deployment, so the rollout never starts.")}
	}
	if !st.MaxSurgeSet || !st.MaxUnavailableSet || !isZero(st.MaxSurge) || !isZero(st.MaxUnavailable) {
		return nil
	}
	return []Finding{t.finding(RuleRollingUpdateInvalid, Error, t.obj, t.w.StrategyField("rollingUpdate"),
		fmt.Sprintf("maxSurge %s, maxUnavailable %s", st.MaxSurge.String(), st.MaxUnavailable.String()), "maxSurge 1, maxUnavailable 0",
		"The API server rejects maxSurge and maxUnavailable both 0 because the controller could neither add nor remove a pod.")}
}

func isZero(v intstr.IntOrString) bool {
	if v.Type == intstr.Int {
		return v.IntVal == 0
	}
	s := strings.TrimSuffix(v.StrVal, "%")
	n, err := strconv.Atoi(s)
	return err == nil && n == 0
}

func checkSingleReplica(t *target) []Finding {
	if t.w.Replicas != 1 || t.w.Kind == workload.KindDaemonSet {
		// A DaemonSet has no spec.replicas: one pod per node.
		return nil
	}
	cur := "1"
	if t.w.ReplicasDefaulted {
		cur = "1 (default)"
	}
	return []Finding{t.finding(RuleSingleReplica, Warning, t.obj, "spec.replicas", cur, "2 or more (with a PodDisruptionBudget)",
		"With one pod every restart, eviction or failed new version is an outage unless surge and a readiness probe hold the old pod until the new one serves.")}
}

func checkMinReadySeconds(t *target) []Finding {
	if t.w.MinReady > 0 {
		return nil
	}
	for _, c := range t.w.Containers {
		r := c.Readiness
		if r == nil {
			continue
		}
		period := workload.PeriodSeconds(r)
		slow := ""
		switch {
		case c.Startup != nil:
			slow = "a startupProbe"
		case r.InitialDelaySeconds > period:
			slow = fmt.Sprintf("readinessProbe.initialDelaySeconds %d > periodSeconds %d", r.InitialDelaySeconds, period)
		}
		if slow == "" {
			continue
		}
		return []Finding{t.finding(RuleMinReadySecondsZero, Info, t.obj, "spec.minReadySeconds", "0 (container "+c.Name+" has "+slow+")",
			strconv.Itoa(int(period)), "A slow-starting pod counts as available on its first successful readiness check, so the rollout removes an old pod before the new one has shown it stays ready.")}
	}
	return nil
}

var shells = map[string]bool{"sh": true, "bash": true, "ash": true, "dash": true, "zsh": true, "ksh": true}

func checkShellForm(t *target) []Finding {
	var out []Finding
	for i := range t.pod.Containers {
		c := &t.pod.Containers[i]
		script, ok := shellScript(c)
		if !ok {
			continue
		}
		s := strings.TrimSpace(script)
		if strings.HasPrefix(s, "exec ") || strings.Contains(s, "trap ") {
			continue
		}
		out = append(out, t.finding(RuleShellFormEntrypoint, Warning, t.obj, workload.ContainerPath(c.Name, "command"),
			fmt.Sprintf("%s -c %q", c.Command[0], script), fmt.Sprintf("%s -c %q (or the binary directly)", c.Command[0], "exec "+s),
			"The shell runs as PID 1 and does not forward SIGTERM to the application, so the application never drains and is SIGKILLed at the end of the grace period."))
	}
	return out
}

// shellScript returns the script of a `sh -c SCRIPT` command (the script
// may be the first arg when command is just the shell and -c).
func shellScript(c *corev1.Container) (string, bool) {
	if len(c.Command) < 2 || !shells[path.Base(c.Command[0])] {
		return "", false
	}
	flag := c.Command[1]
	if !strings.HasPrefix(flag, "-") || !strings.Contains(flag, "c") {
		return "", false
	}
	if len(c.Command) > 2 {
		return c.Command[2], true
	}
	if len(c.Args) > 0 {
		return c.Args[0], true
	}
	return "", false
}

func checkCLBDraining(t *target) []Finding {
	var out []Finding
	for _, f := range t.fronts {
		if f.kind != clb {
			continue
		}
		v := strings.TrimSpace(f.svc.Annotations[clbDrainingEnabled])
		if strings.EqualFold(v, "true") {
			continue
		}
		sev := Error
		why := "Without connection draining the Classic ELB cuts every open connection to a pod the moment it deregisters it, while the pod is still serving."
		if !f.awsHint {
			sev = Info
			why = "If this LoadBalancer Service is an AWS Classic ELB (the in-tree default on AWS), it cuts every open connection to a pod the moment it deregisters it unless connection draining is on."
		}
		cur := "not set"
		if v != "" {
			cur = v
		}
		grace := t.w.Grace
		out = append(out, t.finding(RuleCLBNoConnectionDraining, sev, f.obj, annPath(clbDrainingEnabled), cur,
			fmt.Sprintf(`"true", with %s: "%d"`, clbDrainingTimeout, int64(grace/time.Second)+10), why))
	}
	return out
}
