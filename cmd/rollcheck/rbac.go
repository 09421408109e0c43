package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/rollcheck/rollcheck/check"
	"github.com/rollcheck/rollcheck/rollout"
)

const rbacExample = `  # The Role for restarting deployment/web in namespace shop
  rollcheck rbac -n shop deployment/web --restart

  # A StatefulSet's: statefulsets in place of deployments, no replicasets
  rollcheck rbac -n shop statefulset/db --set-image app=db:2

  # ... bound to the ServiceAccount a CI job runs as, applied at once
  rollcheck rbac -n shop deployment/web --restart --serviceaccount ci | kubectl apply -f -

  # The same flags as the run, so a run command line works with run replaced by rbac
  rollcheck rbac -f scenarios/as-is.scenario.yaml --target http://127.0.0.1:8080/

  # Blue/green needs patch on the Service instead of on the Deployments
  rollcheck rbac --switch-service web --selector color=green --user alice`

// rbacTarget stands in for --target when none is given: the run's Validate
// wants one, and the permissions do not depend on it.
const rbacTarget = "http://rollcheck.invalid/"

// RBACOptions are the settings of one `rollcheck rbac`.
type RBACOptions struct {
	genericiooptions.IOStreams

	// Name is the name of the Role and the RoleBinding.
	Name string
	// ServiceAccounts ([NAMESPACE:]NAME) and Users are the RoleBinding's
	// subjects; with neither there is no RoleBinding.
	ServiceAccounts []string
	Users           []string

	// Config is the run whose permissions are printed, as the run command
	// itself parses its flags and scenario file.
	Config check.Config

	subjects []rbacv1.Subject
}

func newRBACCommand(f *factory, runF func(context.Context, *RBACOptions) error) *cobra.Command {
	o := &RBACOptions{IOStreams: f.IOStreams, Name: "rollcheck"}
	// The run command parses the flags: rbac takes whatever run takes, in
	// the same way, so the two cannot disagree on what a run does.
	run := newRunCommand(f, func(_ context.Context, ro *RunOptions) error {
		o.Config = ro.Config
		return nil
	})
	cmd := &cobra.Command{
		Use:   "rbac [deployment/NAME] (--restart | --set-image CONTAINER=IMAGE | --apply FILE | --watch-only | --switch-service NAME --selector K=V | --canary NAME --canary-steps S/C,... | --canary-route NAME --canary-service NAME --canary-weights S/C,...) [--serviceaccount [NAMESPACE:]NAME] [--user NAME]",
		Short: "Print the Role (and RoleBinding) a run with these flags needs",
		Long: `rbac prints, as YAML for kubectl apply, the smallest Role that lets a run with
the same flags pass its permission check: the permissions are read from the
list the check asks for with SelfSubjectAccessReviews, so the two cannot
drift. It takes every flag of 'rollcheck run' (the load flags are accepted
and ignored; --target is not needed) and reads nothing from the cluster.

With --serviceaccount or --user it also prints a RoleBinding of the Role to
them.

A blue/green switch and a weighted canary find their Deployments from the
Services at run time, so their Role grants get on any Deployment of the
namespace; a weighted canary gets and patches its HTTPRoute, and nothing else
of the Gateway API. A run also lists
Ingresses and gets its Namespace for the preflight checks, and lists
Ingresses and HTTPRoutes to infer the front (--front auto), when it may;
these are optional (the run warns, or the front's why says what it could not
read) and left out of the Role.`,
		Example: rbacExample,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("target") {
				if err := cmd.Flags().Set("target", rbacTarget); err != nil {
					return err
				}
			}
			// Complete and Validate of the run, with this command's usage.
			if err := run.RunE(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				fmt.Fprintln(o.ErrOut, cmd.UsageString())
				return usageError{err}
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.AddFlagSet(run.Flags())
	fl.StringVar(&o.Name, "name", o.Name, "name of the Role and the RoleBinding")
	fl.StringArrayVar(&o.ServiceAccounts, "serviceaccount", nil, "bind the Role to this ServiceAccount, [NAMESPACE:]NAME (repeatable; default namespace: the run's)")
	// As in 'kubectl create rolebinding', --user names a subject here, not
	// the kubeconfig user: rbac does not talk to the cluster.
	fl.StringArrayVar(&o.Users, "user", nil, "bind the Role to this user (repeatable)")
	return cmd
}

// Validate parses the subjects.
func (o *RBACOptions) Validate() error {
	if o.Name == "" {
		return fmt.Errorf("--name must not be empty")
	}
	o.subjects = nil
	for _, sa := range o.ServiceAccounts {
		ns, name, found := strings.Cut(sa, ":")
		if !found {
			ns, name = o.Config.Namespace, sa
		}
		if ns == "" || name == "" {
			return fmt.Errorf("--serviceaccount %q: want NAME or NAMESPACE:NAME", sa)
		}
		o.subjects = append(o.subjects, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name})
	}
	for _, u := range o.Users {
		if u == "" {
			return fmt.Errorf("--user must not be empty")
		}
		o.subjects = append(o.subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u})
	}
	return nil
}

