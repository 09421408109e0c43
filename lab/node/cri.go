package node

import (
	"context"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criClient connects to containerd's CRI runtime service at socket.
func criClient(socket string) (runtimeapi.RuntimeServiceClient, func(), error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	return runtimeapi.NewRuntimeServiceClient(conn), func() { _ = conn.Close() }, nil
}

// RuntimeReady reports whether containerd answers the CRI API at socket.
func RuntimeReady(ctx context.Context, socket string) error {
	if _, err := os.Stat(socket); err != nil {
		return err // not yet: no dial (and no gRPC log line) before it exists
	}
	rs, done, err := criClient(socket)
	if err != nil {
		return err
	}
	defer done()
	_, err = rs.Version(ctx, &runtimeapi.VersionRequest{})
	return err
}

// RemovePods stops and removes every pod sandbox (and so every container)
// through containerd's CRI API at socket. Run it after the kubelet has
// stopped (or it would start them again) and before containerd stops (or
// the shims and their containers stay behind).
func RemovePods(ctx context.Context, socket string) error {
	rs, done, err := criClient(socket)
	if err != nil {
		return err
	}
	defer done()
	list, err := rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("list pod sandboxes: %w", err)
	}
	var errs []error
	for _, sb := range list.Items {
		if _, err := rs.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("stop pod sandbox %s: %w", sb.Id, err))
			continue
		}
		if _, err := rs.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("remove pod sandbox %s: %w", sb.Id, err))
		}
	}
	return errors.Join(errs...)
}
