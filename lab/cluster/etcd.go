package cluster

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/embed"
)

type etcdOptions struct {
	dir          string
	listenClient string
	listenPeer   string
}

func newEtcdCommand() *cobra.Command {
	o := &etcdOptions{}
	cmd := &cobra.Command{
		Use:   "etcd --dir DIR --listen-client 127.0.0.1:PORT",
		Short: "Run an embedded single-member etcd with its data in DIR/etcd until SIGINT/SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.dir == "" || o.listenClient == "" {
				return errors.New("--dir and --listen-client are required")
			}
			cmd.SilenceUsage = true
			return o.run(cmd)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "lab directory; etcd keeps its data in DIR/etcd")
	cmd.Flags().StringVar(&o.listenClient, "listen-client", "", "client address, host:port")
	cmd.Flags().StringVar(&o.listenPeer, "listen-peer", "127.0.0.1:0", "peer address, host:port (port 0 picks a free one)")
	return cmd
}

func (o *etcdOptions) run(cmd *cobra.Command) error {
	client, err := url.Parse("http://" + o.listenClient)
	if err != nil {
		return fmt.Errorf("--listen-client: %w", err)
	}
	peerAddr := o.listenPeer
	if host, port, err := splitHostPort(peerAddr); err == nil && port == 0 {
		p, err := freePort(host)
		if err != nil {
			return err
		}
		peerAddr = fmt.Sprintf("%s:%d", host, p)
	}
	peer, err := url.Parse("http://" + peerAddr)
	if err != nil {
		return fmt.Errorf("--listen-peer: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "lab"
	cfg.Dir = filepath.Join(o.dir, "etcd")
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	// Left at zero, every request would be logged as expensive.
	cfg.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration
	// The lab's data is disposable; fsync only slows the demo down.
	cfg.UnsafeNoFsync = true

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		fmt.Fprintf(cmd.OutOrStdout(), "etcd ready on %s\n", client)
	case <-time.After(60 * time.Second):
		return errors.New("etcd did not become ready in 60s")
	case <-cmd.Context().Done():
		return nil
	}
	select {
	case err := <-e.Err():
		return err
	case <-cmd.Context().Done():
		return nil
	}
}
