#!/usr/bin/env bash
# bench.sh: load test of a fresh server and database (`make bench`), beside
# the ceilings of the database measured in the same run.
#
# Builds nothing (make does): starts a throwaway PostgreSQL cluster with
# durable commits, as in production, applies the migrations, makes test
# certificates, an admin key, runs fairpayd on a free port, creates a vendor
# with a product (SP 1000) and a policy whose FairPay credits are so large
# that every offer stays a FairPay offer, warms up (then runs ANALYZE), and
# measures:
#   1. FairPay cycles through fairpayd (fairpay-bench --mix cycles),
#   1h. the same at half the rate 1 reached, started on a schedule
#      (--rate): the latency of a server that is not saturated, measured
#      after a warm-up at that rate (a restarted server first fills its
#      caches, opens its TLS sessions and prepares its statements),
#   2. GetReputation reads through fairpayd (--mix reads),
#   W. cycles again, with one webhook endpoint for PAYMENT_RECEIVED on a
#      local HTTPS receiver (tests/receiver/, verifying every signature):
#      the events delivered per second beside the rate the cycles make them,
#      and how long the backlog takes to drain once the load stops,
#   A. pgbench running the plain SQL of one cycle (the rows fairpayd writes
#      for it, without fairpayd), one cycle per transaction, with as many
#      clients as fairpay-bench has connections: the ceiling of 1,
#   A16. the same SQL with 16 cycles per transaction,
#   B. pgbench running a prepared point read of one reputations row by
#      primary key, same clients: the ceiling of 2.
# The ceilings use the tables only, never a SQL function of the schema, and
# run as the role fairpayd works as. Around each phase the script takes the
# CPU time of every process of the cluster and of fairpayd from /proc, and
# around the cycles phase and A the WAL written and the buffers accessed, and
# around the cycles phase pg_stat_database.xact_commit, so that the summary
# gives database CPU and work per cycle and calls per commit beside the
# ceilings.
# fairpayd is restarted around the cycles phase: a PostgreSQL 15 session
# publishes its counters at most once a second and, once idle, up to 10 s
# later, but at once when it ends.
# Everything lives in a temporary directory removed on exit (also on Ctrl-C
# or an error); the server and the cluster are stopped.
#
# Environment: BENCH_DURATION (10 s: cycles, A, A16), BENCH_WARMUP (3 s),
# BENCH_READS_DURATION (5 s: reads, B), BENCH_CONNECTIONS (16), BENCH_DEPTH
# (8), BENCH_CUSTOMERS (10000), BENCH_DB_POOL (one per processor:
# PostgreSQL runs on the same processors, and more sessions than processors
# only contend; 4 on 2 processors gave 10% fewer cycles and twice the
# latency at half load), BENCH_WEBHOOK_DURATION (5 s: W), BENCH_KEEP=1 keeps
# the directory, FP_BUILD (build).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root"
build=${FP_BUILD:-build}
case "$build" in
/*) ;;
*) build=$root/$build ;;
esac
duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-3}
reads_duration=${BENCH_READS_DURATION:-5}
webhook_duration=${BENCH_WEBHOOK_DURATION:-5}
conns=${BENCH_CONNECTIONS:-16}
depth=${BENCH_DEPTH:-8}
customers=${BENCH_CUSTOMERS:-10000}
pool=${BENCH_DB_POOL:-$(nproc)}
workers=${BENCH_WORKERS:-0} # fairpayd's default: one per processor
sku="bench-sku"
sp=1000
credit=1000000000000 # 10^12: no customer ever reaches its FairPay credit limit
batch=16             # cycles per transaction of ceiling A16
db=fairpay

pgsh=$root/scripts/pg.sh
ctl=$build/fairpayctl
srv=$build/fairpayd
bench=$build/fairpay-bench

die() {
	echo "bench: $*" >&2
	exit 1
}

say() {
	echo "bench: $*" >&2
}

[[ $workers =~ ^[0-9]+$ ]] || die "BENCH_WORKERS must be a whole number (got '$workers')"
for v in duration warmup reads_duration conns depth customers pool; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive whole number (got '${!v}')"
done
# fairpay-bench's limit: customer ids are bench-00000000 to bench-99999999.
[ "$customers" -le 100000000 ] || die "customers must be at most 100000000 (got $customers)"
for b in "$srv" "$ctl" "$bench"; do
	[ -x "$b" ] || die "$b missing: run 'make all $build/fairpay-bench' (or 'make bench')"
done

pg_bin() {
	local dir=""
	command -v pg_config >/dev/null 2>&1 && dir=$(pg_config --bindir 2>/dev/null || true)
	if [ -z "$dir" ] || [ ! -x "$dir/pgbench" ]; then
		dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	fi
	echo "$dir"
}
pgbin=$(pg_bin)
[ -x "$pgbin/pgbench" ] && [ -x "$pgbin/psql" ] ||
	die "pgbench or psql not found (install postgresql: make deps)"
clk_tck=$(getconf CLK_TCK)

# A port in 20000-32767 that nothing listens on (below the ephemeral range,
# so that outgoing connections do not take it while fairpayd starts).
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free TCP port found"
}

# ------------------------------------------------------------ workspace, cleanup

work=$(mktemp -d /tmp/fairpay-bench.XXXXXX)
# The postgres user must reach the cluster directory inside.
chmod 711 "$work"
pgdir=$work/pg
certs=$work/certs
log=$work/fairpayd.log
srv_pid=""
cleaned=0
warnings=()

# Stop fairpayd (TERM, then KILL after 10 s) and forget it.
srv_kill() {
	[ -n "$srv_pid" ] || return 0
	if kill -0 "$srv_pid" 2>/dev/null; then
		kill -TERM "$srv_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$srv_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$srv_pid" 2>/dev/null || true
	fi
	wait "$srv_pid" 2>/dev/null || true
	srv_pid=""
}

cleanup() {
	local rc=$?
	[ $cleaned = 1 ] && return
	cleaned=1
	srv_kill
	[ -z "${receiver_pid:-}" ] || kill "$receiver_pid" 2>/dev/null || true
	if [ -d "$pgdir" ]; then
		"$pgsh" stop "$pgdir" >/dev/null 2>&1 || "$pgsh" kill "$pgdir" >/dev/null 2>&1 || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		say "kept $work (cluster stopped)"
	else
		rm -rf "$work"
	fi
	return $rc
}
# INT and TERM only exit; the EXIT trap does the work, exactly once.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ machine

pgversion=$("$pgbin/postgres" --version 2>/dev/null | awk '{print $3}' || echo "?")
cpu=$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
[ -n "$cpu" ] || cpu=$(uname -m)
echo "== machine"
echo "cpus: $(nproc) ($cpu)"
echo "memory: $(awk '/^MemTotal/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null)"
echo "kernel: $(uname -sr)"
# Other work on the machine (a test suite, a build) takes cores from the
# server and the database and lowers every figure below.
load_start=$(cut -d ' ' -f 1 /proc/loadavg)
echo "load average (1 min) before the run: $load_start"
echo "postgresql: $pgversion"
echo "fairpay: $(cat VERSION 2>/dev/null || echo ?), build $build"

# ------------------------------------------------------------ database

# FP_PG_FAST would turn fsync and synchronous commits off: a benchmark must
# measure the durable configuration that production runs.
say "starting PostgreSQL in $pgdir"
pgport=$(env -u FP_PG_FAST "$pgsh" start "$pgdir")
"$pgsh" createdb "$pgdir" "$db"
# Migrations and the script's own SQL as postgres, the owner; fairpayd and
# the ceilings as fairpayd, the role the server logs in as (pg.sh
# server-login). The cluster listens on its socket only.
conninfo="host=$pgdir/sock port=$pgport user=postgres dbname=$db"
srv_conninfo="host=$pgdir/sock port=$pgport user=fairpayd dbname=$db"
pm_pid=$(head -n 1 "$pgdir/data/postmaster.pid")
psql_q() {
	"$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$pgdir/sock" -p "$pgport" -U postgres \
		-d "$db" "$@"
}
echo "== database"
psql_q -c "SELECT 'settings: fsync=' || current_setting('fsync')
	|| ' synchronous_commit=' || current_setting('synchronous_commit')
	|| ' full_page_writes=' || current_setting('full_page_writes')
	|| ' wal_sync_method=' || current_setting('wal_sync_method')
	|| ' shared_buffers=' || current_setting('shared_buffers')
	|| ' max_connections=' || current_setting('max_connections')"

say "applying migrations"
"$ctl" db migrate --db "$conninfo" >"$work/migrate.log" 2>&1 ||
	{ cat "$work/migrate.log" >&2; die "fairpayctl db migrate failed"; }
echo "migrations: $(psql_q -c "SELECT string_agg(version::text, ', ' ORDER BY version)
	FROM schema_migrations" 2>/dev/null || echo '?')"
"$pgsh" server-login "$pgdir"
# The ceilings run as the role fairpayd works as (its --db-role default),
# so that they too are held to the grants of migrations/0003.
app_role=fairpay_app
if [ "$(psql_q -c "SELECT count(*) FROM pg_roles WHERE rolname = '$app_role'")" != 1 ]; then
	echo "role: $app_role does not exist; the ceilings run as fairpayd itself"
	app_role=""
fi

"$root/scripts/gencerts.sh" "$certs"
admin_key=$("$ctl" db bootstrap-admin --db "$conninfo" | tail -n 1)
case "$admin_key" in
fp_*) ;;
*) die "fairpayctl db bootstrap-admin printed no key" ;;
esac

# ------------------------------------------------------------ CPU and commits

# The processes of the bench cluster are the postmaster and its children.
# What children that already exited used (pgbench's sessions end before the
# phase does) is in the postmaster's cutime and cstime, once it reaped them.
db_children() {
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$pm_pid" '{
		s = $0; sub(/^.*\) /, "", s); split(s, f, " ");
		if (f[2] == pm) print $1 }'
}
db_ticks() { # CPU ticks used so far by the cluster
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$pm_pid" '{
		s = $0; sub(/^.*\) /, "", s); split(s, f, " ");
		if ($1 == pm) t += f[12] + f[13] + f[14] + f[15];
		else if (f[2] == pm) t += f[12] + f[13] }
		END {printf "%.0f\n", t}'
}
# Client sessions of the bench database: clients log in as postgres (psql)
# or fairpayd (the server, pgbench).
db_sessions() {
	local n=0 p
	for p in $(db_children); do
		case "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null || true)" in
		"postgres: postgres $db "* | "postgres: fairpayd $db "*) n=$((n + 1)) ;;
		esac
	done
	echo "$n"
}
# Wait (up to 10 s) until the sessions of the bench database have ended and
# the postmaster reaped them: their CPU time is then in its cutime, and the
# counters they still held are published.
db_quiet() {
	for _ in $(seq 1 100); do
		[ "$(db_sessions)" = 0 ] && return 0
		sleep 0.1
	done
	warnings+=("sessions of the database still open 10 s after a phase: its figures may be off")
}
db_commits() { # transactions committed in the bench database so far
	psql_q -c "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
}

# The database's work in units that do not depend on how fast the machine
# ran (its CPU time does: runs minutes apart on this kind of machine differ
# by 20% and more): WAL bytes written, and shared buffers accessed (found or
# read). A session's buffer counts are published when it ends, as db_quiet
# waits for.
work_mark() { # prints: wal_bytes buffers
	psql_q -F ' ' -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint,
		blks_hit + blks_read FROM pg_stat_database WHERE datname = current_database()"
}
work_delta() { # work_delta MARK_BEFORE MARK_AFTER: the two figures, used in between
	awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " ");
		printf "%.0f %.0f\n", y[1] - x[1], y[2] - x[2]}'
}

cpu_mark() { # prints: machine_busy_ticks machine_total_ticks fairpayd_ticks cluster_ticks
	local srv_ticks=0
	if [ -n "$srv_pid" ] && [ -r "/proc/$srv_pid/stat" ]; then
		# The supervisor and its workers (--workers): fields after the
		# ")" that ends the command name, utime is the 12th.
		local p pids="$srv_pid"
		pids+=" $(cat "/proc/$srv_pid/task/$srv_pid/children" 2>/dev/null || true)"
		for p in $pids; do
			[ -r "/proc/$p/stat" ] || continue
			srv_ticks=$((srv_ticks + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
		done
	fi
	awk -v s="$srv_ticks" -v d="$(db_ticks)" '/^cpu /{t = 0; for (i = 2; i <= NF; i++) t += $i;
		printf "%.0f %.0f %.0f %.0f\n", t - $5 - $6, t, s, d; exit}' /proc/stat
}
cpu_delta() { # cpu_delta MARK_BEFORE MARK_AFTER: the same four figures, used in between
	awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " ");
		printf "%.0f %.0f %.0f %.0f\n", y[1] - x[1], y[2] - x[2], y[3] - x[3], y[4] - x[4]}'
}
cpu_report() { # cpu_report DELTA [srv]: who used the cores
	awk -v n="$(nproc)" -v d="$1" -v srv="${2:-}" 'BEGIN {
		split(d, x, " "); if (x[2] <= 0) exit;
		core = x[2] / n;
		printf "cpu: machine %.0f%% busy, postgres %.0f%% of one core", 100 * x[1] / x[2],
			100 * x[4] / core;
		if (srv != "") printf ", fairpayd %.0f%% of one core", 100 * x[3] / core;
		printf "\n" }'
}

# Commits that one psql reading of the counter adds itself (its session's
# transactions, published when it ends), measured while nothing else runs.
db_quiet
c0=$(db_commits)
db_quiet
c1=$(db_commits)
db_quiet
c2=$(db_commits)
psql_commits=$(((c1 - c0) < (c2 - c1) ? (c1 - c0) : (c2 - c1)))

# ------------------------------------------------------------ server

srv_args=()
srv_extra=() # more flags for the next start (phase W)
srv_start() { # start fairpayd on a free port and wait until it answers
	port=$(free_port)
	srv_args=(--listen "127.0.0.1:$port" --db "$srv_conninfo" --cert "$certs/server.pem"
		--key "$certs/server.key" --db-pool "$pool" --workers "$workers"
		${srv_extra[@]+"${srv_extra[@]}"})
	"$srv" "${srv_args[@]}" >>"$log" 2>&1 &
	srv_pid=$!
	for _ in $(seq 1 100); do
		if ! kill -0 "$srv_pid" 2>/dev/null; then
			cat "$log" >&2
			die "fairpayd exited during startup (log above)"
		fi
		if ctl_as "$admin_key" --timeout 1000 ping >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	cat "$log" >&2
	die "fairpayd did not answer ping within 10 s"
}
srv_stop() { # stop fairpayd and wait until its database sessions ended
	srv_kill
	db_quiet
}
ctl_as() { # ctl_as KEY ARGS...: fairpayctl against the running server
	local key=$1
	shift
	"$ctl" --server "127.0.0.1:$port" --ca "$certs/ca.pem" --api-key "$key" "$@"
}

echo "== fairpayd"
srv_start
echo "flags: ${srv_args[*]} (restarted between phases, on a new port)"

vendor_out=$(ctl_as "$admin_key" vendor create "Bench Shop") ||
	die "could not create the vendor: $vendor_out"
vendor_id=$(awk '/^vendor_id:/{print $2}' <<<"$vendor_out")
vendor_key=$(awk '/^api_key:/{print $2}' <<<"$vendor_out")
[ -n "$vendor_id" ] && [ -n "$vendor_key" ] ||
	die "unexpected output of 'fairpayctl vendor create': $vendor_out"

# Product and policy through the server (fairpayctl); straight into the
# tables when this fairpayctl cannot do it yet, saying why.
put_product_sql() {
	psql_q -c "INSERT INTO products (vendor_id, sku, name, currency, suggested_price_minor,
		list_price_minor) VALUES ('$vendor_id', '$sku', 'Bench product', 'EUR', $sp, $sp)"
}
put_policy_sql() {
	psql_q -c "INSERT INTO policies (vendor_id, probation_credit_minor, standard_credit_minor,
		trusted_credit_minor) VALUES ('$vendor_id', $credit, $credit, $credit)"
}
if ctl_as "$vendor_key" product put "$sku" --name "Bench product" --currency EUR --sp "$sp" \
	--list-price "$sp" >"$work/product.out" 2>&1; then
	echo "product: $sku, SP $sp EUR, list price $sp (fairpayctl product put)"
else
	echo "product: fairpayctl product put failed: $(tail -n 1 "$work/product.out"); using SQL"
	put_product_sql
	echo "product: $sku, SP $sp EUR, list price $sp (SQL)"
fi
if ctl_as "$vendor_key" policy set "probation_credit_minor=$credit" \
	"standard_credit_minor=$credit" "trusted_credit_minor=$credit" >"$work/policy.out" 2>&1; then
	echo "policy: defaults but credits $credit (fairpayctl policy set)"
else
	echo "policy: fairpayctl policy set failed: $(tail -n 1 "$work/policy.out"); using SQL"
	put_policy_sql
	echo "policy: defaults but credits $credit (SQL)"
fi

# ------------------------------------------------------------ runs through fairpayd

# tee that outlives a Ctrl-C, so that the figures fairpay-bench prints after
# draining still reach the screen before the script stops.
keep_tee() {
	(
		trap '' INT
		exec tee "$1"
	)
}

load() { # load MIX SECONDS [ARGS...]: fairpay-bench against the running server
	# The feed's end, from which the cycles mix measures the feed's lag.
	local feed_end mix=$1 secs=$2
	shift 2
	feed_end=$(psql_q -c "SELECT coalesce(max(id), 0) FROM events")
	"$bench" --server "127.0.0.1:$port" --ca "$certs/ca.pem" --api-key "$vendor_key" \
		--sku "$sku" --connections "$conns" --depth "$depth" --customers "$customers" \
		--mix "$mix" --duration "$secs" --feed-after "$feed_end" "$@"
}

# Warm-up, then ANALYZE. A fresh database has no statistics, and the plans
# that fairpayd's long-lived database sessions cache while the tables are
# empty stay in use until the next ANALYZE. Some of them get worse with every
# row: the deferred foreign-key checks of events, for one, were seen to pick
# offers_customer_idx/payments_customer_idx (vendor_id only, id as a filter)
# over the primary keys, scanning all the vendor's offers for each event, and
# halving the throughput within 30 s. Autovacuum fixes that within a minute or
# so in production; a short benchmark would measure only the bad plans.
echo
echo "== warm-up: cycles for ${warmup} s, then ANALYZE (a fresh database has no statistics)"
set +e
load cycles "$warmup" >"$work/warmup.txt"
rc=$?
set -e
echo "warm-up: $(awk '$1 == "cycles/s:" {c = $2} $1 == "errors:" {e = $2}
	END {printf "%s cycles/s, %s errors", c, e}' "$work/warmup.txt")"
if [ "$rc" != 0 ]; then
	cat "$work/warmup.txt"
	warnings+=("fairpay-bench warm-up exited $rc (output above)")
fi
srv_stop
psql_q -c "ANALYZE"

# The server runs alone here: the commits counted are its own (the cycles'
# and its sweeper's), plus those of the one psql that reads the counter
# before, which are taken off.
echo
echo "== 1. FairPay cycles through fairpayd: $conns connections x depth $depth, ${duration} s"
log_mark=$(wc -l <"$log")
srv_start
commits_before=$(db_commits)
wmark=$(work_mark)
mark=$(cpu_mark)
set +e
load cycles "$duration" | keep_tee "$work/cycles.txt"
rc=${PIPESTATUS[0]}
set -e
cpu_delta "$mark" "$(cpu_mark)" >"$work/cycles.cpu"
srv_stop
commits_after=$(db_commits)
work_delta "$wmark" "$(work_mark)" >"$work/cycles.work"
# Each worker's last line: the writes it committed and the transactions
# that committed them (group commit), from the server's own counters.
read -r writes write_commits < <(tail -n +"$((log_mark + 1))" "$log" |
	sed -nE 's/.*db totals: writes=([0-9]+) commits=([0-9]+).*/\1 \2/p' |
	awk '{w += $1; c += $2} END {print w + 0, c + 0}')
