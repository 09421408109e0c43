package preflight

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rollcheck/rollcheck/workload"
)

// ErrNotFound: the workload to check does not exist.
var ErrNotFound = errors.New("not found")

// Fetch reads what the checks look at for one Deployment from the cluster:
// the Deployment, the namespace's Services, Ingresses and
// PodDisruptionBudgets, and the Namespace.
// Ingresses and the Namespace are optional: when they cannot be read the
// checks that need them are skipped and a warning says why. A missing
// Deployment is ErrNotFound.
func Fetch(ctx context.Context, client kubernetes.Interface, namespace, name string) (in Input, warnings []string, err error) {
	return FetchWorkload(ctx, client, workload.KindDeployment, namespace, name)
}

// FetchWorkload is Fetch for a workload of kind ("" is a Deployment).
func FetchWorkload(ctx context.Context, client kubernetes.Interface, kind workload.Kind, namespace, name string) (in Input, warnings []string, err error) {
	apps := client.AppsV1()
	kind = kind.OrDefault()
	switch kind {
	case workload.KindStatefulSet:
		in.StatefulSet, err = apps.StatefulSets(namespace).Get(ctx, name, metav1.GetOptions{})
	case workload.KindDaemonSet:
		in.DaemonSet, err = apps.DaemonSets(namespace).Get(ctx, name, metav1.GetOptions{})
	case workload.KindDeployment:
		in.Deployment, err = apps.Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	default:
		return Input{}, nil, fmt.Errorf("kind %q: not a deployment, statefulset or daemonset", kind)
	}
	if apierrors.IsNotFound(err) {
		return Input{}, nil, fmt.Errorf("%s %s/%s %w", kind, namespace, name, ErrNotFound)
	}
	if err != nil {
		return Input{}, nil, fmt.Errorf("get %s %s/%s: %w", kind, namespace, name, err)
	}
	svcs, err := client.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return Input{}, nil, fmt.Errorf("list services in namespace %s: %w", namespace, err)
	}
	in.Services = svcs.Items
	ings, err := client.NetworkingV1().Ingresses(namespace).List(ctx, metav1.ListOptions{})
	switch {
	case err == nil:
		in.Ingresses = ings.Items
	case apierrors.IsForbidden(err) || apierrors.IsNotFound(err):
		warnings = append(warnings, fmt.Sprintf("cannot list ingresses in namespace %s, Ingress rules skipped: %v", namespace, err))
	default:
		return Input{}, nil, fmt.Errorf("list ingresses in namespace %s: %w", namespace, err)
	}
	pdbs, err := client.PolicyV1().PodDisruptionBudgets(namespace).List(ctx, metav1.ListOptions{})
	switch {
	case err == nil:
		in.PDBs = pdbs.Items
	case apierrors.IsForbidden(err) || apierrors.IsNotFound(err):
		in.PDBsUnknown = true
		warnings = append(warnings, fmt.Sprintf("cannot list poddisruptionbudgets in namespace %s, budget rules skipped: %v", namespace, err))
	default:
		return Input{}, nil, fmt.Errorf("list poddisruptionbudgets in namespace %s: %w", namespace, err)
	}
	ns, err := client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case err == nil:
		in.Namespace = ns
	case apierrors.IsForbidden(err) || apierrors.IsNotFound(err):
		warnings = append(warnings, fmt.Sprintf("cannot read namespace %s, its labels are unknown: %v", namespace, err))
	default:
		return Input{}, nil, fmt.Errorf("get namespace %s: %w", namespace, err)
	}
	return in, warnings, nil
}
