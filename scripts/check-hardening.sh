#!/usr/bin/env bash
# check-hardening.sh: check, checksec-style with readelf, that each ELF
# executable given was built with the hardening of the Makefile:
#   PIE            ELF type DYN (a position-independent executable)
#   full RELRO     a GNU_RELRO segment and immediate binding (BIND_NOW, or
#                  NOW in FLAGS_1)
#   stack canary   a reference to __stack_chk_fail (-fstack-protector-strong)
#   FORTIFY        at least one fortified libc call (__*_chk, -D_FORTIFY_SOURCE)
# Sanitizer builds (an __asan_ or __ubsan_ symbol) skip the FORTIFY check:
# the Makefile leaves _FORTIFY_SOURCE out of them on purpose.
# Prints one line per binary; exit status 1 when anything is missing.
set -uo pipefail

if [ $# -eq 0 ]; then
	echo "usage: $0 ELF..." >&2
	exit 2
fi
if ! command -v readelf >/dev/null 2>&1; then
	echo "check-hardening: readelf not found (binutils)" >&2
	exit 2
fi

status=0
for bin in "$@"; do
	if [ ! -f "$bin" ]; then
		echo "check-hardening: $bin: no such file"
		status=1
		continue
	fi
	header=$(readelf -h "$bin" 2>&1) || {
		echo "check-hardening: $bin: not an ELF file"
		status=1
		continue
	}
	dynamic=$(readelf -d "$bin" 2>/dev/null)
	segments=$(readelf -lW "$bin" 2>/dev/null)
	symbols=$(readelf -sW --dyn-syms "$bin" 2>/dev/null | awk '{ print $8 }' | sed 's/@.*//' | sort -u)
	missing=()
	grep -Eq '^[[:space:]]*Type:[[:space:]]+DYN' <<<"$header" || missing+=("PIE (type is not DYN)")
	grep -q 'GNU_RELRO' <<<"$segments" || missing+=("RELRO (no GNU_RELRO segment)")
	grep -Eq '\(BIND_NOW\)|\(FLAGS_1\).*[[:space:]]NOW' <<<"$dynamic" ||
		missing+=("BIND_NOW (partial RELRO only)")
	grep -qx '__stack_chk_fail' <<<"$symbols" || missing+=("stack protector (no __stack_chk_fail)")
	sanitized=0
	grep -Eq '^__(asan|ubsan)_' <<<"$symbols" && sanitized=1
	fortified=$(grep -Ec '^__[a-z0-9_]+_chk$' <<<"$(grep -vx '__stack_chk_fail' <<<"$symbols")")
	if [ $sanitized = 0 ] && [ "$fortified" -eq 0 ]; then
		missing+=("FORTIFY (no __*_chk call)")
	fi
	if [ ${#missing[@]} -eq 0 ]; then
		extra=""
		[ $sanitized = 1 ] && extra=", sanitizer build: FORTIFY not required"
		echo "check-hardening: $bin: PIE, full RELRO, stack protector, $fortified fortified calls$extra"
	else
		status=1
		for m in "${missing[@]}"; do
			echo "check-hardening: $bin: missing $m"
		done
	fi
done
exit $status