cpu_report "$(cat "$work/cycles.cpu")" srv | tee -a "$work/cycles.txt"
[ "$rc" = 0 ] || warnings+=("fairpay-bench cycles exited $rc (errors above)")
[ -s "$work/cycles.txt" ] || die "fairpay-bench printed nothing"

# Latency at half the load the server just carried: cycles started on a
# fixed schedule (fairpay-bench --rate), each cycle's latency from its
# scheduled start, so that a server falling behind shows it.
half_rate=$(awk '$1 == "cycles/s:" {printf "%d", $2 / 2}' "$work/cycles.txt")
if [ "${half_rate:-0}" -gt 0 ]; then
	echo
	echo "== 1h. FairPay cycles at half that load: $half_rate cycles/s on a schedule, ${duration} s"
	echo "(after ${warmup} s at that rate, not measured: the server was just restarted)"
	srv_start
	set +e
	load cycles "$warmup" --rate "$half_rate" >"$work/half-warmup.txt"
	load cycles "$duration" --rate "$half_rate" | keep_tee "$work/half.txt"
	rc=${PIPESTATUS[0]}
	set -e
	srv_stop
	[ "$rc" = 0 ] || warnings+=("fairpay-bench cycles at half load exited $rc (errors above)")
else
	warnings+=("no cycles/s from phase 1: no half-load phase")
