package image

import (
	"fmt"
	"os"
)

// RollcheckRepo is the repository of rollcheck's own image, which attacker
// pods run (`rollcheck attack`); the tag is rollcheck's version.
const RollcheckRepo = "rollcheck/rollcheck"

// NonrootUID is the user rollcheck's image runs as: distroless's nonroot.
// Numeric in the image config, so that a pod's runAsNonRoot can be checked.
const NonrootUID = 65532

// CABundles are where hosts keep their CA certificates (Debian and Ubuntu,
// Fedora and RHEL, Alpine/openSUSE); the first present goes into the image
// so that attackers can load https targets.
var CABundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
}

// caBundlePath is where the image keeps the CA bundle: where Go's
// crypto/x509 looks first on Linux, so no SSL_CERT_FILE is needed.
const caBundlePath = "/etc/ssl/certs/ca-certificates.crt"

// Rollcheck is rollcheck's image, distroless-like: the static binary at
// /rollcheck (the entrypoint), /etc/passwd and /etc/group with root and
// nonroot, the host's CA bundle when it has one (caBundle; "" for none),
// a /tmp, and no shell. It runs as NonrootUID.
func Rollcheck(binary, version, caBundle string) (Spec, error) {
	if version == "" {
		return Spec{}, fmt.Errorf("rollcheck image: no version for the tag")
	}
	if err := checkStatic(binary); err != nil {
		return Spec{}, fmt.Errorf("rollcheck image: %w (make image builds it with CGO_ENABLED=0)", err)
	}
	uid := fmt.Sprint(NonrootUID)
	files := []File{
		{Path: "/rollcheck", Source: binary, Mode: 0o755},
		{Path: "/etc/passwd", Mode: 0o644, Content: []byte("root:x:0:0:root:/root:/sbin/nologin\n" +
			"nonroot:x:" + uid + ":" + uid + ":nonroot:/tmp:/sbin/nologin\n")},
		{Path: "/etc/group", Mode: 0o644, Content: []byte("root:x:0:\nnonroot:x:" + uid + ":\n")},
		{Path: "/tmp", Dir: true, Mode: 0o1777},
	}
	if caBundle != "" {
		if err := checkFile(caBundle); err != nil {
			return Spec{}, fmt.Errorf("rollcheck image: CA bundle: %w", err)
		}
		files = append(files, File{Path: caBundlePath, Source: caBundle, Mode: 0o644})
	}
	return Spec{
		Ref:        RollcheckRepo + ":" + version,
		Files:      files,
		Entrypoint: []string{"/rollcheck"},
		User:       uid + ":" + uid,
	}, nil
}

// HostCABundle returns the first of CABundles present on this host, or ""
// when none is.
func HostCABundle() string {
	for _, p := range CABundles {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
