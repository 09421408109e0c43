#!/usr/bin/env bash
# check-release.sh VERSION BINARY...: each binary that `make install` or
# `make dist` ships is stripped and carries its version. Stripped: `go tool
# nm` finds no symbol table in it (for ELF and Mach-O alike, so the darwin
# archives are checked on linux too); an unstripped build is twice the size
# (about 100 MB instead of 54). The version: main.version, which `rollcheck
# version` prints, holds VERSION (a cross-built binary cannot be run here).
set -euo pipefail
GO=${GO:-go}
version=$1
shift
for bin in "$@"; do
	if "$GO" tool nm "$bin" >/dev/null 2>&1; then
		echo "check-release: $bin has a symbol table: build it with -ldflags '-s -w'" >&2
		exit 1
	fi
	if ! grep -qaF -- "$version" "$bin"; then
		echo "check-release: $bin does not hold its version $version: build it with -ldflags '-X main.version=$version'" >&2
		exit 1
	fi
	echo "check-release: $bin: stripped, version $version, $(($(wc -c <"$bin") / 1000000)) MB"
done
