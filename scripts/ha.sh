#!/usr/bin/env bash
# ha.sh: a throwaway pg_auto_failover formation on this machine (make ha-demo,
# tests/integration/test_ha_auto.c).
#
# A monitor and two PostgreSQL nodes, each run by its own `pg_autoctl run`
# (the keeper, which starts and watches its postgres), all under one
# directory DIR: DIR/monitor, DIR/node1, DIR/node2 (the data directories),
# DIR/NAME.log (the keeper's log, postgres's included), DIR/NAME.pgid (the
# keeper's process group: the keeper, its services and its postgres), and
# pg_autoctl's own configuration and state under DIR/xdg. The monitor listens
# on 127.0.0.1:BASE, the nodes on BASE+1 and BASE+2; nothing else is touched.
# The nodes hold the database fairpay, replicated synchronously from the
# primary to the secondary; when the primary is lost, the monitor promotes the
# secondary by itself (nobody runs `pg_autoctl perform promotion`).
#
#   ha.sh start DIR [BASE]   create if needed, start, wait for a primary and a secondary
#   ha.sh stop DIR           stop the keepers (nodes first), then the monitor
#   ha.sh uri DIR            the formation's URI, as `pg_autoctl show uri` prints it
#   ha.sh conninfo DIR       the same as keyword=value (host=H1,H2 port=P1,P2 ...)
#   ha.sh state DIR          `pg_autoctl show state` of the formation
#   ha.sh primary DIR        the name of the node the monitor has as primary
#   ha.sh wait DIR SECONDS   wait until there is a primary and a secondary again
#   ha.sh kill NODE DIR      SIGKILL of the node's keeper and postgres (a lost host)
#   ha.sh restart NODE DIR   start a killed node's keeper again (it rejoins)
#
# Authentication is trust on 127.0.0.1 (what initdb --auth=trust writes):
# fine for a throwaway formation on one machine, never for one on a network.
# FP_HA_QUICK=1 (the default; 0 for pg_auto_failover's own timeouts, a
# failover of about 30 s and more) makes the monitor declare a node unhealthy
# after about 3 s and the promotion wait 4 s for the old primary to demote
# itself; the keepers then give up on an unreachable monitor and standby
# after 2 s, before that wait ends, so two primaries never accept writes.
# FP_HA_REAP_DIR: a directory where each keeper's process id is written too
# (NAME-PID.pid), for scripts/run-tests.sh to stop what a test killed midway
# left running (the keepers run in sessions of their own, not the test's).
# PostgreSQL refuses to run as root, so when we are root everything
# pg_autoctl runs as user postgres (as scripts/pg.sh does).
set -euo pipefail

NODES=(node1 node2)
# The database of the nodes (pg_autoctl create postgres --dbname).
DBNAME=fairpay
DEFAULT_BASE=7450

die() {
	echo "ha.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '16,24p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

pg_bindir() {
	local dir
	dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	[ -n "$dir" ] && [ -x "$dir/pg_ctl" ] ||
		die "no PostgreSQL server binaries found (make deps)"
	echo "$dir"
}

# pg_autoctl as the PostgreSQL user, with its configuration and state under
# DIR/xdg rather than in that user's home, and a PATH without the caller's
# directories (pg_autoctl looks for pg_ctl in each of them). From / so that a
# cwd the PostgreSQL user cannot enter does not matter.
autoctl() {
	(cd / && exec_autoctl "$@")
}

exec_autoctl() {
	local env=(env "XDG_CONFIG_HOME=$DIR/xdg/config" "XDG_DATA_HOME=$DIR/xdg/data"
		"XDG_RUNTIME_DIR=$DIR/xdg/run" "PATH=$BIN:/usr/bin:/bin" "PG_CONFIG=$BIN/pg_config")
	if [ "$(id -u)" = 0 ]; then
		exec runuser -u postgres -- "${env[@]}" pg_autoctl "$@"
	fi
	exec "${env[@]}" pg_autoctl "$@"
}

base_port() {
	[ -s "$DIR/base" ] || die "$DIR: no formation here (no $DIR/base)"
	cat "$DIR/base"
}

monitor_uri() {
	echo "postgres://autoctl_node@127.0.0.1:$(base_port)/pg_auto_failover?sslmode=disable"
}

# True while the keeper of NAME (monitor, node1, node2) runs.
running() {
	local f=$DIR/$1.pgid
	[ -s "$f" ] && kill -0 -- "-$(cat "$f")" 2>/dev/null
}

# Start NAME's keeper in a session of its own, so that its process group is
# the whole node (the keeper, its services, postgres and its backends).
run_keeper() {
	local name=$1
	running "$name" && return 0
	setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$DIR/$name.pgid" \
		"$0" _run "$DIR" "$name" >>"$DIR/$name.log" 2>&1 </dev/null &
	for _ in $(seq 1 50); do
		if [ -s "$DIR/$name.pgid" ]; then
			[ -n "${FP_HA_REAP_DIR:-}" ] &&
				cp "$DIR/$name.pgid" "$FP_HA_REAP_DIR/$name-$(cat "$DIR/$name.pgid").pid"
			return 0
		fi
		sleep 0.1
	done
	die "$name: the keeper did not start (log: $DIR/$name.log)"
}

# The monitor's timeouts (FP_HA_QUICK), as its postgres settings.
monitor_settings() {
	if [ "${FP_HA_QUICK:-1}" = 1 ]; then
		cat <<'EOF'
pgautofailover.health_check_period = 1000
pgautofailover.health_check_timeout = 1000
pgautofailover.health_check_max_retries = 1
pgautofailover.health_check_retry_delay = 500
pgautofailover.node_considered_unhealthy_timeout = 3000
pgautofailover.primary_demote_timeout = 4000
pgautofailover.startup_grace_period = 3000
EOF
	fi
}

create_monitor() {
	local base=$1
	[ -f "$DIR/monitor/PG_VERSION" ] && return 0
	autoctl create monitor --pgdata "$DIR/monitor" --pgport "$base" \
		--hostname 127.0.0.1 --listen 127.0.0.1 --auth trust --no-ssl \
		>>"$DIR/monitor.log" 2>&1 || { tail -n 20 "$DIR/monitor.log" >&2; die "monitor: create failed"; }
	monitor_settings | autoctl_tee "$DIR/monitor/postgresql.conf"
}

# Append stdin to a file owned by the PostgreSQL user.
autoctl_tee() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- tee -a "$1" >/dev/null
	else
		tee -a "$1" >/dev/null
	fi
}

