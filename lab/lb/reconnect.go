package lb

import (
	"net/http"

	"github.com/rollcheck/rollcheck/lab/apiwait"
)

// waitForAPIServer makes the load balancer's informers wait for a
// restarting API server instead of backing off (see package apiwait): an
// ALB controller talks to an HA control plane whose restarts it hardly
// sees, and without this the lab's load balancer would stay blind for up to
// tens of seconds after one, routing to pods long gone.
type waitForAPIServer struct{ next http.RoundTripper }

func (w waitForAPIServer) RoundTrip(req *http.Request) (*http.Response, error) {
	return apiwait.Wrap(w.next).RoundTrip(req)
}
