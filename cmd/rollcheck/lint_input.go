package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/rollcheck/rollcheck/manifest"
	"github.com/rollcheck/rollcheck/preflight"
	"github.com/rollcheck/rollcheck/rollout"
)

// manifests are the objects read from the -f inputs.
type manifests struct {
	// workloads are the Deployments, StatefulSets and DaemonSets, one
	// per Input, in the order of the input.
	workloads  []preflight.Input
	services   []corev1.Service
	ingresses  []networkingv1.Ingress
	namespaces []*corev1.Namespace
	pdbs       []policyv1.PodDisruptionBudget
}

// readFiles parses every -f input and pairs each workload (Deployment,
// StatefulSet, DaemonSet) with the rest.
func (o *LintOptions) readFiles() ([]preflight.Input, error) {
	var m manifests
	for _, name := range o.Filenames {
		var r io.Reader
		if name == "-" {
			r, name = o.In, "stdin"
		} else {
			f, err := os.Open(name)
			if err != nil {
				return nil, usageError{fmt.Errorf("reading manifests: %w", err)}
			}
			defer f.Close()
			r = f
		}
		if err := m.read(name, r); err != nil {
			return nil, usageError{err}
		}
	}
	if len(m.workloads) == 0 {
		return nil, usageError{fmt.Errorf("no Deployment, StatefulSet or DaemonSet (apps/v1) in %s: nothing to check", strings.Join(o.Filenames, ", "))}
	}
	// Objects without a namespace land where kubectl apply would put them:
	// the --namespace given, else the one Namespace of the input, else
	// "default".
	def := "default"
	if o.nsExplicit && o.Namespace != "" {
		def = o.Namespace
	} else if len(m.namespaces) == 1 {
		def = m.namespaces[0].Name
	}
	orDef := func(ns string) string {
		if ns == "" {
			return def
		}
		return ns
	}
	for i := range m.services {
		m.services[i].Namespace = orDef(m.services[i].Namespace)
	}
	for i := range m.ingresses {
		m.ingresses[i].Namespace = orDef(m.ingresses[i].Namespace)
	}
	for i := range m.pdbs {
		m.pdbs[i].Namespace = orDef(m.pdbs[i].Namespace)
	}
	var inputs []preflight.Input
	templates := make([]preflight.PodTemplate, 0, len(m.workloads))
	for _, in := range m.workloads {
		_, meta := inputWorkload(in)
		meta.Namespace = orDef(meta.Namespace)
		templates = append(templates, preflight.TemplateOf(in))
	}
	for _, in := range m.workloads {
		_, meta := inputWorkload(in)
		in.Services, in.Ingresses, in.PDBs, in.PodTemplates = m.services, m.ingresses, m.pdbs, templates
		for _, ns := range m.namespaces {
			if ns.Name == meta.Namespace {
				in.Namespace = ns
			}
		}
		inputs = append(inputs, in)
	}
	return inputs, nil
}

// inputWorkload is the kind and the metadata of in's workload, the first
// set of Deployment, StatefulSet and DaemonSet as preflight.Check takes it.
func inputWorkload(in preflight.Input) (rollout.Kind, *metav1.ObjectMeta) {
	switch {
	case in.Deployment != nil:
		return rollout.KindDeployment, &in.Deployment.ObjectMeta
	case in.StatefulSet != nil:
		return rollout.KindStatefulSet, &in.StatefulSet.ObjectMeta
	case in.DaemonSet != nil:
		return rollout.KindDaemonSet, &in.DaemonSet.ObjectMeta
	}
	return "", &metav1.ObjectMeta{}
}

var (
	gvkDeployment  = appsv1.SchemeGroupVersion.WithKind("Deployment")
	gvkStatefulSet = appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	gvkDaemonSet   = appsv1.SchemeGroupVersion.WithKind("DaemonSet")
	gvkService     = corev1.SchemeGroupVersion.WithKind("Service")
	gvkNamespace   = corev1.SchemeGroupVersion.WithKind("Namespace")
	gvkIngress     = networkingv1.SchemeGroupVersion.WithKind("Ingress")
	gvkPDB         = policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget")
	gvkList        = corev1.SchemeGroupVersion.WithKind("List")
)

// read adds the objects of one multi-document YAML (or JSON) stream.
func (m *manifests) read(name string, r io.Reader) error {
	docs, err := manifest.Read(r)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for _, doc := range docs {
		if err := m.add(doc); err != nil {
			return fmt.Errorf("%s: document %d: %w", name, doc.Index, err)
		}
	}
	return nil
}

// add decodes one document. Unknown fields are errors (manifest decodes
// strictly): a misspelt readinessProbe would otherwise read as a missing one.
func (m *manifests) add(doc manifest.Document) error {
	if doc.Empty() {
		return nil // an empty item of a List
	}
	tm, err := doc.TypeMeta()
	if err != nil {
		return fmt.Errorf("not a Kubernetes object: %w", err)
	}
	if tm.Kind == "" || tm.APIVersion == "" {
		return errors.New("not a Kubernetes object: apiVersion and kind are required")
	}
	gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
	strict := func(into any) error {
		if err := doc.Decode(into); err != nil {
			return fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
		}
		return nil
	}
	switch gvk {
	case gvkDeployment:
		d := &appsv1.Deployment{}
		if err := strict(d); err != nil {
			return err
		}
		m.workloads = append(m.workloads, preflight.Input{Deployment: d})
	case gvkStatefulSet:
		s := &appsv1.StatefulSet{}
		if err := strict(s); err != nil {
			return err
		}
		m.workloads = append(m.workloads, preflight.Input{StatefulSet: s})
	case gvkDaemonSet:
		d := &appsv1.DaemonSet{}
		if err := strict(d); err != nil {
			return err
		}
		m.workloads = append(m.workloads, preflight.Input{DaemonSet: d})
	case gvkService:
		s := corev1.Service{}
		if err := strict(&s); err != nil {
			return err
		}
		m.services = append(m.services, s)
	case gvkIngress:
		i := networkingv1.Ingress{}
		if err := strict(&i); err != nil {
			return err
		}
		m.ingresses = append(m.ingresses, i)
	case gvkPDB:
		p := policyv1.PodDisruptionBudget{}
		if err := strict(&p); err != nil {
			return err
		}
		m.pdbs = append(m.pdbs, p)
	case gvkNamespace:
		n := &corev1.Namespace{}
		if err := strict(n); err != nil {
			return err
		}
		m.namespaces = append(m.namespaces, n)
	case gvkList:
		var l struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(doc.JSON, &l); err != nil {
			return fmt.Errorf("v1 List: %w", err)
		}
		for i, raw := range l.Items {
			item, err := manifest.Parse(raw)
			if err == nil {
				err = m.add(item)
			}
			if err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
	default:
		if !scheme.Scheme.Recognizes(gvk) {
			return fmt.Errorf("unknown kind %s %s: lint reads Kubernetes built-in kinds (Deployment, StatefulSet and DaemonSet apps/v1, Service v1, Ingress networking.k8s.io/v1, Namespace v1, PodDisruptionBudget policy/v1 are checked)", tm.APIVersion, tm.Kind)
		}
		// Another built-in kind (ConfigMap, HPA, ...): not part of the rules.
	}
	return nil
}
