#!/usr/bin/env bash
# deps.sh: install the Debian packages that building and testing fairpay need.
#
# Silent and quick when everything is already installed (the usual case: every
# `make test` runs it). Otherwise it refreshes the package lists once and
# installs only what is missing, with sudo when not root.
#
# The postgresql package may start a system cluster on port 5432. Nothing of
# ours uses it: the demo and the tests run private clusters (scripts/pg.sh) on
# their own ports and sockets, so it is left alone either way.
set -euo pipefail

packages=(
	gcc make pkg-config
	libevent-dev libprotobuf-c-dev protobuf-c-compiler
	libpq-dev postgresql
	# rows written as JSON records (json_populate_recordset)
	libjansson-dev
	# webhook delivery (libcurl's multi interface)
	libcurl4-openssl-dev
	# the tests' webhook receiver (tests/receiver/: Node and npm's
	# standardwebhooks package, installed below)
	nodejs npm
	openssl libssl-dev
	libcmocka-dev
	# make fuzz: clang with the libFuzzer and sanitizer runtimes, llvm for
	# llvm-symbolizer (stack traces with file and line)
	clang libclang-rt-14-dev llvm
	# the TLS configuration test
	sslscan
	# make valgrind
	valgrind
	# the SVG charts' tests (fairpayctl simulate --svg, ctl_chart): xmllint
	# checks the XML, rsvg-convert renders it
	libxml2-utils librsvg2-bin
	# make lint (clang-tidy and clang-format 14 on Debian 12)
	clang-tidy clang-format cppcheck
)

root=$(cd "$(dirname "$0")/.." && pwd -P)

# The receiver's npm packages, at the versions of its package-lock.json,
# into tests/receiver/node_modules (again only when the lock file changed).
npm_deps() {
	local dir=$root/tests/receiver
	[ -f "$dir/node_modules/.package-lock.json" ] &&
		cmp -s "$dir/package-lock.json" "$dir/node_modules/.fairpay-lock" && return 0
	echo "deps.sh: installing the test receiver's npm packages (npm ci)"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) &&
		cp "$dir/package-lock.json" "$dir/node_modules/.fairpay-lock"
}

missing=()
for p in "${packages[@]}"; do
	# Node from another source (NodeSource's nodejs carries npm): the
	# commands are what the tests need.
	case $p in
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	npm) command -v npm >/dev/null 2>&1 && continue ;;
	esac
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	npm_deps
	exit
fi

command -v apt-get >/dev/null 2>&1 || {
	echo "deps.sh: apt-get not found; install by hand: ${missing[*]}" >&2
	exit 1
}

sudo=()
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		echo "deps.sh: not root and no sudo; install as root: ${missing[*]}" >&2
		exit 1
	fi
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	"${missing[@]}" >/dev/null
npm_deps