fi

echo
echo "== 2. GetReputation through fairpayd: $conns connections x depth $depth, ${reads_duration} s"
srv_start
# The same reads first, unmeasured: the figure is the steady state, with
# the rows in the cache, not a freshly started server filling it.
load reads "$warmup" >"$work/reads-warmup.txt" || true
mark=$(cpu_mark)
set +e
load reads "$reads_duration" | keep_tee "$work/reads.txt"
rc=${PIPESTATUS[0]}
set -e
cpu_delta "$mark" "$(cpu_mark)" >"$work/reads.cpu"
srv_stop
cpu_report "$(cat "$work/reads.cpu")" srv | tee -a "$work/reads.txt"
[ "$rc" = 0 ] || warnings+=("fairpay-bench reads exited $rc (errors above)")

# ------------------------------------------------------------ webhooks

calc() { # calc EXPR A B [DECIMALS]: EXPR of a and b, or "-" when one is missing or b is 0
	awk -v a="${2:-}" -v b="${3:-}" "BEGIN {if (a == \"\" || b == \"\" || b + 0 == 0) print \"-\";
		else printf \"%.${4:-1}f\", $1}"
}

# A local HTTPS receiver (the tests' one: Node, npm standardwebhooks) that
# verifies every delivery; fairpayd trusts the bench CA and may reach
# 127.0.0.1. One endpoint takes PAYMENT_RECEIVED: one event per cycle.
echo
echo "== W. cycles with a webhook endpoint (PAYMENT_RECEIVED, local HTTPS receiver): ${webhook_duration} s"
wh_rate="" wh_created="" wh_during="" wh_drain="" wh_total=""
receiver_dir=$root/tests/receiver
if ! command -v node >/dev/null 2>&1 || [ ! -d "$receiver_dir/node_modules/standardwebhooks" ]; then
	warnings+=("phase W skipped: node or tests/receiver/node_modules missing (make deps)")
