#!/usr/bin/env bash
# pg.sh: throwaway PostgreSQL clusters for the demo and the tests.
#
# A cluster lives entirely in one directory DIR: DIR/data (the cluster),
# DIR/sock (its unix socket), DIR/log (server log), DIR/port (the port, which
# only names the socket file), DIR/fast (FP_PG_FAST). Nothing touches the
# system cluster or the default port, so several clusters (and a system
# PostgreSQL) run side by side.
#
# The cluster listens on its socket only, never on TCP, and DIR/sock is mode
# 0700, owned by the user the cluster runs as: connections need no password
# (trust), so only that user (and root) may reach the socket. Connect with
# `host=DIR/sock port=PORT` (pg.sh conninfo).
#
#   pg.sh start DIR [PORT]   initdb if needed, start, wait until ready, print the port
#   pg.sh stop DIR           fast shutdown; no error when not running
#   pg.sh kill DIR           immediate shutdown (simulates a crash)
#   pg.sh status DIR         exit 0 when running
#   pg.sh port DIR           print the port
#   pg.sh conninfo DIR       print a libpq connection string for the cluster
#   pg.sh createdb DIR NAME  create database NAME (no error when it exists)
#   pg.sh server-login DIR   create the role fairpayd logs in as (see below)
#   pg.sh server-login --conninfo CONNINFO   the same in another cluster (scripts/ha.sh)
#
# FP_PG_FAST=1 turns durability off (fsync, synchronous_commit,
# full_page_writes): for tests, whose clusters are thrown away anyway. The
# setting sticks to DIR: later starts without FP_PG_FAST keep it.
# PostgreSQL refuses to run as root, so when we are root every server-side
# command runs as user postgres.
#
# server-login makes (when missing) the LOGIN role fairpayd, a member of
# fairpay_app (the NOLOGIN role of migrations/0003, made here too when the
# migrations have not run yet) and of nothing else: fairpayd logs in as it,
# while the migrations run as postgres, the owner of the tables.
set -euo pipefail

