#!/usr/bin/env bash
# check-unit.sh UNIT FAIRPAYD: check a systemd unit file with
# `systemd-analyze verify` (make check-unit, part of make lint). The unit's
# ExecStart names the installed binary; the check runs on a copy that names
# FAIRPAYD instead, so that it needs no installation. Skipped, saying so,
# where systemd-analyze is missing (make deps installs it).
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: check-unit.sh UNIT FAIRPAYD" >&2; exit 2; }
unit=$1
bin=$(cd "$(dirname "$2")" && pwd -P)/$(basename "$2")
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "check-unit: systemd-analyze not found (make deps); $unit not checked"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
name=$(basename "$unit")
sed "s|^ExecStart=[^ ]*fairpayd|ExecStart=$bin|" "$unit" >"$tmp/$name"
# verify also loads the units the file names (network-online.target, ...):
# its messages about those are not about this file.
out=$(cd "$tmp" && systemd-analyze verify "$tmp/$name" 2>&1) || {
	printf '%s\n' "$out" >&2
	echo "check-unit: $unit: systemd-analyze verify failed" >&2
	exit 1
}
if [ -n "$out" ]; then
	printf '%s\n' "$out" >&2
	echo "check-unit: $unit: systemd-analyze verify warned" >&2
	exit 1
fi
echo "check-unit: $unit verifies"