else
	srv_extra=(--webhook-ca-file "$certs/ca.pem" --webhook-allow-private)
	srv_start
	srv_extra=()
	wh_port=$(free_port)
	wh_out=$(ctl_as "$vendor_key" webhook create "https://127.0.0.1:$wh_port/hook" \
		--kinds payment_received 2>"$work/webhook-create.err") ||
		die "fairpayctl webhook create failed: $(cat "$work/webhook-create.err")"
	wh_id=$(awk '/^endpoint_id:/{print $2}' <<<"$wh_out")
	wh_secret=$(awk '/^secret:/{print $2}' <<<"$wh_out")
	node "$receiver_dir/receiver.js" --state "$work/receiver.json" --port "$wh_port" \
		--cert "$certs/server.pem" --key "$certs/server.key" --secret "$wh_secret" \
		>>"$work/receiver.log" 2>&1 &
	receiver_pid=$!
	for _ in $(seq 1 100); do
		[ -s "$work/receiver.json" ] && break
		sleep 0.1
	done
	rstate() { # rstate FIELD: a number of the receiver's state
		node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1]));
			const v = process.argv[2] === "ids" ? Object.keys(s.ids).length : s[process.argv[2]];
			console.log(v || 0)' "$work/receiver.json" "$1" 2>/dev/null || echo 0
	}
	events_before=$(psql_q -c "SELECT count(*) FROM events WHERE kind = 'PAYMENT_RECEIVED'")
	t0=$(date +%s.%N)
	set +e
	load cycles "$webhook_duration" >"$work/webhook-cycles.txt"
	rc=$?
	set -e
	t1=$(date +%s.%N)
	sleep 0.1 # the receiver writes its state every 50 ms
	wh_during=$(rstate ids)
	wh_created=$(($(psql_q -c "SELECT count(*) FROM events WHERE kind = 'PAYMENT_RECEIVED'") - events_before))
	# Drain: every event of the phase delivered (at least once), 60 s at most.
	for _ in $(seq 1 600); do
		[ "$(rstate ids)" -ge "$wh_created" ] && break
		sleep 0.1
	done
	t2=$(date +%s.%N)
	wh_total=$(rstate ids)
	wh_bad=$(rstate bad_signature)
	wh_rate=$(awk '$1 == "cycles/s:" {print $2; exit}' "$work/webhook-cycles.txt")
	wh_drain=$(calc "a - b" "$t2" "$t1" 2)
	wh_secs=$(calc "a - b" "$t1" "$t0" 2)
	echo "cycles: $wh_rate/s; PAYMENT_RECEIVED events created: $wh_created" \
		"($(calc "a / b" "$wh_created" "$wh_secs" 0)/s over ${wh_secs} s)"
	echo "delivered while the load ran: $wh_during ($(calc "a / b" "$wh_during" "$wh_secs" 0)/s);" \
		"all $wh_total of $wh_created delivered ${wh_drain} s after it stopped" \
		"($(calc "a / b" "$wh_total" "$(calc "a + b" "$wh_secs" "$wh_drain" 2)" 0)/s overall);" \
		"bad signatures: $wh_bad"
	[ "$wh_total" -ge "$wh_created" ] ||
		warnings+=("webhooks: only $wh_total of $wh_created events delivered 60 s after the load")
	[ "$wh_bad" = 0 ] || warnings+=("webhooks: $wh_bad deliveries failed verification")
	[ "$rc" = 0 ] || warnings+=("fairpay-bench cycles (W) exited $rc")
	ctl_as "$vendor_key" webhook delete "$wh_id" >/dev/null || true
	kill "$receiver_pid" 2>/dev/null || true
	wait "$receiver_pid" 2>/dev/null || true
	srv_stop
