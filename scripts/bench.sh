#!/usr/bin/env bash
# bench.sh: load test of a fresh server and database (`make bench`).
#
# Builds nothing (make does): starts a throwaway PostgreSQL cluster with
# durable commits, as in production, applies the migrations, makes test
# certificates, an admin key, runs fairpayd on a free port, creates a vendor
# with a product (SP 1000) and a policy whose FairPay credits are so large
# that every offer stays a FairPay offer, warms up (and runs ANALYZE), then
# measures:
#   1. FairPay cycles through fairpayd (build/fairpay-bench --mix cycles),
#   2. GetReputation reads through fairpayd (--mix reads),
#   3. pgbench running the same SQL functions on the same database, one cycle
#      per transaction, at the same concurrency: the ceiling of the database,
#      against which the server's figure is compared.
# Everything lives in a temporary directory removed on exit (also on Ctrl-C
# or an error); the server and the cluster are stopped.
#
# Environment: BENCH_DURATION (10 s), BENCH_WARMUP (3 s), BENCH_READS_DURATION (5 s),
# BENCH_CONNECTIONS (16), BENCH_DEPTH (8), BENCH_CUSTOMERS (10000),
# BENCH_DB_POOL (4), BENCH_KEEP=1 keeps the directory, FP_BUILD (build).
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
conns=${BENCH_CONNECTIONS:-16}
depth=${BENCH_DEPTH:-8}
customers=${BENCH_CUSTOMERS:-10000}
pool=${BENCH_DB_POOL:-4}
sku="bench-sku"
sp=1000
credit=1000000000000 # 10^12: no customer ever reaches its FairPay credit limit

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

for v in duration warmup reads_duration conns depth customers pool; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive whole number (got '${!v}')"
done
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
cleanup() {
	local rc=$?
	[ $cleaned = 1 ] && return
	cleaned=1
	if [ -n "$srv_pid" ] && kill -0 "$srv_pid" 2>/dev/null; then
		kill -TERM "$srv_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$srv_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$srv_pid" 2>/dev/null || true
		wait "$srv_pid" 2>/dev/null || true
	fi
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
"$pgsh" createdb "$pgdir" fairpay
conninfo="host=$pgdir/sock port=$pgport user=postgres dbname=fairpay"
psql_q() {
	"$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$pgdir/sock" -p "$pgport" -U postgres \
		-d fairpay "$@"
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
for fn in fp_create_offer fp_accept_offer fp_submit_payment fp_get_reputation; do
	[ "$(psql_q -c "SELECT to_regproc('$fn') IS NOT NULL")" = t ] ||
		die "the database has no function $fn after 'fairpayctl db migrate': the FairPay" \
			"cycle migration (migrations/0002_fairpay_cycle.sql) is missing or was not" \
			"built into fairpayctl"
done
echo "migrations: $(psql_q -c "SELECT string_agg(version::text, ', ' ORDER BY version)
	FROM schema_migrations" 2>/dev/null || echo '?')"

"$root/scripts/gencerts.sh" "$certs"
admin_key=$("$ctl" db bootstrap-admin --db "$conninfo" | tail -n 1)
case "$admin_key" in
fp_*) ;;
*) die "fairpayctl db bootstrap-admin printed no key" ;;
esac

# ------------------------------------------------------------ server

port=$(free_port)
srv_args=(--listen "127.0.0.1:$port" --db "$conninfo" --cert "$certs/server.pem"
	--key "$certs/server.key" --db-pool "$pool")
echo "== fairpayd"
echo "flags: ${srv_args[*]}"
"$srv" "${srv_args[@]}" >"$log" 2>&1 &
srv_pid=$!

ctl_admin=("$ctl" --server "127.0.0.1:$port" --ca "$certs/ca.pem" --api-key "$admin_key")
ready=0
for _ in $(seq 1 100); do
	if ! kill -0 "$srv_pid" 2>/dev/null; then
		cat "$log" >&2
		die "fairpayd exited during startup (log above)"
	fi
	if "${ctl_admin[@]}" --timeout 1000 ping >/dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 0.1
done
[ $ready = 1 ] || { cat "$log" >&2; die "fairpayd did not answer ping within 10 s"; }

vendor_out=$("${ctl_admin[@]}" vendor create "Bench Shop") ||
	die "could not create the vendor: $vendor_out"
vendor_id=$(awk '/^vendor_id:/{print $2}' <<<"$vendor_out")
vendor_key=$(awk '/^api_key:/{print $2}' <<<"$vendor_out")
[ -n "$vendor_id" ] && [ -n "$vendor_key" ] ||
	die "unexpected output of 'fairpayctl vendor create': $vendor_out"
