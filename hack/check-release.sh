#!/usr/bin/env bash
# check-release.sh VERSION BINARY...: each binary that `make install` or
# `make dist` ships is stripped and carries its version. Stripped: `go tool
# nm` (which reads ELF and Mach-O alike, so the darwin archives are checked
# on linux too) finds no symbol defined in it: none at all in a stripped ELF
# binary, only the undefined (U) imports of libSystem the dynamic loader
# needs in a Mach-O one. An unstripped build is 77 to 100 MB where the
# stripped one is 54. The version: main.version, which `rollcheck version`
# prints, holds VERSION (a cross-built binary cannot be run here).
set -euo pipefail
GO=${GO:-go}
version=$1
shift
for bin in "$@"; do
	if ! [ -f "$bin" ]; then
		echo "check-release: $bin: no such file" >&2
		exit 1
	fi
	defined=$("$GO" tool nm "$bin" 2>/dev/null | grep -cvE '^ +U ' || true)
	if [ "$defined" -gt 0 ]; then
		echo "check-release: $bin has a symbol table ($defined symbols defined): build it with -ldflags '-s -w'" >&2
		exit 1
	fi
	if ! grep -qaF -- "$version" "$bin"; then
		echo "check-release: $bin does not hold its version $version: build it with -ldflags '-X main.version=$version'" >&2
		exit 1
	fi
	echo "check-release: $bin: stripped, version $version, $(($(wc -c <"$bin") / 1000000)) MB"
done