fi

# ------------------------------------------------------------ ceilings (pgbench)

# What the rules need of the policy and the product, from the database, so
# that the ceilings write the rows the server would write for them.
policy_vars=$(psql_q -F ' ' -c "SELECT 'prior=' || pol.prior_score_bp, 'alpha=' || pol.alpha_bp,
	'probation=' || pol.probation_payments, 'trusted=' || pol.trusted_score_bp,
	'fair=' || pol.fair_score_bp, 'low=' || pol.low_score_bp,
	'max_open_defaults=' || pol.max_open_defaults, 'credit=' || pol.standard_credit_minor,
	'ttl=' || pol.offer_ttl_seconds, 'window=' || pol.payment_window_seconds,
	'currency=' || p.currency, 'sp=' || p.suggested_price_minor
	FROM policies pol JOIN products p ON p.vendor_id = pol.vendor_id
	WHERE pol.vendor_id = '$vendor_id' AND p.sku = '$sku'")
[ -n "$policy_vars" ] || die "no policy or product row for $vendor_id"
pgbench_vars=(-D "vendor=$vendor_id" -D "sku=$sku")
for kv in $policy_vars; do
	pgbench_vars+=(-D "$kv")
done

# pgbench expression of the tier (rule 8) for a score, payments and open
# defaults: the FairPay tier numbers, FIXED_PRICE 1 to TRUSTED 5.
tier_of() {
	echo "case when :$3 >= :max_open_defaults or :$1 < :low then 1" \
		"when :$2 < :probation then 3 when :$1 >= :trusted then 5" \
		"when :$1 >= :fair then 4 else 2 end"
}
tiers="(ARRAY['FIXED_PRICE', 'RESTRICTED', 'PROBATION', 'STANDARD', 'TRUSTED'])"

# The plain SQL of cycle I of a transaction, for a random customer in LO..HI:
# what fairpayd writes for CreateOffer, AcceptOffer and SubmitPayment of the
# SP, with ids of the server's shapes (o_/p_ and 16 hex digits). The
# reputations row is locked (inserted first if missing) and read, the new
# values are computed by pgbench as the server computes them in C, and
# written. The lock's SELECT is wrapped in aggregates because \gset needs
# exactly one row, also for a customer without a row. pgbench takes every
# ":name" for a variable, inside quotes too: hence the quoted colons of the
# to_char format.
# What each event of a cycle adds to the insights (events.insights), as
# fairpayd wrote it for the same cycle in the warm-up: the ceiling stores the
# same, and the numbers stay written once (server/store/facts.h).
facts_of() { # facts_of KIND: the insights of the server's last KIND event
	psql_q -c "SELECT insights FROM events WHERE kind = '$1' AND insights IS NOT NULL
		ORDER BY id DESC LIMIT 1"
}
cycle_sql() { # cycle_sql I LO HI
	local i=$1 lo=$2 hi=$3 r=r${1}_
	local cust="'bench-' || lpad(:c$i::text, 8, '0')"
	local offer="'o_' || lpad(to_hex(:o$i::bigint), 16, '0')"
	local pay="'p_' || lpad(to_hex(:p$i::bigint), 16, '0')"
	local lock="SELECT count(*) AS have, coalesce(max(score_bp), :prior) AS score,
	coalesce(max(payments), 0) AS payments, coalesce(max(open_defaults), 0) AS open_defaults,
	coalesce(max(offers_accepted), 0) AS accepted, coalesce(max(credit_used_minor), 0) AS used,
	coalesce(max(total_paid_minor), 0) AS paid,
	coalesce(max(total_suggested_minor), 0) AS suggested
	FROM (SELECT * FROM reputations WHERE vendor_id = :vendor AND customer_id = $cust
	      FOR UPDATE) r \gset $r"
	cat <<EOF
\set c$i random($lo, $hi)
\set o$i random(1, 9223372036854775806)
\set p$i random(1, 9223372036854775806)
$lock
\if :${r}have = 0
INSERT INTO reputations (vendor_id, customer_id, score_bp) VALUES (:vendor, $cust, :prior)
	ON CONFLICT DO NOTHING;
$lock
\endif
\set tier$i $(tier_of "${r}score" "${r}payments" "${r}open_defaults")
\set used$i :${r}used + :sp
\set accepted$i :${r}accepted + 1
\set score$i :${r}score + (10000 - :${r}score) * :alpha / 10000
\set payments$i :${r}payments + 1
\set paid$i :${r}paid + :sp
\set suggested$i :${r}suggested + :sp
\set new_tier$i $(tier_of "score$i" "payments$i" "${r}open_defaults")
INSERT INTO offers (vendor_id, id, customer_id, sku, mode, currency, suggested_price_minor,
	tier, credit_limit_minor, credit_used_minor, reasons, expires_at)
	VALUES (:vendor, $offer, $cust, :sku, 'FAIRPAY', :currency, :sp, ${tiers}[:tier$i], :credit,
	:${r}used, CASE WHEN :tier$i = 3 THEN '{PROBATION}' ELSE '{}' END::text[],
	now() + :ttl * interval '1 second');
UPDATE offers SET status = 'ACCEPTED', accepted_at = now(),
	pay_by = now() + :window * interval '1 second', credit_limit_minor = :credit,
	credit_used_minor = :used$i
	WHERE vendor_id = :vendor AND id = $offer;
UPDATE reputations SET offers_accepted = :accepted$i, credit_used_minor = :used$i,
	updated_at = now()
	WHERE vendor_id = :vendor AND customer_id = $cust;
INSERT INTO payments (vendor_id, id, offer_id, customer_id, amount_minor, currency,
	suggested_price_minor, fairness_bp, raw_fairness_bp, verdict, created_at, score_before_bp)
	VALUES (:vendor, $pay, $offer, $cust, :sp, :currency, :sp, 10000, 10000, 'FAIR',
	clock_timestamp(), :${r}score);
UPDATE offers SET status = 'PAID', closed_at = clock_timestamp()
	WHERE vendor_id = :vendor AND id = $offer;
UPDATE reputations SET score_bp = :score$i, payments = :payments$i, total_paid_minor = :paid$i,
	total_suggested_minor = :suggested$i, credit_used_minor = :${r}used, updated_at = now()
	WHERE vendor_id = :vendor AND customer_id = $cust;
INSERT INTO events (vendor_id, customer_id, offer_id, payment_id, kind, detail, insights) VALUES
	(:vendor, $cust, $offer, NULL, 'OFFER_CREATED', 'sku ' || :sku::text
		|| ', mode FAIRPAY, suggested ' || :sp::text || ', tier ' || ${tiers}[:tier$i]
		|| ', reasons ' || CASE WHEN :tier$i = 3 THEN 'PROBATION' ELSE 'none' END,
		'$facts_created'),
	(:vendor, $cust, $offer, NULL, 'OFFER_ACCEPTED', 'pay by '
		|| to_char((now() + :window * interval '1 second') AT TIME ZONE 'UTC',
			   'YYYY-MM-DD"T"HH24":"MI":"SS"Z"')
		|| ', credit used ' || :used$i::text || ' of ' || :credit::text, '$facts_accepted'),
	(:vendor, $cust, $offer, $pay, 'PAYMENT_RECEIVED', 'amount ' || :sp::text
		|| ', suggested ' || :sp::text
		|| ', fairness 10000 (raw 10000), verdict FAIR, review NOT_NEEDED',
		'$facts_paid'),
	(:vendor, $cust, $offer, $pay, 'REPUTATION_CHANGED', 'score ' || :${r}score::text
		|| ' -> ' || :score$i::text || ', tier ' || ${tiers}[:new_tier$i], NULL);
EOF
}

# A transaction of N cycles. Cycle I takes its customer from the I-th of N
# equal slices of the customer space, so that every transaction locks (or
# inserts) reputations rows in key order and none can deadlock with another;
# over many transactions every customer is as likely.
cycles_script() { # cycles_script N
	local n=$1 i lo hi
	echo "BEGIN;"
	for i in $(seq 1 "$n"); do
		lo=$(((i - 1) * customers / n))
		hi=$((i * customers / n - 1))
		[ "$hi" -ge "$lo" ] || hi=$lo
		cycle_sql "$i" "$lo" "$hi"
	done
	echo "COMMIT;"
}
facts_created=$(facts_of OFFER_CREATED)
facts_accepted=$(facts_of OFFER_ACCEPTED)
facts_paid=$(facts_of PAYMENT_RECEIVED)
[ -n "$facts_created" ] && [ -n "$facts_accepted" ] && [ -n "$facts_paid" ] ||
	die "no insights in the server's events to write in ceiling A"
cycles_script 1 >"$work/cycle.sql"
cycles_script "$batch" >"$work/cycle$batch.sql"
cat >"$work/read.sql" <<EOF
\set c random(0, $((customers - 1)))
SELECT * FROM reputations WHERE vendor_id = :vendor AND customer_id = 'bench-' || lpad(:c::text, 8, '0');
EOF

# ceiling NAME SECONDS SCRIPT [PGBENCH ARGS...]: output in $work/NAME.txt,
# CPU in $work/NAME.cpu, cycles committed (payments made) in $work/NAME.cycles.
# Generic plans from the first run: A16's script holds 16 copies of each
# statement, each of which would otherwise be planned anew for its first 5
# runs, in every session.
ceiling() {
	local name=$1 secs=$2 script=$3 rc payments
	shift 3
	payments=$(psql_q -c "SELECT count(*) FROM payments")
	wmark=$(work_mark)
	mark=$(cpu_mark)
	set +e
	PGOPTIONS="-c plan_cache_mode=force_generic_plan${app_role:+ -c role=$app_role}" \
		"$pgbin/pgbench" -n -M prepared -c "$conns" -j 2 -T "$secs" "$@" -f "$script" \
		"${pgbench_vars[@]}" -h "$pgdir/sock" -p "$pgport" -U fairpayd "$db" \
		>"$work/$name.txt" 2>&1
	rc=$?
	set -e
	db_quiet
	cpu_delta "$mark" "$(cpu_mark)" >"$work/$name.cpu"
	work_delta "$wmark" "$(work_mark)" >"$work/$name.work"
	echo $(($(psql_q -c "SELECT count(*) FROM payments") - payments)) >"$work/$name.cycles"
	cpu_report "$(cat "$work/$name.cpu")" >>"$work/$name.txt"
	cat "$work/$name.txt"
	[ "$rc" = 0 ] || warnings+=("pgbench $name exited $rc (output above)")
}

echo
echo "== A. pgbench, the plain SQL of a cycle, one cycle per transaction: -c $conns -j 2, ${duration} s"
ceiling A "$duration" "$work/cycle.sql" -r
echo
echo "== A$batch. pgbench, the same with $batch cycles per transaction: -c $conns -j 2, ${duration} s"
ceiling "A$batch" "$duration" "$work/cycle$batch.sql"
echo
echo "== B. pgbench, a prepared point read of one reputations row: -c $conns -j 2, ${reads_duration} s"
ceiling B "$reads_duration" "$work/read.sql" -r

# ------------------------------------------------------------ summary

field() { # field FILE NAME: the value of a "NAME: value" line
	awk -v k="$2:" '$1 == k {print $2; exit}' "$1" 2>/dev/null
}
lat() { # lat FILE CALL: "p50/p99 ms" of one row of the latency table
	awk -v k="$2" '$1 == k {printf "%s / %s ms (max %s)", $4, $5, $6; exit}' "$1" 2>/dev/null
}
pg_field() { # pg_field NAME PATTERN: the number after PATTERN in a pgbench output
	awk -v p="$2" 'index($0, p) == 1 {s = substr($0, length(p) + 1); sub(/^[ :=]*/, "", s);
		split(s, w, /[ \/]/); print w[1]; exit}' "$work/$1.txt"
}
pg_failed() { # pg_failed NAME: failed transactions of a pgbench run, and aborted clients
	local a
	printf '%s' "$(pg_field "$1" "number of failed transactions")"
	a=$(grep -c 'aborted in command' "$work/$1.txt" || true)
	[ "$a" = 0 ] || printf ' (%s clients aborted)' "$a"
}
cpu_us() { # cpu_us PHASE FIELD COUNT: CPU microseconds (field 3 fairpayd, 4 cluster) per unit
	calc "a * 1000000 / $clk_tck / b" "$(awk -v f="$2" '{print $f}' "$work/$1.cpu")" "$3" 0
}
work_per() { # work_per PHASE FIELD COUNT: WAL bytes (1) or buffers (2) per unit
	calc "a / b" "$(awk -v f="$2" '{print $f}' "$work/$1.work")" "$3" 0
}
ceiling_rate() { # ceiling_rate NAME: cycles committed per second of a pgbench run
	local secs
	# pgbench's own time, without connecting: scripts run / their rate.
	secs=$(calc "a / b" "$(pg_field "$1" "number of transactions actually processed")" \
		"$(pg_field "$1" "tps =")" 3)
	calc "a / b" "$(cat "$work/$1.cycles")" "$secs"
}

