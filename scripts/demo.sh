#!/usr/bin/env bash
# demo.sh: a complete throwaway fairpay in one command (`make demo`).
#
# Starts a private PostgreSQL cluster (on its socket only), applies the
# migrations as the owner, makes the role fairpayd logs in as, makes test
# certificates and an admin key, runs fairpayd on 127.0.0.1:7443 (FP_DEMO_PORT
# to change it), creates the vendor "Demo Shop" with a monthly product, plays
# a short FairPay story (a fair payer, a generous one and a free rider, three
# months each: payment, verdict, reputation and the next offer's terms),
# prints the commands of a whole cycle to paste into another shell, then
# follows the server log until Ctrl-C. Everything lives in
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
# The operators' plain-HTTP endpoint (/metrics, /healthz, /readyz).
admin_port=${FP_DEMO_ADMIN_PORT:-$((port + 1))}
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
	# A second Ctrl-C or TERM (a wrapper passing its own on) must not cut
	# the cleanup short and leave the database running.
	trap '' INT TERM
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

# The key sealing vendors' attestation signing keys in the database
# (docs/attestations.md): readable by the server's user alone.
(umask 077 && openssl rand -hex 32 >"$demo/attestation.key")

echo "demo: starting fairpayd on 127.0.0.1:$port and its admin endpoint on 127.0.0.1:$admin_port" >&2
# Webhooks to receivers on this machine over plain HTTP are allowed: the demo
# is local, and client/python/examples/checkout.py runs such a receiver.
"$srv" --listen "127.0.0.1:$port" --db "$srv_conninfo" \
	--cert "$certs/server.pem" --key "$certs/server.key" \
	--webhook-allow-private --webhook-allow-http \
	--attestation-key-file "$demo/attestation.key" \
	--admin-listen "127.0.0.1:$admin_port" >"$log" 2>&1 &
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
ctl_vendor=("$ctl" --server "127.0.0.1:$port" --ca "$certs/ca.pem" --api-key "$vendor_key")
printf '%s\n' "$admin_key" >"$demo/admin.key"
printf '%s\n' "$vendor_key" >"$demo/vendor.key"
chmod 600 "$demo/admin.key" "$demo/vendor.key"

# The main job, as Demo Shop: a monthly product (each payment brings the
# next month's offer, on terms from the reputation it left) and a probation
# of two payments instead of three, so that the story below shows every
# tier within three cycles. Everything else is the default policy.
sku=news
sp=1000
list_price=1200
setup_log=$demo/setup.txt
{
	echo "\$ fairpayctl policy set probation_payments=2"
	"${ctl_vendor[@]}" policy set probation_payments=2 |
		grep -E '^(probation_payments|alpha_bp|fair_score_bp|low_score_bp|trusted_score_bp):'
	echo
	echo "\$ fairpayctl product put $sku --name 'The Daily Byte' --currency EUR --sp $sp --list-price $list_price --period-days 30"
	"${ctl_vendor[@]}" product put "$sku" --name "The Daily Byte" --currency EUR --sp "$sp" \
		--list-price "$list_price" --period-days 30 |
		grep -E '^(sku|suggested_price|list_price|min_tier|period_days):'
} >"$setup_log" 2>&1 || {
	cat "$setup_log" >&2
	die "could not set up Demo Shop's policy and product (above)"
}

# section_field SECTION KEY: the value of "  KEY: value" under "SECTION:" in
# fairpayctl's text output on stdin (offer create prints no sections: "").
section_field() {
	awk -v s="$1" -v k="$2" '
		/^[a-z_]+:/ { cur = $1; sub(/:.*/, "", cur) }
		(s == "" || cur == s) && $1 == k ":" { sub("^ *" k ": ", ""); print; exit }'
}

# The explanation lines of the reputation in fairpayctl pay's output.
explanation() {
	awk '/^reputation:/ { r = 1; next } /^[a-z_]+:/ { r = 0 }
		r && /^  explanation:/ { e = 1; next } e && /^    / { sub(/^    /, ""); print; next } { e = 0 }'
}

# An offer's terms in one line: "FAIRPAY, SP 10.00 EUR, credit 20.00 EUR
# (PROBATION)"; the credit is how much FairPay the customer's tier allows.
terms() {
	local text=$1 section=$2 mode sp min set credit reasons
	mode=$(section_field "$section" mode <<<"$text")
	sp=$(section_field "$section" suggested_price <<<"$text")
	min=$(section_field "$section" minimum_price <<<"$text")
	set=$(section_field "$section" set_price <<<"$text")
	credit=$(section_field "$section" credit_limit <<<"$text")
	reasons=$(section_field "$section" reasons <<<"$text")
	case $mode in
	SET_PRICE) printf 'SET_PRICE %s' "$set" ;;
	FAIRPAY_MINIMUM) printf 'FAIRPAY_MINIMUM, SP %s, at least %s, credit %s' "$sp" "$min" "$credit" ;;
	*) printf '%s, SP %s, credit %s' "$mode" "$sp" "$credit" ;;
	esac
	[ "$reasons" = - ] || printf ' (%s)' "$reasons"
}