create_node() {
	local name=$1 port=$2
	[ -f "$DIR/$name/PG_VERSION" ] && return 0
	autoctl create postgres --pgdata "$DIR/$name" --pgport "$port" --name "$name" \
		--hostname 127.0.0.1 --listen 127.0.0.1 --dbname "$DBNAME" --auth trust --no-ssl \
		--monitor "$(monitor_uri)" >>"$DIR/$name.log" 2>&1 ||
		{ tail -n 20 "$DIR/$name.log" >&2; die "$name: create failed"; }
	if [ "${FP_HA_QUICK:-1}" = 1 ]; then
		autoctl config set --pgdata "$DIR/$name" timeout.network_partition_timeout 2 >/dev/null
	fi
}

# The monitor's view: "name state" per node, one a line.
node_states() {
	autoctl show state --pgdata "$DIR/monitor" --json 2>/dev/null |
		python3 -c 'import json,sys
for n in json.load(sys.stdin):
    print(n["nodename"], n["current_group_state"], n["assigned_group_state"])'
}

# Exit 0 once the monitor has one primary and one secondary, both reported
# as such (the synchronous standby is in place).
healthy() {
	local states
	states=$(node_states) || return 1
	echo "$states" | grep -q '^[^ ]* primary primary$' &&
		echo "$states" | grep -q '^[^ ]* secondary secondary$'
}

wait_healthy() {
	local seconds=$1
	for _ in $(seq 1 $((seconds * 5))); do
		healthy && return 0
		sleep 0.2
	done
	return 1
}