srv_cycles=$(field "$work/cycles.txt" cycles)
srv_calls=$(field "$work/cycles.txt" calls)
srv_cps=$(field "$work/cycles.txt" "cycles/s")
srv_reads=$(field "$work/reads.txt" calls)
srv_rps=$(field "$work/reads.txt" "calls/s")
a_cps=$(ceiling_rate A)
a16_cps=$(ceiling_rate "A$batch")
b_rps=$(calc "a" "$(pg_field B "tps =")" 1)
b_reads=$(pg_field B "number of transactions actually processed")
db_srv=$(cpu_us cycles 4 "$srv_cycles")
db_a=$(cpu_us A 4 "$(cat "$work/A.cycles")")
db_a16=$(cpu_us "A$batch" 4 "$(cat "$work/A$batch.cycles")")
wal_srv=$(work_per cycles 1 "$srv_cycles")
wal_a=$(work_per A 1 "$(cat "$work/A.cycles")")
buf_srv=$(work_per cycles 2 "$srv_cycles")
buf_a=$(work_per A 2 "$(cat "$work/A.cycles")")
db_srv_read=$(cpu_us reads 4 "$srv_reads")
db_b=$(cpu_us B 4 "$b_reads")
commits=$((commits_after - commits_before - psql_commits))

# Every line but the INFO and DEBUG ones of its log format (warnings,
# errors, and anything else written to its stderr).
log_other() {
	grep -vE '^[0-9-]+T[0-9:.]+Z (DEBUG|INFO) ' "$log" || true
}
log_lines=$(log_other | wc -l)

