package check

import (
	"fmt"
	"math"

	"github.com/rollcheck/rollcheck/attack"
)

// hostSourcePorts reads this machine's source ports (a variable for tests).
var hostSourcePorts = attack.HostSourcePorts

// portShortage warns, before anything starts, when the load's new
// connections would use up the source ports of whatever sends them (this
// machine, or each attacker pod) so that connects fail part way through
// and the run ends INCONCLUSIVE; it names what to change. hostPorts reads
// this machine's (attack.HostSourcePorts); "" when it cannot tell or the
// ports suffice.
func portShortage(cfg *Config, hostPorts func() (attack.SourcePorts, error)) string {
	sp, processes := attack.AttackerSourcePorts, 1
	if cfg.Attackers != nil {
		processes = cfg.Attackers.Count
	} else {
		var err error
		if sp, err = hostPorts(); err != nil {
			return ""
		}
	}
	msg := attack.PortShortage(cfg.Attack, sp, processes)
	if msg == "" {
		return ""
	}
	rate := attack.NewConnectionRate(cfg.Attack)
	// The fewest attackers whose ports carry the rate, were it one
	// destination (each further one has ports of its own).
	need := int(math.Ceil(rate * attack.ClosingShare / attack.AttackerSourcePorts.Ceiling(false)))
	if cfg.Attackers != nil {
		return fmt.Sprintf("%s; the run may end INCONCLUSIVE: give --attackers %d or more, or a lower --rate", msg, max(need, processes+1))
	}
	return fmt.Sprintf("%s; the run may end INCONCLUSIVE: give a lower --rate, --connections both (half the load keeps its connections), or --attackers %d (each pod has %d ports)",
		msg, need, attack.AttackerSourcePorts.Ports())
}
