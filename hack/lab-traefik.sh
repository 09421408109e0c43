#!/usr/bin/env bash
# make lab-traefik: build Traefik (the lab's ingress and Gateway API
# fronts, up --ingress and --gateway) from its Go module and copy it to OUT
# (bin/traefik), with the Gateway API's standard CRDs beside it
# (bin/gateway-api-crds/).
#
# Traefik cannot be a dependency of the lab module (its go.mod has replace
# directives, which `go install pkg@version` refuses), so the module's source
# is copied out of the read-only module cache into a fixed directory beside
# the Go build cache and built there, under its own go.mod. The first build
# takes minutes; the binary is kept in that directory with a stamp of the
# version and the Go toolchain, so a repeat only copies it.
set -euo pipefail

OUT=${1:?usage: lab-traefik.sh OUT}
GO=${GO:-go}
VERSION=${TRAEFIK_VERSION:-v3.5.0}
MODULE=github.com/traefik/traefik/v3

cache=$("$GO" env GOCACHE)
if [ -z "$cache" ] || [ "$cache" = off ]; then
  echo "lab-traefik: the Go build cache is off (GOCACHE); it holds the Traefik build" >&2
  exit 1
fi
work="$(dirname "$cache")/rollcheck-traefik-$VERSION"
src="$work/src"
bin="$work/traefik"
stamp="$work/traefik.stamp"
want="$VERSION $("$GO" env GOVERSION) $("$GO" env GOOS)/$("$GO" env GOARCH)"

if [ ! -x "$bin" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  mkdir -p "$work"
  if [ ! -f "$src/.rollcheck-copied" ]; then
    # Outside any module, so that no go.mod or go.sum here is touched.
    if ! info=$(cd "$work" && GOWORK=off GOFLAGS=-mod=mod "$GO" mod download -json "$MODULE@$VERSION"); then
      echo "lab-traefik: cannot download $MODULE@$VERSION from the Go module proxy ($("$GO" env GOPROXY)):" >&2
      echo "$info" | grep '"Error"' >&2 || true
      echo "lab-traefik: the ingress front (rollcheck-lab up --ingress) needs it; everything else works without" >&2
      exit 1
    fi
    dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
    if [ -z "$dir" ] || [ ! -f "$dir/go.mod" ]; then
      echo "lab-traefik: go mod download named no source directory for $MODULE@$VERSION" >&2
      exit 1
    fi
    rm -rf "$src"
    cp -r "$dir" "$src"
    chmod -R u+w "$src"
    # The dashboard's `//go:embed static` needs at least one file; the lab
    # runs Traefik without the dashboard.
    mkdir -p "$src/webui/static"
    echo "The lab runs Traefik without its dashboard." > "$src/webui/static/rollcheck-placeholder.txt"
    touch "$src/.rollcheck-copied"
  fi
  echo "lab-traefik: building Traefik $VERSION in $src (minutes the first time)"
  start=$(date +%s)
  (cd "$src" && GOWORK=off GOFLAGS=-mod=mod "$GO" build -trimpath \
    -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$VERSION" \
    -o "$bin.tmp" ./cmd/traefik)
  mv "$bin.tmp" "$bin"
  echo "$want" > "$stamp"
  echo "lab-traefik: built in $(($(date +%s) - start)) s"
fi

mkdir -p "$(dirname "$OUT")"
if ! cmp -s "$bin" "$OUT"; then
  cp "$bin" "$OUT.tmp"
  mv "$OUT.tmp" "$OUT"
fi
"$OUT" version | sed -n '1,2p'

# The Gateway API front (up --gateway) needs the API's CRDs in the cluster:
# the standard channel's, as the module sigs.k8s.io/gateway-api publishes
# them (config/crd/standard), at the version Traefik's go.mod requires, the
# one its Gateway provider is built against.
GATEWAY_MODULE=sigs.k8s.io/gateway-api
if [ ! -f "$src/go.mod" ]; then
  echo "lab-traefik: Traefik's source is gone from $src; remove $bin and run make lab-traefik again" >&2
  exit 1
fi
gw_version=$(cd "$src" && GOWORK=off GOFLAGS=-mod=mod "$GO" list -m -f '{{.Version}}' "$GATEWAY_MODULE")
if ! info=$(cd "$work" && GOWORK=off GOFLAGS=-mod=mod "$GO" mod download -json "$GATEWAY_MODULE@$gw_version"); then
  echo "lab-traefik: cannot download $GATEWAY_MODULE@$gw_version from the Go module proxy ($("$GO" env GOPROXY)):" >&2
  echo "$info" | grep '"Error"' >&2 || true
  exit 1
fi
gw_dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
if [ -z "$gw_dir" ] || ! ls "$gw_dir"/config/crd/standard/*.yaml >/dev/null 2>&1; then
  echo "lab-traefik: $GATEWAY_MODULE@$gw_version has no config/crd/standard/*.yaml" >&2
  exit 1
fi
crds="$(dirname "$OUT")/gateway-api-crds"
rm -rf "$crds.tmp"
mkdir -p "$crds.tmp"
cp "$gw_dir"/config/crd/standard/*.yaml "$crds.tmp/"
chmod u+w "$crds.tmp"/*.yaml
rm -rf "$crds"
mv "$crds.tmp" "$crds"
echo "lab-traefik: Gateway API $gw_version standard CRDs in $crds ($(ls "$crds" | wc -l) files)"
