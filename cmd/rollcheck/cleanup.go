package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
)

// The labels of what a run with attackers leaves in the cluster (the
// contract with run --attackers): one owner ConfigMap rollcheck-run-<runid>
// per run, and attacker pods owned by it.
const (
	labelManagedBy  = "app.kubernetes.io/managed-by"
	managedByValue  = "rollcheck"
	labelRun        = "rollcheck.io/run"
	labelRole       = "rollcheck.io/role"
	roleAttacker    = "attacker"
	runConfigMapPfx = "rollcheck-run-"
)

const cleanupExample = `  # Remove what runs with attackers left in the current namespace
  rollcheck cleanup

  # In every namespace, only what is older than an hour, first without removing
  rollcheck cleanup -A --older-than 1h --dry-run
  rollcheck cleanup -A --older-than 1h`

// CleanupOptions are the settings of one `rollcheck cleanup`.
type CleanupOptions struct {
	f *factory
	genericiooptions.IOStreams

	AllNamespaces bool
	DryRun        bool
	OlderThan     time.Duration

	namespace string // "" with AllNamespaces
}

func newCleanupCommand(f *factory, runF func(context.Context, *CleanupOptions) error) *cobra.Command {
	o := &CleanupOptions{f: f, IOStreams: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "cleanup [-n NAMESPACE | -A] [--dry-run] [--older-than DURATION]",
		Short: "Delete what runs with attackers left behind (owner ConfigMaps, attacker pods)",
		Long: `cleanup deletes the leftovers of 'rollcheck run --attackers' runs that did not
end normally (killed, or their machine lost): each run's owner ConfigMap
rollcheck-run-<id> (labelled ` + labelManagedBy + `=` + managedByValue + ` and ` + labelRun + `), whose
deletion takes the run's attacker pods with it (owner references, propagation
Background), and any attacker pod (` + labelRole + `=` + roleAttacker + `) still left. It prints
each object it deletes. A run that is still going is deleted too unless
--older-than spares it.

Needs list and delete on configmaps and pods in the namespace (every namespace
with -A).`,
		Example: cleanupExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("cleanup takes no arguments, got %q", args)
			}
			if err := o.Complete(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "clean up in every namespace")
	fl.BoolVar(&o.DryRun, "dry-run", false, "only print what would be deleted")
	fl.DurationVar(&o.OlderThan, "older-than", 0, "only runs (and attacker pods) created at least this long ago, to spare runs still going")
	return cmd
}

// Complete checks the flags and finds the namespace.
func (o *CleanupOptions) Complete() error {
	if o.OlderThan < 0 {
		return usagef("--older-than must not be negative, got %s", o.OlderThan)
	}
	ns, explicit, err := o.f.Namespace()
	if err != nil {
		return err
	}
	if o.AllNamespaces {
		if explicit {
			return usagef("give -n NAMESPACE or -A, not both")
		}
		ns = ""
	}
	o.namespace = ns
	return nil
}

// Run lists the leftovers, deletes them and prints each.
func (o *CleanupOptions) Run(ctx context.Context) error {
	client, err := o.f.KubeClient()
	if err != nil {
		return err
	}
	removed, err := cleanupRuns(ctx, client, cleanupConfig{
		Namespace: o.namespace, DryRun: o.DryRun, OlderThan: o.OlderThan, Now: o.f.now(),
	}, o.Out)
	if err != nil {
		return err
	}
	if removed == 0 {
		where := "any namespace"
		if o.namespace != "" {
			where = o.namespace + " namespace"
		}
		fmt.Fprintf(o.Out, "No rollcheck leftovers found in %s.\n", where)
	}
	return nil
}

// cleanupConfig is one cleanup: where, how old, whether for real.
type cleanupConfig struct {
	Namespace string // "" for every namespace
	DryRun    bool
	OlderThan time.Duration
	Now       time.Time
}

