#!/usr/bin/env bash
# ha-demo.sh: fairpayd on a pg_auto_failover formation, and a failover
# without anyone running promote (`make ha-demo`).
#
# Starts a monitor, a primary and a synchronous secondary (scripts/ha.sh, on
# 127.0.0.1:7450-7452), applies the migrations through the formation's
# conninfo (the one `pg_autoctl show uri` prints), starts fairpayd on it
# (127.0.0.1:7453, its admin endpoint on 7454), runs a few FairPay cycles,
# kills the primary's postgres and its keeper with SIGKILL (the host lost),
# and runs cycles until one is answered again: the monitor promotes the
# secondary and libpq's target_session_attrs=read-write finds it. Then the
# old primary's keeper is started again and rejoins as the secondary, and
# the server log is followed until Ctrl-C, which stops everything.
# Everything lives in ${FP_HA_DEMO_DIR:-./.ha-demo}, recreated on each run;
# FP_HA_DEMO_BASE moves the five ports (default 7450).
set -euo pipefail

demo=${FP_HA_DEMO_DIR:-$PWD/.ha-demo}
root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root"
build=${FP_BUILD:-build}
case "$build" in
/*) ;;
*) build=$root/$build ;;
esac
base=${FP_HA_DEMO_BASE:-7450}
# The monitor and the two nodes take base..base+2 (scripts/ha.sh).
port=$((base + 3))
admin_port=$((base + 4))
hash=$root/scripts/ha.sh
ctl=$build/fairpayctl
srv=$build/fairpayd

die() {
	echo "ha-demo: $*" >&2
	exit 1
}

[ -x "$srv" ] && [ -x "$ctl" ] || die "$srv or $ctl missing: run 'make' first"
for p in $(seq "$base" "$admin_port"); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		die "127.0.0.1:$p is already in use (another ha-demo still running?); stop it or set FP_HA_DEMO_BASE"
	fi
done

if [ -d "$demo" ] && [ -n "$(ls -A "$demo")" ] && [ ! -e "$demo/.fairpay-ha-demo" ]; then
	die "$demo is not empty and not an ha-demo directory; remove it or set FP_HA_DEMO_DIR"
fi
mkdir -p "$demo"
demo=$(cd "$demo" && pwd -P)
# Leftovers of a run killed without its cleanup.
[ -s "$demo/hadir" ] && "$hash" stop "$(cat "$demo/hadir")" >/dev/null 2>&1 || true
[ -s "$demo/hadir" ] && case "$(cat "$demo/hadir")" in /tmp/fairpay-ha-demo.*) rm -rf "$(cat "$demo/hadir")" ;; esac
rm -rf "${demo:?}"
mkdir -p "$demo"
touch "$demo/.fairpay-ha-demo"
certs=$demo/certs
log=$demo/fairpayd.log

# The formation goes inside the demo directory unless the PostgreSQL user
# cannot reach it (a home directory of mode 700).
hadir=$demo/ha
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$demo" 2>/dev/null; then
	hadir=$(mktemp -d /tmp/fairpay-ha-demo.XXXXXX)
	chmod 755 "$hadir"
fi
echo "$hadir" >"$demo/hadir"

srv_pid=""
tail_pid=""
cleaned=0
cleanup() {
	[ $cleaned = 1 ] && return
	cleaned=1
	trap '' INT TERM
	if [ -n "$srv_pid" ] && kill -0 "$srv_pid" 2>/dev/null; then
		echo "ha-demo: stopping fairpayd" >&2
		kill -TERM "$srv_pid" 2>/dev/null || true
		for _ in $(seq 1 150); do
			kill -0 "$srv_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$srv_pid" 2>/dev/null || true
		wait "$srv_pid" 2>/dev/null || true
	fi
	[ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
	echo "ha-demo: stopping the pg_auto_failover nodes and monitor" >&2
	"$hash" stop "$hadir" >/dev/null 2>&1 || true
	case "$hadir" in /tmp/fairpay-ha-demo.*) rm -rf "$hadir" ;; esac
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "ha-demo: starting the monitor (127.0.0.1:$base) and two nodes ($((base + 1)), $((base + 2)))" >&2
uri=$("$hash" start "$hadir" "$base")
conninfo=$("$hash" conninfo "$hadir")
"$hash" state "$hadir"
echo
echo "pg_autoctl show uri: $uri"
echo "fairpayd's --db:     $conninfo user=fairpayd"
echo

# The migrations as postgres (the owner), through the formation: libpq picks
# the read-write node. They and the roles reach the secondary by replication.
"$ctl" db migrate --db "$conninfo user=postgres" >/dev/null
"$root/scripts/pg.sh" server-login --conninfo "$conninfo user=postgres dbname=postgres"
"$root/scripts/gencerts.sh" "$certs"
admin_key=$("$ctl" db bootstrap-admin --db "$conninfo user=postgres" | tail -n 1)
case "$admin_key" in
fp_*) ;;
*) die "fairpayctl db bootstrap-admin printed no key" ;;
esac
(umask 077 && openssl rand -hex 32 >"$demo/attestation.key")

echo "ha-demo: starting fairpayd on 127.0.0.1:$port (admin endpoint 127.0.0.1:$admin_port)" >&2
"$srv" --listen "127.0.0.1:$port" --db "$conninfo user=fairpayd" \
	--cert "$certs/server.pem" --key "$certs/server.key" \
	--attestation-key-file "$demo/attestation.key" \
	--admin-listen "127.0.0.1:$admin_port" >"$log" 2>&1 &
srv_pid=$!

ctl_admin=("$ctl" --server "127.0.0.1:$port" --ca "$certs/ca.pem" --api-key "$admin_key")
for i in $(seq 1 101); do
	[ "$i" = 101 ] && { cat "$log" >&2; die "fairpayd did not answer ping within 10 s"; }
	kill -0 "$srv_pid" 2>/dev/null || { cat "$log" >&2; die "fairpayd exited during startup"; }
	"${ctl_admin[@]}" --timeout 1000 ping >/dev/null 2>&1 && break
	sleep 0.1
done

vendor_out=$("${ctl_admin[@]}" vendor create "HA Shop") || die "vendor create: $vendor_out"
vendor_key=$(awk '/^api_key:/{print $2}' <<<"$vendor_out")
[ -n "$vendor_key" ] || die "unexpected output of 'fairpayctl vendor create': $vendor_out"
printf '%s\n' "$vendor_key" >"$demo/vendor.key"
chmod 600 "$demo/vendor.key"
ctl_vendor=("$ctl" --server "127.0.0.1:$port" --ca "$certs/ca.pem" --api-key "$vendor_key" --timeout 3000)
"${ctl_vendor[@]}" product put news --name "The Daily Byte" --currency EUR --sp 1000 \
	--list-price 1200 --period-days 30 >/dev/null

# cycle CUSTOMER: an offer, its acceptance and a payment of 9.50; prints
# the payment's id and verdict, fails when any call fails.
cycle() {
	local out offer
	out=$("${ctl_vendor[@]}" offer create "$1" news 2>&1) || return 1
	offer=$(awk '/^offer_id:/{print $2; exit}' <<<"$out")
	"${ctl_vendor[@]}" offer accept "$offer" >/dev/null 2>&1 || return 1
	out=$("${ctl_vendor[@]}" pay "$offer" --amount 950 2>&1) || return 1
	printf '%s %s\n' "$(awk '/^  payment_id:/{print $2; exit}' <<<"$out")" \
		"$(awk '/^  verdict:/{print $2; exit}' <<<"$out")"
}

now() { date +%s.%N; }

echo "---- three cycles on $("$hash" primary "$hadir"), the primary"
before=()
for c in ann ben cay; do
	res=$(cycle "$c") || die "the cycle of $c failed"
	before+=("${res%% *}")
	echo "  $c: payment $res"
done

victim=$("$hash" primary "$hadir")
echo
echo "---- SIGKILL of $victim's keeper and postgres (the host lost); nobody runs promote"
t0=$(now)
"$hash" kill "$victim" "$hadir"
n=0
until res=$(cycle "dee$n"); do
	n=$((n + 1))
	sleep 0.2
done
t1=$(now)
printf '  dee%s: payment %s, answered %.1f s after the kill (%d cycles failed before)\n' \
	"$n" "$res" "$(echo "$t1 - $t0" | bc)" "$n"
"$hash" state "$hadir"
listed=$("${ctl_vendor[@]}" payments list)
found=0
for id in "${before[@]}"; do
	grep -q -- "$id" <<<"$listed" && found=$((found + 1))
done
echo "  the payments acknowledged before the kill, on the new primary: $found of ${#before[@]}"

echo
echo "---- $victim's keeper started again: it rejoins as the secondary"
"$hash" restart "$victim" "$hadir"
if "$hash" wait "$hadir" 120; then
	"$hash" state "$hadir"
else
	echo "  $victim did not rejoin within 120 s (log: $hadir/$victim.log)"
fi

cat <<EOF

fairpay on pg_auto_failover is running
  fairpayd    127.0.0.1:$port  (pid $srv_pid, log $log)
  operators   http://127.0.0.1:$admin_port/readyz
  formation   $hadir  (monitor 127.0.0.1:$base; logs $hadir/*.log)
  --db        $conninfo user=fairpayd

In another shell:
  scripts/ha.sh state $hadir                      # who is primary
  scripts/ha.sh kill \$(scripts/ha.sh primary $hadir) $hadir   # lose the primary again
  scripts/ha.sh restart NODE $hadir               # bring a killed node back
  $ctl --server 127.0.0.1:$port --ca $certs/ca.pem --api-key \$(cat $demo/vendor.key) offer create eve news

Ctrl-C stops fairpayd, the nodes and the monitor.

---- fairpayd log
EOF
tail -n +1 -f --pid="$srv_pid" "$log" &
tail_pid=$!
set +e
wait "$srv_pid"
rc=$?
set -e
srv_pid=""
echo "ha-demo: fairpayd exited with status $rc" >&2
exit "$rc"
