#!/usr/bin/env bash
# pg-standby.sh: a throwaway primary and streaming standby, for the
# replication tests and for trying failover by hand.
#
# Each cluster is a scripts/pg.sh directory (its own unix socket, trust, no
# TCP port), always durable (FP_PG_FAST=0: synchronous_commit must be on for
# synchronous replication to mean anything). The standby streams from the
# primary's socket.
#
#   pg-standby.sh primary DIR [PORT]           start (initdb if needed) a primary
#   pg-standby.sh start DIR                   start a cluster made here again, as
#                                             it was (a lost standby coming back)
#   pg-standby.sh standby DIR PRIMARY NAME [PORT]
#                                             pg_basebackup -R from PRIMARY's dir,
#                                             then start it streaming as NAME
#   pg-standby.sh sync PRIMARY NAMES          synchronous_standby_names = NAMES
#                                             ('' for none), reloaded
#   pg-standby.sh wait-sync PRIMARY NAME [S]  wait (S seconds, 30) until NAME
#                                             streams as the synchronous standby
#   pg-standby.sh promote DIR                 promote the standby, wait until done
#   pg-standby.sh crash DIR                   SIGKILL the postmaster and every
#                                             process of it (a lost machine)
#   pg-standby.sh conninfo DIR...             the multi-host conninfo of the
#                                             clusters, read-write session wanted
#
# As root, server-side commands run as postgres (pg.sh does the same).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
PGSH=$here/pg.sh

die() {
	echo "pg-standby.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '10,26p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

bindir() {
	local dir=""
	if command -v pg_config >/dev/null 2>&1; then
		dir=$(pg_config --bindir 2>/dev/null || true)
	fi
	if [ -z "$dir" ] || [ ! -x "$dir/pg_basebackup" ]; then
		dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	fi
	[ -n "$dir" ] && [ -x "$dir/pg_basebackup" ] || die "no PostgreSQL server binaries found"
	echo "$dir"
}

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}

absdir() {
	[ -d "$1" ] || die "$1: no such directory"
	(cd "$1" && pwd -P)
}

psql_at() {
	local dir=$1
	shift
	"$BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$(cat "$dir/port")" \
		-U postgres -d postgres "$@"
}

cmd_primary() {
	[ $# -ge 1 ] || usage
	FP_PG_FAST=0 "$PGSH" start "$@"
}

cmd_standby() {
	[ $# -ge 3 ] || usage
	local dir primary name=$3 port=${4:-}
	mkdir -p "$1"
	dir=$(absdir "$1")
	primary=$(absdir "$2")
	[[ $name =~ ^[a-z0-9_]+$ ]] || die "standby name '$name': use [a-z0-9_]"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		[ "$(id -u)" = 0 ] && chown postgres "$dir"
		# -R writes primary_conninfo (with application_name, the name
		# synchronous_standby_names refers to) and standby.signal.
		as_pg "$BIN/pg_basebackup" -D "$dir/data" -R -X stream -c fast \
			-d "host=$primary/sock port=$(cat "$primary/port") user=postgres application_name=$name" \
			>"$dir/basebackup.log" 2>&1 ||
			{ cat "$dir/basebackup.log" >&2; die "pg_basebackup failed"; }
	fi
	FP_PG_FAST=0 "$PGSH" start "$dir" ${port:+"$port"}
}

cmd_sync() {
	[ $# -ge 2 ] || usage
	local dir
	dir=$(absdir "$1")
	psql_at "$dir" -v names="$2" >/dev/null <<'EOF'
ALTER SYSTEM SET synchronous_standby_names = :'names';
SELECT pg_reload_conf();
EOF
}

cmd_wait_sync() {
	[ $# -ge 2 ] || usage
	local dir name=$2 secs=${3:-30} i state
	dir=$(absdir "$1")
	for i in $(seq 1 $((secs * 10))); do
		state=$(psql_at "$dir" -v name="$name" <<'EOF'
SELECT sync_state FROM pg_stat_replication WHERE application_name = :'name' AND state = 'streaming';
EOF
		)
		[ "$state" = sync ] && return 0
		sleep 0.1
	done
	die "$name is not a streaming synchronous standby of $dir after ${secs} s (state '${state:-none}')"
}

cmd_promote() {
	[ $# -ge 1 ] || usage
	local dir
	dir=$(absdir "$1")
	as_pg "$BIN/pg_ctl" -D "$dir/data" -w -t 60 promote >/dev/null
}

cmd_crash() {
	[ $# -ge 1 ] || usage
	local dir pid kids
	dir=$(absdir "$1")
	[ -s "$dir/data/postmaster.pid" ] || return 0
	pid=$(head -n 1 "$dir/data/postmaster.pid")
	kill -0 "$pid" 2>/dev/null || return 0
	# The children first, then the postmaster, each by its own pid: on a
	# lost machine nothing of the cluster runs on, not even a backend
	# finishing its query.
	kids=$(ps -o pid= --ppid "$pid" || true)
	kill -9 "$pid" $kids 2>/dev/null || true
	# Dead once gone or a zombie (its parent, not us, reaps it).
	for _ in $(seq 1 100); do
		case $(ps -o stat= -p "$pid" || true) in
		'' | Z*) break ;;
		esac
		sleep 0.01
	done
}

cmd_conninfo() {
	[ $# -ge 1 ] || usage
	local hosts="" ports="" d dir
	for d in "$@"; do
		dir=$(absdir "$d")
		hosts=${hosts:+$hosts,}$dir/sock
		ports=${ports:+$ports,}$(cat "$dir/port")
	done
	echo "host=$hosts port=$ports target_session_attrs=read-write user=postgres dbname=postgres"
}

[ $# -ge 1 ] || usage
BIN=$(bindir)
cmd=$1
shift
case "$cmd" in
primary | start) cmd_primary "$@" ;;
standby) cmd_standby "$@" ;;
sync) cmd_sync "$@" ;;
wait-sync) cmd_wait_sync "$@" ;;
promote) cmd_promote "$@" ;;
crash) cmd_crash "$@" ;;
conninfo) cmd_conninfo "$@" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