// cleanupRuns deletes the runs' owner ConfigMaps, then the attacker pods
// left (of those runs, or of runs whose ConfigMap is gone), printing a
// kubectl-style line for each, and returns how many it deleted.
func cleanupRuns(ctx context.Context, client kubernetes.Interface, cfg cleanupConfig, out io.Writer) (int, error) {
	old := func(m metav1.ObjectMeta) bool {
		return cfg.OlderThan == 0 || !m.CreationTimestamp.Time.After(cfg.Now.Add(-cfg.OlderThan))
	}
	runSelector := labelManagedBy + "=" + managedByValue + "," + labelRun
	cms, err := client.CoreV1().ConfigMaps(cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: runSelector})
	if err != nil {
		return 0, accessHint(err, "list", "configmaps", cfg.Namespace)
	}
	pods, err := client.CoreV1().Pods(cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: runSelector + "," + labelRole + "=" + roleAttacker})
	if err != nil {
		return 0, accessHint(err, "list", "pods", cfg.Namespace)
	}

	type runKey struct{ ns, run string }
	live := map[runKey]bool{}    // runs whose ConfigMap stays
	cleaned := map[runKey]bool{} // runs whose ConfigMap goes now
	var doomed []corev1.ConfigMap
	for _, cm := range cms.Items {
		k := runKey{cm.Namespace, cm.Labels[labelRun]}
		if cm.DeletionTimestamp != nil || !old(cm.ObjectMeta) {
			live[k] = cm.DeletionTimestamp == nil
			continue
		}
		cleaned[k] = true
		doomed = append(doomed, cm)
	}
	sort.Slice(doomed, func(i, j int) bool {
		return doomed[i].Namespace+"/"+doomed[i].Name < doomed[j].Namespace+"/"+doomed[j].Name
	})
	suffix := ""
	if cfg.DryRun {
		suffix = " (dry run)"
	}
	background := metav1.DeletePropagationBackground
	n := 0
	for _, cm := range doomed {
		if !cfg.DryRun {
			err := client.CoreV1().ConfigMaps(cm.Namespace).Delete(ctx, cm.Name, metav1.DeleteOptions{PropagationPolicy: &background})
			if apierrors.IsNotFound(err) {
				continue // another cleanup, or the run itself, was first
			}
			if err != nil {
				return n, accessHint(err, "delete", "configmaps", cm.Namespace)
			}
		}
		n++
		fmt.Fprintf(out, "configmap %q deleted from %s namespace%s\n", cm.Name, cm.Namespace, suffix)
	}

	var left []corev1.Pod
	for _, p := range pods.Items {
		k := runKey{p.Namespace, p.Labels[labelRun]}
		switch {
		case p.DeletionTimestamp != nil:
			continue // on its way out
		case cleaned[k]:
			// The garbage collector deletes it; deleting it here too makes
			// cleanup's output complete and does not wait on the collector.
		case live[k] || !old(p.ObjectMeta):
			continue
		}
		left = append(left, p)
	}
	sort.Slice(left, func(i, j int) bool { return left[i].Namespace+"/"+left[i].Name < left[j].Namespace+"/"+left[j].Name })
	for _, p := range left {
		if !cfg.DryRun {
			err := client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{PropagationPolicy: &background})
			if apierrors.IsNotFound(err) {
				continue // the garbage collector was first
			}
			if err != nil {
				return n, accessHint(err, "delete", "pods", p.Namespace)
			}
		}
		n++
		fmt.Fprintf(out, "pod %q deleted from %s namespace%s\n", p.Name, p.Namespace, suffix)
	}
	return n, nil
}

// accessHint words a forbidden answer as the permission cleanup needs.
func accessHint(err error, verb, resource, ns string) error {
	if !apierrors.IsForbidden(err) {
		return fmt.Errorf("%s %s: %w", verb, resource, err)
	}
	where := "in namespace " + ns
	if ns == "" {
		where = "in every namespace (-A; a ClusterRole)"
	}
	return fmt.Errorf("rollcheck cleanup needs list and delete on configmaps and pods %s; missing %s %s: %w",
		where, verb, resource, err)
}
