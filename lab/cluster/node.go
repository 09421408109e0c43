package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/rollcheck/rollcheck/lab/image"
	"github.com/rollcheck/rollcheck/lab/node"
)

// Node modes of up.
const (
	nodeProcess = "process" // the lab's own process kubelet (no root, no runtime)
	nodeReal    = "real"    // upstream kubelet, containerd, kube-proxy in a network namespace
)

// realNode is one real node of an `up --node real`: its layout on the
// host, its configuration and the binaries it runs.
type realNode struct {
	layout    node.Layout
	cfg       node.Config
	exe       string // rollcheck-lab, for node-relay and node-exec
	kubelet   string
	kubeProxy string
}

// newRealNodes returns the lab's real nodes (--nodes of them): NAME,
// NAME-2, ... in zones lab-a, lab-b, ...; every node but the first
// registers with --extra-node-taint.
func newRealNodes(o *upOptions, kubeconfig string) ([]*realNode, error) {
	binDir := filepath.Dir(o.exe)
	if err := node.CheckHost(binDir); err != nil {
		return nil, err
	}
	count := max(o.nodes, 1)
	out := make([]*realNode, count)
	for i := range out {
		l := node.NodeLayout(o.dir, i)
		n := &realNode{
			layout: l,
			cfg: node.Config{
				NodeName:     o.nodeName + nodeSuffix(i),
				Kubeconfig:   kubeconfig,
				ProxyMode:    o.proxyMode,
				SandboxImage: image.PauseRef,
				Nodes:        count,
				Zone:         "lab-" + string(rune('a'+i)),
			},
			exe:       o.exe,
			kubelet:   filepath.Join(binDir, "kubelet"),
			kubeProxy: filepath.Join(binDir, "kube-proxy"),
		}
		if i > 0 {
			n.cfg.Taint = o.extraTaint
		}
		n.cfg.ProxyMinSync = o.proxyMinSync[n.cfg.NodeName]
		n.cfg.LogMaxSize = o.logMaxSize
		if err := n.layout.Validate(); err != nil {
			return nil, err
		}
		if err := n.cfg.Validate(); err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// nodeSuffix is "" for the first node, "-2", "-3", ... for the others: of
// their Node names and of their components' names.
func nodeSuffix(i int) string {
	if i == 0 {
		return ""
	}
	return fmt.Sprintf("-%d", i+1)
}

// component is the name of the node's component base ("kubelet" of the
// second node is "kubelet-2"), as the supervisor and the logs name it.
func (n *realNode) component(base string) string { return base + nodeSuffix(n.layout.Index) }

// describe is up's line about the node, with the versions that run.
func (n *realNode) describe(ctx context.Context) string {
	kubelet := versionWord(ctx, n.kubelet, 1, "--version")       // "Kubernetes v1.35.4"
	containerd := versionWord(ctx, "containerd", 2, "--version") // "containerd github.com/containerd/containerd 1.6.20~ds1 ..."
	containerd, _, _ = strings.Cut(containerd, "~")
	return fmt.Sprintf("node: real (kubelet %s, containerd %s, kube-proxy %s) in network namespace %s",
		kubelet, containerd, n.cfg.ProxyMode, n.layout.Namespace)
}

// versionWord returns word i of `bin args`' output, or "?".
func versionWord(ctx context.Context, bin string, i int, args ...string) string {
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if f := strings.Fields(string(out)); err == nil && len(f) > i {
		return f[i]
	}
	return "?"
}

// startRuntime prepares the host (namespace, configuration, cgroups; a
// crashed earlier run's leftovers are removed first) and starts containerd
// in the namespace. Once the lab stops, containerd's pods are removed
// through CRI before it is stopped, so that no shim stays behind.
func (n *realNode) startRuntime(ctx context.Context, sup *supervisor) error {
	if err := node.Prepare(ctx, n.layout, n.cfg); err != nil {
		return fmt.Errorf("real node: %w", err)
	}
	socket := n.layout.ContainerdSocket()
	return sup.start(&child{
		name:  n.component("containerd"),
		grace: 10 * time.Second,
		argv:  node.ContainerdCommand(n.layout),
		preStop: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = node.RemovePods(ctx, socket)
		},
	})
}

// importImages waits until containerd serves, then writes the lab's images
// (image.Lab) and imports them. It reports on out.
func (n *realNode) importImages(ctx context.Context, out io.Writer) error {
	socket := n.layout.ContainerdSocket()
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		err := node.RuntimeReady(rctx, socket)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("containerd does not answer on %s: %v", socket, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	began := time.Now()
	paths, err := n.imageArchives()
	if err != nil {
		return fmt.Errorf("build the lab's images: %w", err)
	}
	// rollcheck's own image (make image), which attacker pods run, when
	// it was built.
	if p := filepath.Join(filepath.Dir(n.exe), rollcheckImage); fileExists(p) {
		paths = append(paths, p)
	}
	for _, p := range paths {
		if err := image.Import(ctx, "ctr", socket, p); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "real node %s: %d images imported in %s\n", n.cfg.NodeName, len(paths), time.Since(began).Round(10*time.Millisecond))
	return nil
}

// rollcheckImage is where make image writes rollcheck's image, relative
// to the directory of rollcheck-lab.
const rollcheckImage = "image/rollcheck.tar"

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// prebuiltImagesDir is where make lab-node writes the lab's image archives
// (rollcheck-lab image build --out BIN/images), next to the binaries, with
// sourcesFile: sha256sum's lines for the files the images are made of.
const (
	prebuiltImagesDir = "images"
	sourcesFile       = "sources.sha256"
)

// imageArchives returns an archive for each of the lab's images: the one
// make lab-node wrote if the files it is made of are still the same, else
// one written now into the node's directory (seconds of CPU: the layers are
// compressed; importing takes about a second each).
func (n *realNode) imageArchives() ([]string, error) {
	binDir := filepath.Dir(n.exe)
	specs, err := image.Lab(binDir)
	if err != nil {
		return nil, err
	}
	built := readSums(filepath.Join(binDir, prebuiltImagesDir, sourcesFile))
	now := map[string]string{}
	same := func(files []image.File) bool {
		for _, f := range files {
			if f.Source == "" {
				continue
			}
			if _, ok := now[f.Source]; !ok {
				now[f.Source], _ = fileSum(f.Source)
			}
			if now[f.Source] == "" || built[f.Source] != now[f.Source] {
				return false
			}
		}
		return true
	}
	var paths []string
	for _, spec := range specs {
		name := image.FileName(spec.Ref)
		prebuilt := filepath.Join(binDir, prebuiltImagesDir, name)
		if _, err := os.Stat(prebuilt); err == nil && same(spec.Files) {
			paths = append(paths, prebuilt)
			continue
		}
		p := filepath.Join(n.layout.ImagesDir(), name)
		if err := image.Write(spec, p); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// readSums reads sha256sum output into path → hex digest.
func readSums(file string) map[string]string {
	sums := map[string]string{}
	data, err := os.ReadFile(file)
	if err != nil {
		return sums
	}
	for _, line := range strings.Split(string(data), "\n") {
		if sum, path, ok := strings.Cut(line, "  "); ok {
			sums[path] = sum
		}
	}
	return sums
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// startNode starts the relay, the kubelet and kube-proxy. apiserver is the
// API server's host address, 127.0.0.1:PORT.
func (n *realNode) startNode(sup *supervisor, apiserver string) error {
	_, port, err := net.SplitHostPort(apiserver)
	if err != nil {
		return err
	}
	relay := node.Relay{Netns: n.layout.NetnsPath(), APIServer: apiserver, EgressSocket: n.layout.EgressSocket(),
		PodAddr: net.JoinHostPort(n.layout.NodeIP(), port)}
	for _, c := range []*child{
		{name: n.component(node.RelayCommandName), grace: 5 * time.Second,
			argv: append([]string{n.exe, node.RelayCommandName}, node.RelayArgs(relay)...)},
		// A real kubelet leaves its pods running when it stops; the pods go
		// with containerd's preStop.
		{name: n.component("kubelet"), grace: 10 * time.Second, argv: node.KubeletCommand(n.layout, n.cfg, n.exe, n.kubelet)},
		{name: n.component("kube-proxy"), grace: 10 * time.Second, argv: node.KubeProxyCommand(n.layout, n.kubeProxy)},
	} {
		if err := sup.start(c); err != nil {
			return err
		}
	}
	return nil
}

// publishAPIServer gives the kubernetes Service (default/kubernetes, whose
// ClusterIP the API server's certificate names) the endpoint the relay
// serves for pods, the node's address and the API server's port, as the API
// server's own endpoint reconciler would in a cluster: pods then reach the
// API server through kube-proxy with their ServiceAccount, in-cluster. The
// lab runs that reconciler off (its address, 127.0.0.1, is no endpoint).
func publishAPIServer(ctx context.Context, cs kubernetes.Interface, port int32) error {
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault, Labels: map[string]string{
			discoveryv1.LabelServiceName: "kubernetes",
			discoveryv1.LabelManagedBy:   "rollcheck-lab",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{node.NodeIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	slices := cs.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault)
	_, err := slices.Create(ctx, slice, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		old, gerr := slices.Get(ctx, slice.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		slice.ResourceVersion = old.ResourceVersion
		_, err = slices.Update(ctx, slice, metav1.UpdateOptions{})
	}
	return err
}

// teardown removes what the node left on the host once its processes are
// stopped: mounts, cgroups, the namespace.
func (n *realNode) teardown() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return node.Teardown(ctx, n.layout)
}