ratio() { calc "a / b" "$1" "$2" 2; }
row() { # row LABEL FAIRPAYD CEILING WHICH RATIO
	printf '%-28s %10s %10s  %-30s %s\n' "$1" "${2:--}" "${3:-}" "${4:-}" "${5:-}"
}

echo
echo "== summary ($(nproc) cpus, $cpu; PostgreSQL $pgversion, durable commits)"
echo "fairpayd: $conns connections x depth $depth, --db-pool $pool, --workers $workers (0: one per cpu); ceilings: pgbench -M prepared" \
	"-c $conns -j 2 on the same database${app_role:+, as role $app_role}"
row "" fairpayd ceiling "which ceiling" "fairpayd/ceiling"
row "cycles/s" "$srv_cps" "$a_cps" "A   plain SQL, 1 cycle/xact" "$(ratio "$srv_cps" "$a_cps")"
row "cycles/s" "$srv_cps" "$a16_cps" "A$batch plain SQL, $batch cycles/xact" \
	"$(ratio "$srv_cps" "$a16_cps")"
row "GetReputation/s" "$srv_rps" "$b_rps" "B   prepared point read" "$(ratio "$srv_rps" "$b_rps")"
row "database CPU/cycle (us)" "$db_srv" "$db_a" "A" "$(ratio "$db_srv" "$db_a")"
row "database CPU/cycle (us)" "$db_srv" "$db_a16" "A$batch" "$(ratio "$db_srv" "$db_a16")"
row "WAL bytes/cycle" "$wal_srv" "$wal_a" "A" "$(ratio "$wal_srv" "$wal_a")"
row "buffer accesses/cycle" "$buf_srv" "$buf_a" "A" "$(ratio "$buf_srv" "$buf_a")"
row "database CPU/read (us)" "$db_srv_read" "$db_b" "B" "$(ratio "$db_srv_read" "$db_b")"
row "fairpayd CPU/cycle (us)" "$(cpu_us cycles 3 "$srv_cycles")"
row "fairpayd CPU/read (us)" "$(cpu_us reads 3 "$srv_reads")"
row "writes per commit" "$(calc "a / b" "$writes" "$write_commits" 2)" 3 \
	"A ($((3 * batch)) in A$batch)"