cmd_start() {
	local base=${2:-$DEFAULT_BASE} i
	[ $# -ge 1 ] || usage
	mkdir -p "$1"
	DIR=$(cd "$1" && pwd -P)
	if [ -s "$DIR/base" ]; then
		base=$(cat "$DIR/base")
	fi
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$DIR"
	fi
	mkdir -p "$DIR/xdg"
	[ "$(id -u)" = 0 ] && chown postgres "$DIR/xdg"
	echo "$base" >"$DIR/base"
	command -v pg_autoctl >/dev/null 2>&1 ||
		die "pg_autoctl not found (the postgresql-15-auto-failover package: make deps)"

	create_monitor "$base"
	run_keeper monitor
	for _ in $(seq 1 300); do
		"$BIN/pg_isready" -q -h 127.0.0.1 -p "$base" && break
		sleep 0.1
	done
	# One node at a time: the first registered becomes the primary, the
	# second its secondary (pg_basebackup from the primary).
	for i in "${!NODES[@]}"; do
		create_node "${NODES[$i]}" $((base + 1 + i))
		run_keeper "${NODES[$i]}"
		if [ "$i" = 0 ]; then
			for _ in $(seq 1 300); do
				node_states | grep -q "^${NODES[0]} \(single\|primary\|wait_primary\) " && break
				sleep 0.2
			done
		fi
	done
	wait_healthy 120 || { node_states >&2 || true; die "no primary and secondary after 120 s (logs: $DIR/*.log)"; }
	cmd_uri "$DIR"
}

cmd_stop() {
	[ $# -ge 1 ] || usage
	[ -d "$1" ] || return 0
	DIR=$(cd "$1" && pwd -P)
	# Both nodes at once (a fast shutdown each), then the monitor.
	stop_keepers "${NODES[@]}"
	stop_keepers monitor
}

# Forget NAME's keeper of process group PGID in FP_HA_REAP_DIR.
unreap() {
	[ -n "${FP_HA_REAP_DIR:-}" ] && rm -f "$FP_HA_REAP_DIR/$1-$2.pid"
	return 0
}

# SIGTERM to the keepers of the names given, SIGKILL after 15 s.
stop_keepers() {
	local name pgids=() pgid alive
	for name in "$@"; do
		running "$name" || continue
		pgid=$(cat "$DIR/$name.pgid")
		pgids+=("$pgid")
		kill -TERM -- "-$pgid" 2>/dev/null || true
		unreap "$name" "$pgid"
	done
	for _ in $(seq 1 150); do
		alive=0
		for pgid in "${pgids[@]}"; do
			kill -0 -- "-$pgid" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && return 0
		sleep 0.1
	done
	for pgid in "${pgids[@]}"; do
		kill -KILL -- "-$pgid" 2>/dev/null || true
	done
}

cmd_uri() {
	DIR=$(cd "$1" && pwd -P)
	autoctl show uri --pgdata "$DIR/monitor" --formation default
}

# postgres://H1:P1,H2:P2/DB?target_session_attrs=read-write&sslmode=...
# as keyword=value, the form scripts/pg.sh and the tests use.
cmd_conninfo() {
	cmd_uri "$1" | python3 -c 'import sys, urllib.parse as u
uri = sys.stdin.read().strip()
r = u.urlsplit(uri)
hosts, ports = [], []
for hp in r.netloc.rsplit("@", 1)[-1].split(","):
    h, _, p = hp.rpartition(":")
    hosts.append(h); ports.append(p)
kv = ["host=" + ",".join(hosts), "port=" + ",".join(ports), "dbname=" + r.path.lstrip("/")]
kv += [k + "=" + v for k, v in u.parse_qsl(r.query)]
print(" ".join(kv))'
}

cmd_primary() {
	DIR=$(cd "$1" && pwd -P)
	node_states | awk '$3 == "primary" || $3 == "wait_primary" || $3 == "single" { print $1; exit }'
}

cmd_kill() {
	local name=$1 pgid pids pm
	DIR=$(cd "$2" && pwd -P)
	[ -s "$DIR/$name.pgid" ] || die "$name: no keeper started here"
	pgid=$(cat "$DIR/$name.pgid")
	kill -0 -- "-$pgid" 2>/dev/null || die "$name: not running"
	# The keeper's group, and postgres's children: each backend and
	# auxiliary process of PostgreSQL is in a session of its own.
	pids=$(pgrep -g "$pgid" || true)
	pm=$(head -n 1 "$DIR/$name/postmaster.pid" 2>/dev/null || true)
	[ -n "$pm" ] && pids="$pids $(pgrep -P "$pm" || true)"
	# shellcheck disable=SC2086 # a list of pids
	kill -KILL $pids 2>/dev/null || true
	unreap "$name" "$pgid"
	for _ in $(seq 1 100); do
		# shellcheck disable=SC2086
		kill -0 $pids 2>/dev/null || return 0
		sleep 0.05
	done
	die "$name: still running after SIGKILL"
}

[ $# -ge 1 ] || usage
BIN=$(pg_bindir)
cmd=$1
shift
case "$cmd" in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
uri) [ $# -ge 1 ] || usage; cmd_uri "$1" ;;
conninfo) [ $# -ge 1 ] || usage; cmd_conninfo "$1" ;;
state) [ $# -ge 1 ] || usage; DIR=$(cd "$1" && pwd -P); autoctl show state --pgdata "$DIR/monitor" ;;
primary) [ $# -ge 1 ] || usage; cmd_primary "$1" ;;
wait) [ $# -ge 2 ] || usage; DIR=$(cd "$1" && pwd -P); wait_healthy "$2" ;;
kill) [ $# -ge 2 ] || usage; cmd_kill "$1" "$2" ;;
restart) [ $# -ge 2 ] || usage; DIR=$(cd "$2" && pwd -P); run_keeper "$1" ;;
# Internal: the keeper itself, in its own session (run_keeper).
_run) DIR=$1; cd / && exec_autoctl run --pgdata "$DIR/$2" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
