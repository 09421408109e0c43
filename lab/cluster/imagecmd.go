package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rollcheck/rollcheck/lab/image"
)

// newImageCommand returns `image build` and `image load`: the real node's
// images, built locally, and a user's image archives, loaded into its
// containerd (the lab has no registry).
func newImageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build the real node's images locally, or load image archives into a running real-node lab",
	}
	cmd.AddCommand(newImageBuildCommand(), newImageLoadCommand(), newImageRollcheckCommand())
	return cmd
}

type imageBuildOptions struct {
	binDir, out string
}

func newImageBuildCommand() *cobra.Command {
	o := &imageBuildOptions{}
	cmd := &cobra.Command{
		Use:   "build --bin-dir DIR --out DIR",
		Short: "Write the lab's images as docker-archive tarballs, one per image",
		Long: `Write the lab's images as docker-archive tarballs (what docker save writes),
one per image, into --out: ` + strings.Join(labRefs(), ", ") + `.

Each image is one layer of static binaries from --bin-dir (demo-app and agnhost,
built by make lab-node) plus ` + image.Busybox + ` (Debian's busybox-static) as
/bin/busybox with /bin/sh, /bin/sleep and /bin/cat; ` + image.NginxRef + ` holds
Debian's nginx from --bin-dir's ` + image.NginxRoot + ` (the package extracted by make
lab-node) with the host's libraries it links, and its config; ` + image.HttpdRef + `
Debian's Apache httpd from --bin-dir's ` + image.ApacheRoot + ` (apache2-bin) the same way. The same files
give the same digests. Prints each image's ref, archive, manifest digest and image ID
(the config digest, which containerd and crictl show after an import).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.binDir == "" || o.out == "" {
				return errors.New("--bin-dir and --out are required")
			}
			cmd.SilenceUsage = true
			return o.run(cmd)
		},
	}
	cmd.Flags().StringVar(&o.binDir, "bin-dir", "", "directory with the static demo-app and agnhost binaries, and nginx-root")
	cmd.Flags().StringVar(&o.out, "out", "", "directory to write the archives to (created if missing)")
	return cmd
}

func (o *imageBuildOptions) run(cmd *cobra.Command) error {
	built, err := image.WriteLab(o.binDir, o.out)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REF\tARCHIVE\tDIGEST\tIMAGE ID")
	for _, b := range built {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Ref, b.Path, b.Digest, b.ID)
	}
	return tw.Flush()
}

// labRefs are the references of the lab's images, for help texts.
func labRefs() []string {
	var refs []string
	for _, v := range image.DemoAppVersions {
		refs = append(refs, image.DemoAppRepo+":"+v)
	}
	return append(refs, image.AgnhostRef, image.PauseRef)
}

type imageLoadOptions struct {
	dir, ctr, baseName string
}

func newImageLoadCommand() *cobra.Command {
	o := &imageLoadOptions{ctr: "ctr"}
	cmd := &cobra.Command{
		Use:   "load --dir DIR [--base-name REPO] FILE...",
		Short: "Import image archives into the containerd of the real-node lab in DIR",
		Long: `Import image archives into the containerd of the real-node lab running in DIR
(namespace k8s.io, where its kubelet finds them), so that a manifest can name
your own application's image. Each FILE is a docker save tarball (gzip allowed),
an OCI archive tarball, or an OCI image layout directory.

Every FILE is checked before any is imported. An OCI archive that names its
images by tag only (e.g. "v1") needs --base-name, the repository they belong to.
Pods that run a loaded image need imagePullPolicy IfNotPresent (the default
unless the tag is latest) or Never: the lab reaches no registry.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.dir == "" {
				return errors.New("--dir is required")
			}
			cmd.SilenceUsage = true
			return o.run(cmd, args)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "lab directory")
	cmd.Flags().StringVar(&o.baseName, "base-name", "", "repository for images an OCI archive names by tag only (ctr's --base-name)")
	cmd.Flags().StringVar(&o.ctr, "ctr", o.ctr, "ctr binary")
	return cmd
}

func (o *imageLoadOptions) run(cmd *cobra.Command, files []string) error {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	im := image.Importer{Ctr: o.ctr, Socket: image.Socket(dir), BaseName: o.baseName, Out: cmd.OutOrStdout()}
	loaded, err := im.Load(cmd.Context(), files)
	for _, a := range loaded {
		fmt.Fprintf(cmd.OutOrStdout(), "loaded %s (%s): %s\n", a.Path, a.Format, strings.Join(a.Refs, ", "))
	}
	return err
}

type imageRollcheckOptions struct {
	binary, version, out, caBundle string
}

func newImageRollcheckCommand() *cobra.Command {
	o := &imageRollcheckOptions{caBundle: image.HostCABundle()}
	cmd := &cobra.Command{
		Use:   "rollcheck --binary FILE --version V --out FILE",
		Short: "Write rollcheck's own image (" + image.RollcheckRepo + ":V) as a docker-archive tarball",
		Long: `Write rollcheck's own image, ` + image.RollcheckRepo + `:V, the image attacker pods
run, as a docker-archive tarball (ctr images import and rollcheck-lab image load
read it), with no Docker daemon: one layer with the static binary at /rollcheck
(the entrypoint), /etc/passwd and /etc/group with a nonroot user (65532, the
image's user), the host's CA bundle when it has one, and /tmp. Prints
"image REF DIGEST" (the manifest digest). make image runs it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.binary == "" || o.version == "" || o.out == "" {
				return errors.New("--binary, --version and --out are required")
			}
			cmd.SilenceUsage = true
			spec, err := image.Rollcheck(o.binary, o.version, o.caBundle)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
				return err
			}
			b, err := image.WriteBuilt(spec, o.out)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "image %s %s\n", b.Ref, b.Digest)
			return err
		},
	}
	cmd.Flags().StringVar(&o.binary, "binary", "", "the static rollcheck binary (CGO_ENABLED=0)")
	cmd.Flags().StringVar(&o.version, "version", "", "rollcheck's version, the image's tag")
	cmd.Flags().StringVar(&o.out, "out", "", "the archive to write")
	cmd.Flags().StringVar(&o.caBundle, "ca-bundle", o.caBundle, "CA certificates to put in the image (default: the host's; \"\" for none)")
	return cmd
}
