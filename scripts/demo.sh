#!/usr/bin/env bash
# demo.sh: a complete throwaway fairpay in one command (`make demo`).
#
# Starts a private PostgreSQL cluster (on its socket only), applies the
# migrations as the owner, makes the role fairpayd logs in as, makes test
# certificates and an admin key, runs fairpayd on 127.0.0.1:7443 (FP_DEMO_PORT
# to change it), creates the vendor "Demo Shop", prints commands to paste into
# another shell, then follows the server log until Ctrl-C. Everything lives in
# ${FP_DEMO_DIR:-./.demo}, which is recreated on each run; on exit (Ctrl-C,
# TERM, or any error) the server and the database are stopped and nothing is
# left running.
set -euo pipefail

demo=${FP_DEMO_DIR:-$PWD/.demo}
root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root"
build=${FP_BUILD:-build}
case "$build" in
/*) ;;
*) build=$root/$build ;;
esac
port=${FP_DEMO_PORT:-7443}
pgsh=$root/scripts/pg.sh
ctl=$build/fairpayctl
srv=$build/fairpayd

die() {
	echo "demo: $*" >&2
	exit 1
}

[ -x "$srv" ] && [ -x "$ctl" ] || die "$srv or $ctl missing: run 'make' first"

# Refuse early and clearly when the port is taken (an earlier demo, or
# anything else): fairpayd would only fail with a less obvious message.
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
	die "127.0.0.1:$port is already in use (another demo still running?); stop it or set FP_DEMO_PORT"
fi

# The directory is wiped on each run: make sure it is ours (or new and empty).
if [ -d "$demo" ] && [ -n "$(ls -A "$demo")" ] && [ ! -e "$demo/.fairpay-demo" ]; then
	die "$demo is not empty and not a demo directory; remove it or set FP_DEMO_DIR"
fi
mkdir -p "$demo"
demo=$(cd "$demo" && pwd -P)

# Leftovers of an earlier run that was killed without its cleanup.
if [ -s "$demo/fairpayd.pid" ]; then
	old=$(cat "$demo/fairpayd.pid")
	if [ -r "/proc/$old/cmdline" ] && tr '\0' ' ' <"/proc/$old/cmdline" | grep -q fairpayd; then
		kill -TERM "$old" 2>/dev/null || true
	fi
fi
[ -s "$demo/pgdir" ] && "$pgsh" stop "$(cat "$demo/pgdir")" >/dev/null 2>&1 || true
[ -s "$demo/pgdir" ] && case "$(cat "$demo/pgdir")" in /tmp/fairpay-demo-pg.*) rm -rf "$(cat "$demo/pgdir")" ;; esac
rm -rf "${demo:?}"
mkdir -p "$demo"
touch "$demo/.fairpay-demo"
certs=$demo/certs
log=$demo/fairpayd.log

# The cluster goes inside the demo directory, unless the postgres user cannot
# reach it (a home directory of mode 700) or its socket path would be too long.
pgdir=$demo/pg
if [ ${#pgdir} -gt 70 ] ||
	{ [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$demo" 2>/dev/null; }; then
	pgdir=$(mktemp -d /tmp/fairpay-demo-pg.XXXXXX)
fi
echo "$pgdir" >"$demo/pgdir"

srv_pid=""
tail_pid=""
cleaned=0
cleanup() {
	[ $cleaned = 1 ] && return
	cleaned=1
	if [ -n "$srv_pid" ] && kill -0 "$srv_pid" 2>/dev/null; then
		echo "demo: stopping fairpayd" >&2
		kill -TERM "$srv_pid" 2>/dev/null || true
		# fairpayd finishes in-flight calls first (--shutdown-timeout-ms).
		for _ in $(seq 1 150); do
			kill -0 "$srv_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$srv_pid" 2>/dev/null || true
		wait "$srv_pid" 2>/dev/null || true
	fi
	[ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
	echo "demo: stopping PostgreSQL" >&2
	"$pgsh" stop "$pgdir" >/dev/null 2>&1 || "$pgsh" kill "$pgdir" >/dev/null 2>&1 || true
	case "$pgdir" in /tmp/fairpay-demo-pg.*) rm -rf "$pgdir" ;; esac
	rm -f "$demo/fairpayd.pid"
}
# INT and TERM only exit; the EXIT trap does the work, exactly once.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "demo: starting PostgreSQL" >&2
pgport=$("$pgsh" start "$pgdir")
"$pgsh" createdb "$pgdir" fairpay
# The cluster listens on its socket only (mode 0700). The migrations run as
# postgres, the owner of the tables; fairpayd logs in as fairpayd, a role
# with the grants of fairpay_app and nothing more (scripts/pg.sh).
conninfo="host=$pgdir/sock port=$pgport user=postgres dbname=fairpay"
srv_conninfo="host=$pgdir/sock port=$pgport user=fairpayd dbname=fairpay"

echo "demo: applying migrations" >&2
"$ctl" db migrate --db "$conninfo" >/dev/null
"$pgsh" server-login "$pgdir"
"$root/scripts/gencerts.sh" "$certs"
admin_key=$("$ctl" db bootstrap-admin --db "$conninfo" | tail -n 1)
case "$admin_key" in
fp_*) ;;
*) die "fairpayctl db bootstrap-admin printed no key" ;;
esac

echo "demo: starting fairpayd on 127.0.0.1:$port" >&2
# Webhooks to receivers on this machine over plain HTTP are allowed: the demo
# is local, and client/python/examples/checkout.py runs such a receiver.
"$srv" --listen "127.0.0.1:$port" --db "$srv_conninfo" \
	--cert "$certs/server.pem" --key "$certs/server.key" \
	--webhook-allow-private --webhook-allow-http >"$log" 2>&1 &
srv_pid=$!
echo "$srv_pid" >"$demo/fairpayd.pid"

ctl_admin=("$ctl" --server "127.0.0.1:$port" --ca "$certs/ca.pem" --api-key "$admin_key")
ready=0
for _ in $(seq 1 100); do
	if ! kill -0 "$srv_pid" 2>/dev/null; then
		cat "$log" >&2
		if grep -qiE 'address already in use|EADDRINUSE' "$log"; then
			die "fairpayd could not listen: 127.0.0.1:$port is taken (set FP_DEMO_PORT)"
		fi
		die "fairpayd exited during startup (log above)"
	fi
	if "${ctl_admin[@]}" --timeout 1000 ping >/dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 0.1
done
if [ $ready = 0 ]; then
	cat "$log" >&2
	die "fairpayd did not answer ping within 10 s"
fi

vendor_out=$("${ctl_admin[@]}" vendor create "Demo Shop") ||
	die "could not create the demo vendor: $vendor_out"
vendor_id=$(awk '/^vendor_id:/{print $2}' <<<"$vendor_out")
vendor_key=$(awk '/^api_key:/{print $2}' <<<"$vendor_out")
[ -n "$vendor_id" ] && [ -n "$vendor_key" ] ||
	die "unexpected output of 'fairpayctl vendor create': $vendor_out"
# The main job, once, so that the demo shows it: a product, then a FairPay
# cycle for a new customer (offer, accept, pay what she thinks is fair,
# with a reason) and the reputation that follows.
ctl_vendor=("$ctl" --server "127.0.0.1:$port" --ca "$certs/ca.pem" --api-key "$vendor_key")
cycle_log=$demo/first-cycle.txt
{
	echo "\$ fairpayctl product put ebook --name 'A good e-book' --currency EUR --sp 1200 --list-price 1500"
	"${ctl_vendor[@]}" product put ebook --name "A good e-book" --currency EUR --sp 1200 \
		--list-price 1500
	echo
	echo "\$ fairpayctl offer create alice ebook"
	offer_out=$("${ctl_vendor[@]}" offer create alice ebook)
	printf '%s\n' "$offer_out"
	offer_id=$(awk '/^offer_id:/{print $2}' <<<"$offer_out")
	echo
	echo "\$ fairpayctl offer accept $offer_id"
	"${ctl_vendor[@]}" offer accept "$offer_id"
	echo
	echo "\$ fairpayctl pay $offer_id --amount 900 --reason TECHNICAL_PROBLEM --note 'the PDF had broken links'"
	"${ctl_vendor[@]}" pay "$offer_id" --amount 900 --reason TECHNICAL_PROBLEM \
		--note "the PDF had broken links"
	echo
	echo "\$ fairpayctl reputation alice"
	"${ctl_vendor[@]}" reputation alice
} >"$cycle_log" 2>&1 || {
	cat "$cycle_log" >&2
	die "the demo's first FairPay cycle failed (above)"
}
printf '%s\n' "$admin_key" >"$demo/admin.key"
printf '%s\n' "$vendor_key" >"$demo/vendor.key"
chmod 600 "$demo/admin.key" "$demo/vendor.key"

echo
echo "---- a first FairPay cycle, as Demo Shop (also in $cycle_log)"
cat "$cycle_log"

cat <<EOF

fairpay demo is running
  fairpayd    127.0.0.1:$port  (pid $srv_pid, log $log)
  PostgreSQL  $pgdir  (socket $pgdir/sock, port $pgport, database fairpay;
              fairpayd logs in as fairpayd, the migrations ran as postgres)
  vendor      Demo Shop  $vendor_id

Paste into another shell:

  export PATH="$build:\$PATH"
  export FAIRPAY_SERVER=127.0.0.1:$port
  export FAIRPAY_CA=$certs/ca.pem
  export FAIRPAY_API_KEY=$admin_key
  fairpayctl ping
  fairpayctl vendor list
  fairpayctl key create --role vendor --vendor $vendor_id
  fairpayctl --api-key $vendor_key ping    # as Demo Shop
  export FAIRPAY_API_KEY=$vendor_key        # from here on as Demo Shop
  fairpayctl offer create bob ebook         # then: offer accept ID, pay ID --amount N
  fairpayctl reputation alice
  fairpayctl db status --db "$conninfo"

The admin key is in $demo/admin.key, the Demo Shop key in $demo/vendor.key.
Ctrl-C stops the server and the database.

---- fairpayd log
EOF

tail -n +1 -f --pid="$srv_pid" "$log" &
tail_pid=$!
set +e
wait "$srv_pid"
rc=$?
set -e
srv_pid=""
echo "demo: fairpayd exited with status $rc" >&2
exit "$rc"
