package check

import (
	"github.com/rollcheck/rollcheck/attackers"
	"github.com/rollcheck/rollcheck/rollout"
)

// Deployments are the Deployments a run of c drives, as far as c names
// them: the one rolled out, or the stable and the canary one. A switch
// and a weighted canary find theirs from the Services' pods at run time:
// none here.
func (c *Config) Deployments() []string {
	switch {
	case c.Switch != nil, c.Weights != nil:
		return nil
	case c.Canary != nil:
		return []string{c.Deployment, c.Canary.Deployment}
	}
	return []string{c.Deployment}
}

// Permissions is every permission a run of c asks for before it changes
// anything, on deployments (the workloads it drives, of c.Kind; a switch
// and canary steps drive Deployments only). The run checks exactly this
// list and `rollcheck rbac` grants it, so the two cannot drift. With
// attackers, what the fleet does in its namespace follows.
func (c *Config) Permissions(deployments ...string) []rollout.Permission {
	out := c.workloadPermissions(deployments...)
	if c.Attackers != nil {
		out = append(out, attackers.Permissions(c.attackerNamespace())...)
	}
	return out
}

func (c *Config) workloadPermissions(deployments ...string) []rollout.Permission {
	ns := c.Namespace
	switch {
	case c.Switch != nil:
		// The switch patches the Service, not the Deployments.
		return append(rollout.Permissions(rollout.AccessWatch, ns, deployments...),
			rollout.Permissions(rollout.AccessSwitch, ns, c.Switch.Service)...)
	case c.Weights != nil:
		// The steps patch the route; the Deployments are only watched.
		return append(rollout.Permissions(rollout.AccessWatch, ns, deployments...),
			rollout.Permissions(rollout.AccessRoute, ns, c.Weights.Route)...)
	case c.Drain != nil:
		// The drain cordons the node and evicts its pods, in any
		// namespace; the workload is only watched.
		return append(rollout.KindPermissions(c.Kind, rollout.AccessWatch, ns, deployments...),
			rollout.DrainPermissions(c.Drain.Node)...)
	case c.Action.Kind == rollout.ActionWatch:
		// Someone else changes the workload: the run only watches it.
		return rollout.KindPermissions(c.Kind, rollout.AccessWatch, ns, deployments...)
	}
	return rollout.KindPermissions(c.Kind, rollout.AccessRollout, ns, deployments...)
}
