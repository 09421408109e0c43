package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rollcheck/rollcheck/lab/apiwait"

	"github.com/spf13/cobra"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultStatusRelist is the relist period of `rollcheck-lab kubelet`:
// the real kubelet's PLEG relists every second.
const DefaultStatusRelist = time.Second

// Options are the flags of `rollcheck-lab kubelet`.
type Options struct {
	Kubeconfig        string
	NodeName          string
	Dir               string
	ImageMapFile      string
	PodCIDR           string
	Port              int
	ClientCAFile      string
	HeartbeatInterval time.Duration
	ShutdownGrace     time.Duration
	StatusRelist      time.Duration
	NodeLabels        map[string]string
	RegisterTaints    []string

	errOut io.Writer
}

// NewCommand returns the `rollcheck-lab kubelet` command.
func NewCommand() *cobra.Command {
	o := &Options{
		NodeName:          "lab-node",
		PodCIDR:           "198.51.100.0/24",
		HeartbeatInterval: 10 * time.Second,
		ShutdownGrace:     2 * time.Second,
		StatusRelist:      DefaultStatusRelist,
	}
	cmd := &cobra.Command{
		Use:   "kubelet --kubeconfig FILE --dir DIR",
		Short: "Run the lab's process kubelet: pods become local processes",
		Long: `Run the lab's process kubelet.

Pods bound to --node-name run as local processes. An image maps to an argv
prefix; the process argv is prefix + container command + container args (after
$(VAR) expansion). Built-in images:
  rollcheck/demo-app:*                         -> <dir of rollcheck-lab>/demo-app
                                                  (else <rollcheck-lab> app)
  registry.k8s.io/e2e-test-images/agnhost:*    -> <dir of rollcheck-lab>/agnhost
  rollcheck/rollcheck:*                        -> <dir of rollcheck-lab>/rollcheck
--image-map adds entries (YAML or JSON list of {image, command, portFlags}).

Every pod gets an IP label from --pod-cidr (never dialed) and a free 127.0.0.1
port per container port, published as annotation ` + PortsAnnotation + `
({"<containerPort>": <loopbackPort>}) and in the env as PORT (first port) and
PORT_<containerPort>.

The kubelet API (logs, exec, port-forward) listens on 127.0.0.1:--port over
HTTPS with a self-signed certificate; the Node's InternalIP is 127.0.0.1 and
its status.daemonEndpoints.kubeletEndpoint.Port the port, where the API server
(--kubelet-preferred-address-types=InternalIP) finds it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			o.errOut = cmd.ErrOrStderr()
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig of the lab cluster")
	f.StringVar(&o.NodeName, "node-name", o.NodeName, "name of the Node to register")
	f.StringVar(&o.Dir, "dir", o.Dir, "state directory; a container's runs log to DIR/pods/<ns>_<pod>/<container>/<restartCount>.log (CRI log format)")
	f.StringVar(&o.ImageMapFile, "image-map", o.ImageMapFile, "YAML/JSON file of extra image → command mappings")
	f.StringVar(&o.PodCIDR, "pod-cidr", o.PodCIDR, "pod IP range (labels only, never dialed); its first and last addresses are not given to pods")
	f.IntVar(&o.Port, "port", o.Port, "port of the kubelet API on 127.0.0.1; 0 picks a free one (published in the Node's daemonEndpoints)")
	f.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, "if set, the kubelet API requires client certificates signed by this CA")
	f.DurationVar(&o.HeartbeatInterval, "heartbeat-interval", o.HeartbeatInterval, "node lease and status heartbeat period")
	f.DurationVar(&o.ShutdownGrace, "shutdown-grace", o.ShutdownGrace, "on kubelet exit, time between SIGTERM and SIGKILL of pod processes")
	f.StringToStringVar(&o.NodeLabels, "node-labels", nil, "labels to add to the Node, KEY=VALUE,... (as the real kubelet's --node-labels)")
	f.StringSliceVar(&o.RegisterTaints, "register-with-taints", nil, "taints the Node registers with, KEY=VALUE:EFFECT,... (as the real kubelet's flag)")
	f.DurationVar(&o.StatusRelist, "status-relist", o.StatusRelist, "container starts and exits show in the pod status at the pod's next relist, this often (as a real kubelet's PLEG); readiness is reported at once; 0 reports every change at once")
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.Kubeconfig == "" {
		return errors.New("--kubeconfig is required")
	}
	if o.Dir == "" {
		return errors.New("--dir is required")
	}
	if o.NodeName == "" {
		return errors.New("--node-name must not be empty")
	}
	if _, err := netip.ParsePrefix(o.PodCIDR); err != nil {
		return fmt.Errorf("--pod-cidr: %w", err)
	}
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("--port %d: must be 0 (a free port) to 65535", o.Port)
	}
	if o.HeartbeatInterval <= 0 {
		return errors.New("--heartbeat-interval must be positive")
	}
	if o.StatusRelist < 0 {
		return errors.New("--status-relist must be 0 (at once) or positive")
	}
	if _, err := parseTaints(o.RegisterTaints); err != nil {
		return err
	}
	return nil
}

// parseTaints reads KEY=VALUE:EFFECT (or KEY:EFFECT) taints.
func parseTaints(specs []string) ([]v1.Taint, error) {
	var out []v1.Taint
	for _, s := range specs {
		kv, effect, ok := strings.Cut(s, ":")
		key, val, _ := strings.Cut(kv, "=")
		e := v1.TaintEffect(effect)
		if !ok || key == "" || (e != v1.TaintEffectNoSchedule && e != v1.TaintEffectPreferNoSchedule && e != v1.TaintEffectNoExecute) {
			return nil, fmt.Errorf("--register-with-taints %q: want KEY=VALUE:EFFECT, EFFECT one of NoSchedule, PreferNoSchedule, NoExecute", s)
		}
		out = append(out, v1.Taint{Key: key, Value: val, Effect: e})
	}
	return out, nil
}

// Run connects to the cluster and runs the kubelet until ctx is done.
func (o *Options) Run(ctx context.Context) error {
	restCfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	restCfg.UserAgent = "rollcheck-lab-kubelet"
	// The real kubelet's kubeAPIQPS/kubeAPIBurst defaults (50/100). With
	// client-go's 5/10, status writes of a rollout queue up for seconds and
	// every pod transition reaches the API server late.
	restCfg.QPS, restCfg.Burst = 50, 100
	// Ride out an API server restart as a kubelet of an HA control plane
	// does, instead of backing off for seconds after it (package apiwait).
	restCfg.Wrap(apiwait.Wrap)
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	images := DefaultImageMap(exe, filepath.Join(filepath.Dir(exe), "agnhost"), filepath.Join(filepath.Dir(exe), "rollcheck"))
	if r, ok := DemoAppRule(filepath.Dir(exe)); ok {
		images.Add(r)
	}
	if o.ImageMapFile != "" {
		if err := images.LoadFile(o.ImageMapFile); err != nil {
			return err
		}
	}
	prefix, _ := netip.ParsePrefix(o.PodCIDR)
	errOut := o.errOut
	if errOut == nil {
		errOut = os.Stderr
	}
	logger := log.New(errOut, "kubelet: ", log.LstdFlags|log.Lmicroseconds)
	taints, _ := parseTaints(o.RegisterTaints)
	k, err := New(client, Config{
		NodeName:          o.NodeName,
		NodeLabels:        o.NodeLabels,
		RegisterTaints:    taints,
		Dir:               o.Dir,
		PodCIDR:           prefix,
		Images:            images,
		HeartbeatInterval: o.HeartbeatInterval,
		ShutdownGrace:     o.ShutdownGrace,
		StatusRelist:      o.StatusRelist,
		Port:              o.Port,
		ClientCAFile:      o.ClientCAFile,
		Logf:              logger.Printf,
	})
	if err != nil {
		return err
	}
	return k.Run(ctx)
}