ctl_vendor=("$ctl" --server "127.0.0.1:$port" --ca "$certs/ca.pem" --api-key "$vendor_key")

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
if "${ctl_vendor[@]}" product put "$sku" --name "Bench product" --currency EUR --sp "$sp" \
	--list-price "$sp" >"$work/product.out" 2>&1; then
	echo "product: $sku, SP $sp EUR, list price $sp (fairpayctl product put)"
else
	echo "product: fairpayctl product put failed: $(tail -n 1 "$work/product.out"); using SQL"
	put_product_sql
	echo "product: $sku, SP $sp EUR, list price $sp (SQL)"
fi
if "${ctl_vendor[@]}" policy set "probation_credit_minor=$credit" \
	"standard_credit_minor=$credit" "trusted_credit_minor=$credit" >"$work/policy.out" 2>&1; then
	echo "policy: defaults but credits $credit (fairpayctl policy set)"
else
	echo "policy: fairpayctl policy set failed: $(tail -n 1 "$work/policy.out"); using SQL"
	put_policy_sql
	echo "policy: defaults but credits $credit (SQL)"
fi

# ------------------------------------------------------------ runs

# tee that outlives a Ctrl-C, so that the figures fairpay-bench prints after
# draining still reach the screen before the script stops.
keep_tee() {
	(
		trap '' INT
		exec tee "$1"
	)
}

# CPU accounting around each run, from /proc: the machine's busy share and
# fairpayd's, so that one sees who used the two cores (the rest of the busy
# time is PostgreSQL and the load generator, which prints its own).
cpu_mark() { # prints: machine_busy_ticks machine_total_ticks fairpayd_ticks
	local srv_ticks=0
	if [ -r "/proc/$srv_pid/stat" ]; then
		# Fields after the ")" that ends the command name: utime is the 12th.
		srv_ticks=$(sed 's/^.*) //' "/proc/$srv_pid/stat" | awk '{print $12 + $13}')
	fi
	awk -v s="$srv_ticks" '/^cpu /{t = 0; for (i = 2; i <= NF; i++) t += $i;
		print t - $5 - $6, t, s; exit}' /proc/stat
}
cpu_report() { # cpu_report MARK_BEFORE MARK_AFTER
	awk -v n="$(nproc)" -v a="$1" -v b="$2" 'BEGIN {
		split(a, x, " "); split(b, y, " ");
		total = y[2] - x[2]; if (total <= 0) exit;
		printf "cpu: machine %.0f%% busy, ", 100 * (y[1] - x[1]) / total;
		if (y[3] < x[3]) print "fairpayd gone";
		else printf "fairpayd %.0f%% of one core\n", 100 * (y[3] - x[3]) / (total / n) }'
}

bench_args=(--server "127.0.0.1:$port" --ca "$certs/ca.pem" --api-key "$vendor_key"
	--sku "$sku" --connections "$conns" --depth "$depth" --customers "$customers")
warnings=()

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
"$bench" "${bench_args[@]}" --mix cycles --duration "$warmup" >"$work/warmup.txt"
rc=$?
set -e
echo "warm-up: $(awk '$1 == "cycles/s:" {c = $2} $1 == "errors:" {e = $2}
	END {printf "%s cycles/s, %s errors", c, e}' "$work/warmup.txt")"
if [ "$rc" != 0 ]; then
	cat "$work/warmup.txt"
	warnings+=("fairpay-bench warm-up exited $rc (output above)")
fi
psql_q -c "ANALYZE"

echo
echo "== 1. FairPay cycles through fairpayd: $conns connections x depth $depth, ${duration} s"
mark=$(cpu_mark)
set +e
"$bench" "${bench_args[@]}" --mix cycles --duration "$duration" | keep_tee "$work/cycles.txt"
rc=${PIPESTATUS[0]}
set -e
cpu_report "$mark" "$(cpu_mark)" | tee -a "$work/cycles.txt"
[ "$rc" = 0 ] || warnings+=("fairpay-bench cycles exited $rc (errors above)")
[ -s "$work/cycles.txt" ] || die "fairpay-bench printed nothing"

echo
echo "== 2. GetReputation through fairpayd: $conns connections x depth $depth, ${reads_duration} s"
mark=$(cpu_mark)
set +e
"$bench" "${bench_args[@]}" --mix reads --duration "$reads_duration" | keep_tee "$work/reads.txt"
rc=${PIPESTATUS[0]}
set -e
cpu_report "$mark" "$(cpu_mark)" | tee -a "$work/reads.txt"
[ "$rc" = 0 ] || warnings+=("fairpay-bench reads exited $rc (errors above)")

# The statements fairpayd sends for one cycle (server/rpc_cycle.c), with ids
# made the way the server makes them, in one transaction instead of three.
cat >"$work/cycle.sql" <<'EOF'
\set c random(0, :customers - 1)
\set o random(1, 9223372036854775806)
\set p random(1, 9223372036854775806)
\set n random(1, 9223372036854775806)
BEGIN;
SELECT (r).* FROM fp_create_offer(:vendor, 'o_' || lpad(to_hex(:o::bigint), 16, '0'),
	'bench-' || lpad(:c::text, 8, '0'), :sku, NULL, NULL, NULL) r;
