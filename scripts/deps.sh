#!/usr/bin/env bash
# deps.sh: install the Debian packages that building and testing fairpay need.
#
# Silent and quick when everything is already installed (the usual case: every
# `make test` runs it). Otherwise it refreshes the package lists once and
# installs only what is missing, with sudo when not root. With --build or
# --runtime, only what building, or running, the binaries needs (images:
# docker/Dockerfile); --list NAME prints a list.
#
# The postgresql package may start a system cluster on port 5432. Nothing of
# ours uses it: the demo and the tests run private clusters (scripts/pg.sh) on
# their own ports and sockets, so it is left alone either way.
set -euo pipefail

# What `make all` and `make install` need, and no more: the image's build
# stage installs these alone (scripts/deps.sh --build, docker/Dockerfile).
build_packages=(
	gcc libc6-dev make pkg-config
	libevent-dev libprotobuf-c-dev protobuf-c-compiler
	libpq-dev
	# rows written as JSON records (json_populate_recordset)
	libjansson-dev
	# webhook delivery (libcurl's multi interface)
	libcurl4-openssl-dev
	# systemd readiness notifications (sd_notify, server/base/notify.c)
	libsystemd-dev
	libssl-dev
	# fairpayd's allocator (Makefile, LIBS_MALLOC)
	libjemalloc-dev
	# make install: the man pages, written from the programs' --help
	help2man
)

# What the binaries load when they run, for an image without the -dev
# packages (scripts/deps.sh --runtime, docker/Dockerfile);
# scripts/check-docker.sh checks that it covers their NEEDED libraries.
runtime_packages=(
	libevent-2.1-7 libevent-openssl-2.1-7 libpq5 libprotobuf-c1 libssl3 libjansson4 libcurl4
	libsystemd0 libjemalloc2
	ca-certificates
	# the image's HEALTHCHECK: GET /readyz on the admin listener
	curl
)

# `make deps`: building, testing and linting.
packages=(
	"${build_packages[@]}"
	postgresql
	# the tests' webhook receiver (tests/receiver/: Node and npm's
	# standardwebhooks package, installed below)
	nodejs npm
	openssl
	libcmocka-dev
	# make fuzz: clang with the libFuzzer and sanitizer runtimes, llvm for
	# llvm-symbolizer (stack traces with file and line)
	clang libclang-rt-14-dev llvm
	# the TLS configuration test
	sslscan
	# tests/attest/verify_attestation.py: a third party verifying an
	# attestation with the issuer's public key alone (Ed25519)
	python3 python3-cryptography
	# make valgrind
	valgrind
	# the SVG charts' tests (fairpayctl simulate --svg, ctl_chart): xmllint
	# checks the XML, rsvg-convert renders it
	libxml2-utils librsvg2-bin
	# make lint (clang-tidy and clang-format 14 on Debian 12)
	clang-tidy clang-format cppcheck
	# make check-unit: systemd-analyze verify of dist/fairpayd.service
	systemd
	# the Python client (client/python/): protoc makes its fairpay_pb2.py,
	# python3-protobuf (3.21, as protoc) runs it; its tests use psql
	protobuf-compiler python3-protobuf
	# test_install renders the man pages (man -l); make lint's check-docker
	# reads docker/compose.yaml
	man-db python3-yaml
	# tests/integration/test_metrics.c reads /metrics with the real parser
	# (tests/integration/metrics_parse.py)
	python3-prometheus-client
	# tests/integration/test_balancer.c: several fairpayd behind HAProxy
	# (TCP mode, health checks on /readyz), as docs/deploy.md deploys them
	haproxy
	# scripts/ha.sh (make ha-demo, test_ha_auto): pg_auto_failover's monitor
	# and keeper (pg_autoctl) for PostgreSQL 15, automatic failover
	postgresql-15-auto-failover
)

usage() {
	echo "usage: scripts/deps.sh [--build | --runtime | --list build|runtime|all]" >&2
	exit 2
}
# --build and --runtime are for images: those lists only, without
# recommended packages. --list prints a list, one name a line.
want=("${packages[@]}")
apt_opts=()
case ${1:-} in
"") ;;
--build) want=("${build_packages[@]}") apt_opts=(--no-install-recommends) ;;
--runtime) want=("${runtime_packages[@]}") apt_opts=(--no-install-recommends) ;;
--list)
	case ${2:-} in
	build) printf '%s\n' "${build_packages[@]}" ;;
	runtime) printf '%s\n' "${runtime_packages[@]}" ;;
	all) printf '%s\n' "${packages[@]}" ;;
	*) usage ;;
	esac
	exit 0
	;;
*) usage ;;
esac

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
for p in "${want[@]}"; do
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
	[ -z "${1:-}" ] && npm_deps
	exit 0
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
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_opts[@]}" \
	"${missing[@]}" >/dev/null
[ -z "${1:-}" ] && npm_deps
exit 0
