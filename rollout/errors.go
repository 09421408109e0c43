package rollout

import (
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Sentinel errors, for errors.Is. Errors returned by this package wrap them
// and name the object involved.
var (
	// ErrNotFound means the Deployment or the named Service does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means the input is well formed but wrong for the Deployment
	// (an unknown container, a paused Deployment, a Service that selects
	// other pods).
	ErrInvalid = errors.New("invalid")
	// ErrForbidden means the API server refused a request for lack of
	// permission. CheckAccess reports the same thing up front as an
	// *AccessError.
	ErrForbidden = errors.New("forbidden")
)

// AccessError lists the permissions rollcheck needs and does not have.
type AccessError struct {
	// Missing holds one sentence per missing permission, such as
	// `cannot patch deployments.apps "web" in namespace "default"`.
	Missing []string
}

// Error joins the missing permissions into one message.
func (e *AccessError) Error() string {
	return "missing permissions: " + strings.Join(e.Missing, "; ")
}

// apiError wraps an API error from doing what on object, adding ErrNotFound
// or ErrForbidden so that callers need not import apimachinery to test it.
// The original error stays in the chain for apierrors.IsXxx.
func apiError(what, object string, err error) error {
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s %s: %w: %w", what, object, ErrNotFound, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s %s: %w: %w", what, object, ErrForbidden, err)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		// The API server rejected what the user asked for (a manifest
		// that fails validation): bad input, not a cluster fault.
		return fmt.Errorf("%s %s: %w: %w", what, object, ErrInvalid, err)
	}
	return fmt.Errorf("%s %s: %w", what, object, err)
}
