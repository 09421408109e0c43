#!/usr/bin/env bash
# make lab-traefik: build Traefik (the lab's ingress front, up --ingress)
# from its Go module and copy it to OUT (bin/traefik).
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