# story CUSTOMER WHO AMOUNT...: a new customer's first offer and accept,
# then one payment per amount, each answered with a verdict, the
# reputation and the next month's offer. An amount of "set" pays the offer's
# set price (a SET_PRICE offer takes that amount only).
story() {
	local who=$1 label=$2 out offer n=1 amount
	shift 2
	out=$("${ctl_vendor[@]}" offer create "$who" "$sku") || {
		echo "demo: offer create $who: $out"
		return 1
	}
	offer=$(section_field "" offer_id <<<"$out")
	"${ctl_vendor[@]}" offer accept "$offer" >/dev/null || return 1
	printf '\n%s, %s\n  first offer: %s\n' "$who" "$label" "$(terms "$out" "")"
	for amount in "$@"; do
		# A SET_PRICE offer is at the list price (rule 10).
		[ "$amount" = set ] && amount=$list_price
		out=$("${ctl_vendor[@]}" pay "$offer" --amount "$amount") || {
			echo "demo: pay $offer --amount $amount: $out"
			return 1
		}
		printf '  month %d: pays %s of %s: fairness %s, %s\n' "$n" \
			"$(section_field payment amount <<<"$out")" \
			"$(section_field payment suggested_price <<<"$out")" \
			"$(section_field payment fairness_bp <<<"$out")" \
			"$(section_field payment verdict <<<"$out")"
		printf '    reputation: score %s, tier %s\n' \
			"$(section_field reputation score_bp <<<"$out")" \
			"$(section_field reputation tier <<<"$out")"
		# The explanation, written for the customer: its first line (the
		# tier's reason) each month, all of it after the last one.
		if [ $# -gt "$n" ]; then
			explanation <<<"$out" | head -n 1 | sed 's/^/      /'
		else
			explanation <<<"$out" | sed 's/^/      /'
		fi
		printf '    next offer: %s\n' "$(terms "$out" next_offer)"
		offer=$(section_field next_offer offer_id <<<"$out")
		# The next offer is the only text the next round reads.
		out=$(sed -n '/^next_offer:/,$p' <<<"$out" | sed '1d; s/^  //')
		n=$((n + 1))
	done
}

story_log=$demo/story.txt
{
	echo "Three new customers subscribe to The Daily Byte (SP $(section_field "" suggested_price <"$setup_log"), list price $(section_field "" list_price <"$setup_log"))."
	story fay "the fair payer (pays 9.50)" 950 950 950 &&
		story gus "the generous one (pays 15.00)" 1500 1500 1500 &&
		story zed "the free rider (pays nothing, then the set price)" 0 0 set
} >"$story_log" 2>&1 || {
	cat "$story_log" >&2
	die "the demo's FairPay story failed (above)"
}

echo
echo "---- Demo Shop's policy and product, in part (also in $setup_log)"
cat "$setup_log"
echo
echo "---- the FairPay story (also in $story_log)"
cat "$story_log"

cat <<EOF

fairpay demo is running
  fairpayd    127.0.0.1:$port  (pid $srv_pid, log $log)
  operators   http://127.0.0.1:$admin_port/metrics  /healthz  /readyz
  PostgreSQL  $pgdir  (socket $pgdir/sock, port $pgport, database fairpay;
              fairpayd logs in as fairpayd, the migrations ran as postgres)
  vendor      Demo Shop  $vendor_id

A whole FairPay cycle, to paste into another shell (bash), as Demo Shop:

  export PATH="$build:\$PATH" FAIRPAY_SERVER=127.0.0.1:$port FAIRPAY_CA=$certs/ca.pem
  export FAIRPAY_API_KEY=\$(cat $demo/vendor.key)
  fairpayctl events --follow &                # the vendor's feed, as it commits (kill %1 to stop)
  fairpayctl reputation zed                   # the free rider: score, tier and why
  out=\$(fairpayctl offer create bob $sku); echo "\$out"; offer=\$(awk '/^offer_id:/{print \$2}' <<<"\$out")
  fairpayctl offer accept \$offer
  out=\$(fairpayctl pay \$offer --amount 600 --reason technical_problem --note "it would not load"); echo "\$out"
  payment=\$(awk '/^  payment_id:/{print \$2; exit}' <<<"\$out")
  fairpayctl payments list --review pending   # the excused payment waits for review
  fairpayctl review \$payment --accept         # the excuse holds: fairness 10000
  fairpayctl reputation bob                   # score, tier and the explanation
  fairpayctl offers list --customer bob       # next month's offer, already accepted
  fairpayctl events bob                       # bob's history
  fairpayctl insights                         # the shop's sums, fairness histogram, tiers
  fairpayctl policy simulate probation_payments=1   # what-if: tiers now and under it
  fairpayctl attestation issue fay --subject fay@example.com   # fay's record, signed
  fairpayctl simulate --population fair=60,generous=10,free_rider=20,gamer=10 --cycles 50 --seed 1
  curl -s http://127.0.0.1:$admin_port/metrics | grep '^fairpay_requests_total'

As the admin:

  export FAIRPAY_API_KEY=\$(cat $demo/admin.key)
  fairpayctl vendor list
  fairpayctl key create --role vendor --vendor $vendor_id
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