SELECT (r).* FROM fp_accept_offer(:vendor, 'o_' || lpad(to_hex(:o::bigint), 16, '0')) r;
SELECT (x.payment).*, (x.reputation).*, pol.probation_payments, pol.max_open_defaults,
	(x.next_offer).*
	FROM fp_submit_payment(:vendor, 'p_' || lpad(to_hex(:p::bigint), 16, '0'),
		'o_' || lpad(to_hex(:o::bigint), 16, '0'), :sp, NULL, 0, '', '',
		'o_' || lpad(to_hex(:n::bigint), 16, '0')) x,
	fp_policy_of(:vendor) pol;
COMMIT;
EOF
echo
echo "== 3. pgbench, the same SQL in one transaction per cycle: -c $conns -j 2, ${duration} s"
mark=$(cpu_mark)
set +e
"$pgbin/pgbench" -n -M extended -r -c "$conns" -j 2 -T "$duration" -f "$work/cycle.sql" \
	-D vendor="$vendor_id" -D sku="$sku" -D sp="$sp" -D customers="$customers" \
	-h "$pgdir/sock" -p "$pgport" -U postgres fairpay >"$work/pgbench.txt" 2>&1
rc=$?
set -e
cpu_report "$mark" "$(cpu_mark)" >>"$work/pgbench.txt"
cat "$work/pgbench.txt"
[ "$rc" = 0 ] || warnings+=("pgbench exited $rc (output above)")

# ------------------------------------------------------------ summary

field() { # field FILE NAME: the value of a "NAME: value" line
	awk -v k="$2:" '$1 == k {print $2; exit}' "$1" 2>/dev/null
}
lat() { # lat FILE CALL: "p50/p99 ms" of one row of the latency table
	awk -v k="$2" '$1 == k {printf "%s / %s ms (max %s)", $4, $5, $6; exit}' "$1" 2>/dev/null
}
srv_cps=$(field "$work/cycles.txt" "cycles/s")
reads_cps=$(field "$work/reads.txt" "calls/s")
pg_tps=$(awk '/^tps = /{printf "%.1f", $3; exit}' "$work/pgbench.txt")
pg_fail=$(awk '/number of failed transactions/{print $5; exit}' "$work/pgbench.txt")
ratio=$(awk -v a="${srv_cps:-0}" -v b="${pg_tps:-0}" \
	'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')
log_lines=$(grep -ciE 'error|warn|fatal' "$log" || true)

echo
echo "== summary ($(nproc) cpus, $cpu; PostgreSQL $pgversion, durable commits)"
printf '%-34s %s\n' "fairpayd cycles/s:" \
	"${srv_cps:-?}  ($conns conns x depth $depth, --db-pool $pool, 3 transactions/cycle)"
printf '%-34s %s\n' "pgbench cycles/s (same SQL):" \
	"${pg_tps:-?}  (-c $conns -j 2, 1 transaction/cycle)"
printf '%-34s %s\n' "ratio fairpayd / pgbench:" "$ratio"
printf '%-34s %s\n' "cpu during cycles:" "$(sed -n 's/^cpu: //p' "$work/cycles.txt")"
printf '%-34s %s\n' "cpu during pgbench:" "$(sed -n 's/^cpu: //p' "$work/pgbench.txt")"
printf '%-34s %s\n' "fairpayd GetReputation/s:" "${reads_cps:-?}"
for k in CreateOffer AcceptOffer SubmitPayment cycle; do
	printf '%-34s %s\n' "  $k p50 / p99:" "$(lat "$work/cycles.txt" "$k")"
done
printf '%-34s %s\n' "  GetReputation p50 / p99:" "$(lat "$work/reads.txt" GetReputation)"
printf '%-34s %s\n' "errors (cycles / reads):" \
	"$(field "$work/cycles.txt" errors) / $(field "$work/reads.txt" errors)"
printf '%-34s %s\n' "offers not FairPay:" "$(field "$work/cycles.txt" offers_not_fairpay)"
printf '%-34s %s\n' "pgbench failed transactions:" "${pg_fail:-0}"
printf '%-34s %s\n' "fairpayd log error/warn lines:" "$log_lines"
if [ "$log_lines" != 0 ]; then
	grep -iE 'error|warn|fatal' "$log" | head -n 5 | sed 's/^/  /'
fi
if awk -v l="$load_start" 'BEGIN {exit !(l > 0.5)}'; then
	echo "NOTE: load average was $load_start before the run: other work shared the cores"
fi
for w in "${warnings[@]}"; do
	echo "WARNING: $w"
done
[ ${#warnings[@]} = 0 ]