die() {
	echo "pg.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '15,23p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# The server binaries: pg_config's when it has them, else the newest installed.
pg_bindir() {
	local dir=""
	if command -v pg_config >/dev/null 2>&1; then
		dir=$(pg_config --bindir 2>/dev/null || true)
	fi
	if [ -z "$dir" ] || [ ! -x "$dir/initdb" ] || [ ! -x "$dir/pg_ctl" ]; then
		dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	fi
	[ -n "$dir" ] && [ -x "$dir/initdb" ] ||
		die "no PostgreSQL server binaries found (install the postgresql package: make deps)"
	echo "$dir"
}

# Run a server-side command as postgres when root. From / so that a cwd that
# postgres cannot enter (e.g. /root) does not make initdb or pg_ctl fail.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}

# A random port in 20000-32767. It only names the socket file, in a
# directory of the cluster's own, so no other process can hold it.
free_port() {
	echo $((20000 + (RANDOM * 32768 + RANDOM) % 12768))
}

# Absolute path of DIR (created when missing).
abs_dir() {
	mkdir -p "$1"
	(cd "$1" && pwd -P)
}

# Absolute path of an existing DIR.
cluster_dir() {
	[ -d "$1" ] || die "$1: no such directory"
	(cd "$1" && pwd -P)
}

is_running() {
	local dir=$1
	[ -f "$dir/data/PG_VERSION" ] || return 1
	as_pg "$BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

cluster_port() {
	[ -s "$1/port" ] || die "$1: no cluster started here (no $1/port)"
	cat "$1/port"
}

# FP_PG_FAST as given at the first start, unless given again: a test that
# restarts its cluster must not turn durability back on by accident.
fast_mode() {
	local dir=$1
	if [ -n "${FP_PG_FAST:-}" ]; then
		echo "$FP_PG_FAST" >"$dir/fast"
	fi
	if [ -s "$dir/fast" ]; then
		cat "$dir/fast"
	else
		echo 0
	fi
}

# Settings live in their own file included from postgresql.conf, rewritten
# at each start, so that a hand-run `pg_ctl -D DIR/data start` uses them too.
write_conf() {
	local dir=$1 port=$2
	{
		echo "# written by scripts/pg.sh at each start"
		echo "listen_addresses = ''"
		echo "port = $port"
		echo "unix_socket_directories = '$dir/sock'"
		echo "unix_socket_permissions = 0700"
		echo "max_connections = 200"
		if [ "$(fast_mode "$dir")" = 1 ]; then
			echo "fsync = off"
			echo "synchronous_commit = off"
			echo "full_page_writes = off"
		fi
	} >"$dir/fairpay.conf.tmp"
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$dir/fairpay.conf.tmp"
	fi
	mv -f "$dir/fairpay.conf.tmp" "$dir/data/fairpay.conf"
}

cmd_start() {
	local dir port want_port="${2:-}"
	[ $# -ge 1 ] || usage
	dir=$(abs_dir "$1")
	# The socket path must fit in sun_path (108 bytes with the NUL).
	[ ${#dir} -le 80 ] || die "$dir: path too long for a unix socket directory"
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$dir"
	fi
	as_pg test -w "$dir" || die "$dir: not writable by the PostgreSQL user (check parent permissions)"

	if is_running "$dir"; then
		cluster_port "$dir"
		return 0
	fi

	if [ ! -f "$dir/data/PG_VERSION" ]; then
		local sync=()
		[ "$(fast_mode "$dir")" = 1 ] && sync=(--no-sync)
		as_pg "$BIN/initdb" -D "$dir/data" -U postgres --auth-local=trust \
			--auth-host=reject -E UTF8 --locale=C \
			"${sync[@]}" >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log" >&2; die "initdb failed"; }
		echo "include_if_exists = 'fairpay.conf'" |
			as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
	fi
	# The socket's directory is the cluster's lock: trust is safe only
	# while nobody else can reach the socket.
	as_pg mkdir -p "$dir/sock"
	as_pg chmod 700 "$dir/sock"

	# Keep the port of an earlier start, so that a restarted cluster has the
	# same conninfo as before; an explicit PORT wins.
	if [ -n "$want_port" ]; then
		port=$want_port
	elif [ -s "$dir/port" ]; then
		port=$(cat "$dir/port")
	else
		port=$(free_port)
	fi

	write_conf "$dir" "$port"
	echo "$port" >"$dir/port"
	if ! as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start >/dev/null 2>&1; then
		tail -n 20 "$dir/log" >&2 2>/dev/null || true
		die "PostgreSQL did not start (log: $dir/log)"
	fi
	is_running "$dir" || die "PostgreSQL did not start (log: $dir/log)"

	for _ in $(seq 1 300); do
		if "$BIN/pg_isready" -q -h "$dir/sock" -p "$port" -U postgres -d postgres; then
			echo "$port"
			return 0
		fi
		sleep 0.1
	done
	die "PostgreSQL started but is not accepting connections (log: $dir/log)"
}

cmd_stop() {
	local mode=$1 dir
	[ $# -ge 2 ] || usage
	[ -d "$2" ] || return 0
	dir=$(cluster_dir "$2")
	if is_running "$dir"; then
		as_pg "$BIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null ||
			die "could not stop PostgreSQL in $dir"
	fi
}

cmd_conninfo() {
	local dir
	[ $# -ge 1 ] || usage
	dir=$(cluster_dir "$1")
	echo "host=$dir/sock port=$(cluster_port "$dir") user=postgres dbname=postgres"
}

cmd_createdb() {
	local dir port name
	[ $# -ge 2 ] || usage
	dir=$(cluster_dir "$1")
	name=$2
	port=$(cluster_port "$dir")
	# psql interpolates :'name' (quoted safely) only in input, not in -c.
	if echo "SELECT 1 FROM pg_database WHERE datname = :'name'" |
		"$BIN/psql" -X -q -At -h "$dir/sock" -p "$port" -U postgres -d postgres \
			-v ON_ERROR_STOP=1 -v name="$name" | grep -q 1; then
		return 0
	fi
	"$BIN/createdb" -h "$dir/sock" -p "$port" -U postgres "$name"
}

# The role fairpayd logs in as: LOGIN, a member of fairpay_app only, no
# other attribute. Cluster-wide, so once per cluster is enough; repeatable.
cmd_server_login() {
	local psql_args
	[ $# -ge 1 ] || usage
	if [ "$1" = --conninfo ]; then
		[ $# -ge 2 ] || usage
		psql_args=("$2")
	else
		local dir port
		dir=$(cluster_dir "$1")
		port=$(cluster_port "$dir")
		psql_args=(-h "$dir/sock" -p "$port" -U postgres -d postgres)
	fi
	"$BIN/psql" -X -q -At "${psql_args[@]}" -v ON_ERROR_STOP=1 >/dev/null <<'EOF'
SET client_min_messages = warning;
SELECT 'CREATE ROLE fairpay_app NOLOGIN'
	WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fairpay_app') \gexec
SELECT 'CREATE ROLE fairpayd LOGIN'
	WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fairpayd') \gexec
GRANT fairpay_app TO fairpayd;
EOF
}

[ $# -ge 1 ] || usage
BIN=$(pg_bindir)
cmd=$1
shift
case "$cmd" in
start) cmd_start "$@" ;;
stop) cmd_stop fast "$@" ;;
kill) cmd_stop immediate "$@" ;;
status) [ $# -ge 1 ] || usage; [ -d "$1" ] && is_running "$(cluster_dir "$1")" ;;
port) [ $# -ge 1 ] || usage; cluster_port "$(cluster_dir "$1")" ;;
conninfo) cmd_conninfo "$@" ;;
createdb) cmd_createdb "$@" ;;
server-login) cmd_server_login "$@" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
