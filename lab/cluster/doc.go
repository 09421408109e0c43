// Package cluster runs the lab's control plane: the up, down and wait
// commands that manage a whole lab in a directory, the commands that stop and
// restart one of its components, and thin wrappers that run embedded etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler as subcommands
// of the one rollcheck-lab binary, so that up can start each as its own
// process.
package cluster