// Run prints the Role, and the RoleBinding when there are subjects.
func (o *RBACOptions) Run(context.Context) error {
	// One Role (and RoleBinding) per namespace: attackers may run in
	// another one (--attacker-namespace).
	var objs []any
	var namespaces []string
	byNS := map[string][]rollout.Permission{}
	for _, p := range o.Config.Permissions(o.Config.Deployments()...) {
		if _, ok := byNS[p.Namespace]; !ok {
			namespaces = append(namespaces, p.Namespace)
		}
		byNS[p.Namespace] = append(byNS[p.Namespace], p)
	}
	for _, ns := range namespaces {
		if ns == "" {
			// A drain's node and its pods in every namespace: a
			// ClusterRole.
			objs = append(objs, rbacClusterRole(o.Name, byNS[ns]))
			if len(o.subjects) > 0 {
				objs = append(objs, &rbacv1.ClusterRoleBinding{
					TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
					ObjectMeta: metav1.ObjectMeta{Name: o.Name},
					Subjects:   o.subjects,
					RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: o.Name},
				})
			}
			continue
		}
		objs = append(objs, rbacRole(o.Name, ns, byNS[ns]))
		if len(o.subjects) > 0 {
			objs = append(objs, &rbacv1.RoleBinding{
				TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: ns},
				Subjects:   o.subjects,
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: o.Name},
			})
		}
	}
	if err := writeRBAC(o.Out, o.Config, objs); err != nil {
		return fmt.Errorf("writing rbac: %w", err)
	}
	return nil
}

// rbacRole grants perms and nothing else: one rule per resource for the
// collection, and one per resource for the named objects, with their
// names. Rules and verbs keep the order of perms.
func rbacRole(name, namespace string, perms []rollout.Permission) *rbacv1.Role {
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Rules:      rbacRules(perms),
	}
}

// rbacClusterRole grants the cluster-scoped perms (Namespace "") as
// rbacRole does the others.
func rbacClusterRole(name string, perms []rollout.Permission) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      rbacRules(perms),
	}
}

func rbacRules(perms []rollout.Permission) []rbacv1.PolicyRule {
	type key struct {
		group, resource string
		named           bool
	}
	var keys []key
	rules := map[key]*rbacv1.PolicyRule{}
	for _, p := range perms {
		resource := p.Resource
		if p.Subresource != "" {
			resource += "/" + p.Subresource
		}
		k := key{p.Group, resource, p.Name != ""}
		r, ok := rules[k]
		if !ok {
			r = &rbacv1.PolicyRule{APIGroups: []string{p.Group}, Resources: []string{resource}}
			rules[k] = r
			keys = append(keys, k)
		}
		if !slices.Contains(r.Verbs, p.Verb) {
			r.Verbs = append(r.Verbs, p.Verb)
		}
		if p.Name != "" && !slices.Contains(r.ResourceNames, p.Name) {
			r.ResourceNames = append(r.ResourceNames, p.Name)
		}
	}
	var out []rbacv1.PolicyRule
	for _, k := range keys {
		out = append(out, *rules[k])
	}
	return out
}

// writeRBAC writes objs as a multi-document YAML stream, after a comment
// that says which run they are for.
func writeRBAC(w io.Writer, cfg check.Config, objs []any) error {
	what := cfg.Ref()
	switch {
	case cfg.Switch != nil:
		what = "service/" + cfg.Switch.Service
	case cfg.Canary != nil:
		what += " and deployment/" + cfg.Canary.Deployment
	case cfg.Weights != nil:
		what = "httproute/" + cfg.Weights.Route
	}
	if _, err := fmt.Fprintf(w, "# What 'rollcheck run' needs for %s (%s) in namespace %s:\n# the permissions its access check asks for.\n", what, cfg.Action.Kind, cfg.Namespace); err != nil {
		return err
	}
	for i, obj := range objs {
		data, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}
