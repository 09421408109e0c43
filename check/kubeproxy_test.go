package check

import (
	"testing"

	"github.com/rollcheck/rollcheck/attack"
	"github.com/rollcheck/rollcheck/report"
)

// The nodes' kube-proxies are read when asked, or (auto) when the front
// goes through kube-proxy and the load names each request's entry node.
func TestFollowsKubeProxy(t *testing.T) {
	named := attack.Config{NodeHeader: "X-Lab-Node"}
	for _, c := range []struct {
		name  string
		mode  string
		front string
		load  attack.Config
		want  bool
	}{
		{"auto, instance mode, entry node named", KubeProxyAuto, "alb-instance", named, true},
		{"auto, kube-proxy, one entry node", KubeProxyAuto, "kube-proxy", attack.Config{EntryNode: "n3"}, true},
		{"auto, instance mode, no entry node", KubeProxyAuto, "alb-instance", attack.Config{}, false},
		{"auto, IP mode", KubeProxyAuto, "alb", named, false},
		{"on, any front", KubeProxyOn, "ingress", attack.Config{}, true},
		{"off", KubeProxyOff, "kube-proxy", named, false},
	} {
		if got := followsKubeProxy(c.mode, &report.Front{Name: c.front}, c.load); got != c.want {
			t.Errorf("%s: %t, want %t", c.name, got, c.want)
		}
	}
	if followsKubeProxy(KubeProxyAuto, nil, named) {
		t.Error("no front known: followed")
	}
}
