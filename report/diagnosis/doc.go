// Package diagnosis explains why requests failed during a rollout: it ties
// every failure to a pod and the phase of its lifecycle, names the causes
// (stable codes), measures the lags of the pods' lifecycles and says which
// settings to change. It reads only what a run observed (Input), never a
// report: package report calls it from Build and prints what it returns.
//
// One file per family of causes, each with its window, its evidence and its
// advice: routed.go (a terminating pod still routed to, the load balancer's
// deregistration lag), inflight.go (requests cut when a container exited),
// noready.go (no ready endpoint), newpod.go (a new pod Ready before it
// served). The core they share: lifecycle.go and servertime.go read the
// pods' timeline, attribution.go and classify.go the failures, weigh.go
// weighs the explanations of a failure without a pod header, diagnose.go
// accumulates the causes and evidence.go words them, measure.go measures
// the lags and recommend.go gathers the advice.
package diagnosis