row "calls per transaction" "$(calc "a / b" "$srv_calls" "$commits" 2)"
echo "  database CPU: every process of the cluster, from /proc. WAL bytes and buffer accesses"
echo "  (pg_stat_database blks_hit + blks_read): the database's work, whatever the machine's speed."
echo "  writes per commit: the server's $writes writes over the $write_commits transactions that"
echo "  committed them (group commit)."
echo "  calls per transaction: the $srv_calls calls answered over every transaction of the phase,"
echo "  reads included ($commits: pg_stat_database.xact_commit, less $psql_commits of its own psql)"
echo "cpu during the phases (machine busy; postgres and fairpayd, % of one core):"
for phase in cycles reads A "A$batch" B; do
	with_srv=""
	case $phase in cycles | reads) with_srv=srv ;; esac
	printf '  %-8s %s\n' "$phase" \
		"$(cpu_report "$(cat "$work/$phase.cpu")" "$with_srv" | sed 's/^cpu: //')"
done
echo "latency p50 / p99 (max) through fairpayd:"
for k in CreateOffer AcceptOffer SubmitPayment cycle; do
	printf '  %-26s %s\n' "$k" "$(lat "$work/cycles.txt" "$k")"
done
printf '  %-26s %s\n' "GetReputation" "$(lat "$work/reads.txt" GetReputation)"
printf '  %-26s %s\n' "cycle at half load (1h)" \
	"$(lat "$work/half.txt" cycle) at $(field "$work/half.txt" "cycles/s") cycles/s"
printf '%-28s %s\n' "feed lag (ListEvents):" \
	"$(sed -n 's/^feed_lag_ms: //p; s/^feed_lag: //p' "$work/cycles.txt")"
if [ -n "$wh_created" ]; then
	printf '%-28s %s\n' "webhooks (W):" "$wh_created events made at $(calc "a / b" "$wh_created" \
		"$wh_secs" 0)/s (cycles $wh_rate/s); delivered $(calc "a / b" "$wh_during" "$wh_secs" 0)/s\
 while the load ran, the rest ${wh_drain} s after"
fi
printf '%-28s %s\n' "errors (cycles / reads):" \
	"$(field "$work/cycles.txt" errors) / $(field "$work/reads.txt" errors)"
printf '%-28s %s\n' "offers not FairPay:" "$(field "$work/cycles.txt" offers_not_fairpay)"
printf '%-28s %s\n' "pgbench failed transactions:" \
	"A $(pg_failed A), A$batch $(pg_failed "A$batch"), B $(pg_failed B)"
printf '%-28s %s\n' "fairpayd log warn/error lines:" "$log_lines"
if [ "$log_lines" != 0 ]; then
	log_other | head -n 5 | sed 's/^/  /'
fi
if awk -v l="$load_start" 'BEGIN {exit !(l > 0.5)}'; then
	echo "NOTE: load average was $load_start before the run: other work shared the cores"
fi
for w in "${warnings[@]}"; do
	echo "WARNING: $w"
done
[ ${#warnings[@]} = 0 ]
