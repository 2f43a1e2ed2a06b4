#!/usr/bin/env bash
# run-tests.sh: run every test binary of a build, one at a time, and count.
#
# Called by `make test` (FP_BUILD=build) and `make asan` (FP_BUILD=build-asan)
# after the binaries are built. It makes a scratch directory, test
# certificates and one PostgreSQL cluster (durability off), then runs
# $FP_BUILD/tests/test_* (unit) and $FP_BUILD/tests/itest_* (integration),
# then the Python client's unittest files, $FP_BUILD/tests/python/test_*.py
# (a link to client/python/tests made by `make tests`; a selection of tests
# in another directory leaves them out by not linking it), each with
# $FP_PYTHON (default /usr/bin/python3: Debian's, which has python3-protobuf).
#
# Each binary gets, in its environment:
#   FP_BUILD   absolute build directory (fairpayd, fairpayctl are in it)
#   FP_ROOT    absolute repository root (also the working directory)
#   FP_TMP     scratch directory, removed at the end unless FP_KEEP=1
#   FP_CERTS   ca.pem/.key, server.pem/.key, client.pem/.key (scripts/gencerts.sh)
#   FP_PGDATA  the cluster's scripts/pg.sh directory (tests may stop/start it)
#   FP_PGHOST  its unix socket directory (mode 0700; the cluster listens on no
#              TCP port);  FP_PGPORT  its port, which names the socket file
# The cluster has the role fairpayd logs in as (scripts/pg.sh server-login);
# the tests connect as postgres, the owner, which also runs the migrations.
# A test that starts a long-running process should write its pid into
# $FP_TMP/pids/NAME.pid; anyway each binary runs in its own session, and
# whatever it leaves behind is killed when it ends.
#
# With FP_VALGRIND=1 (`make valgrind`) the harness starts every fairpayd under
# valgrind memcheck, logging to $FP_TMP/valgrind-PID.log; each binary's logs
# are moved to $FP_TMP/valgrind/NAME/ when it ends, and at the end a summary
# counts, per binary, the errors and the bytes definitely lost. A binary whose
# logs report an error or a definite leak counts as one more failure (its
# logs are copied to $FP_BUILD/valgrind-logs/NAME/ and the first error is
# shown). A server killed with SIGKILL (by a crash test) leaves a log without
# a summary; the error reports in it still count. Binaries get 2700 s then.
#
# A binary's count comes from cmocka's summary ("[  PASSED  ] N test(s)." and
# "[  FAILED  ] N test(s)"), a Python file's from unittest's ("Ran N tests",
# then "OK" or "FAILED (failures=F, errors=E)"; skipped tests count as
# neither). A binary that crashes, times out (900 s) or exits
# non-zero without reporting a failure counts as one failed test. The last
# line is always "N passed, N failed"; the exit status is 1 if anything
# failed or nothing ran.
set -uo pipefail

FP_ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$FP_ROOT" || exit 1
FP_BUILD=${FP_BUILD:-build}
case "$FP_BUILD" in
/*) ;;
*) FP_BUILD=$FP_ROOT/$FP_BUILD ;;
esac
PGSH=$FP_ROOT/scripts/pg.sh

passed=0
failed=0
failures=()
current_pgid=""
cleaned=0
VALGRIND=0
[ "${FP_VALGRIND:-0}" = 1 ] && VALGRIND=1
TEST_TIMEOUT=900
# Seconds a server gets between SIGTERM and SIGKILL when a test ends (under
# valgrind the leak check at exit takes a while).
REAP_WAIT=2
if [ $VALGRIND = 1 ]; then
	TEST_TIMEOUT=2700
	REAP_WAIT=60
fi

# /tmp rather than $TMPDIR: the cluster's socket path must stay short.
FP_TMP=$(mktemp -d /tmp/fairpay-test.XXXXXX) || { echo "cannot make a temp dir" >&2; exit 1; }
chmod 755 "$FP_TMP" # the postgres user must reach $FP_TMP/pg
FP_CERTS=$FP_TMP/certs
FP_PGDATA=$FP_TMP/pg
FP_PGHOST=$FP_PGDATA/sock
FP_PGPORT=""
mkdir -p "$FP_TMP/pids" "$FP_TMP/logs"
# Exported so that a test restarting the cluster with pg.sh keeps it fast.
export FP_PG_FAST=1
export FP_BUILD FP_ROOT FP_TMP FP_CERTS FP_PGDATA FP_PGHOST

# Sanitizer settings for `make asan`; harmless for a normal build. A caller's
# own settings win.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The summary parser reads cmocka's default text output.
export CMOCKA_MESSAGE_OUTPUT=STDOUT

# Kill every process of a finished (or interrupted) test: its session's
# process group, then the pids it registered. TERM first so that a server
# can still flush its log (and ASan its report), KILL for the rest.
reap() {
	local pgid=$1 f pid
	local pids=()
	for f in "$FP_TMP"/pids/*.pid; do
		[ -f "$f" ] || continue
		pid=$(tr -dc '0-9' <"$f")
		[ -n "$pid" ] && pids+=("$pid")
		rm -f "$f"
	done
	if [ -n "$pgid" ]; then
		kill -TERM -- "-$pgid" 2>/dev/null
	fi
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for _ in $(seq 1 $((REAP_WAIT * 10))); do
		local alive=0
		if [ -n "$pgid" ] && kill -0 -- "-$pgid" 2>/dev/null; then
			alive=1
		fi
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && return 0
		sleep 0.1
	done
	[ -n "$pgid" ] && kill -KILL -- "-$pgid" 2>/dev/null
	for pid in "${pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	return 0
}

cleanup() {
	[ $cleaned = 1 ] && return
	cleaned=1
	reap "$current_pgid"
	current_pgid=""
	"$PGSH" stop "$FP_PGDATA" >/dev/null 2>&1 || "$PGSH" kill "$FP_PGDATA" >/dev/null 2>&1
	if [ "${FP_KEEP:-0}" = 1 ]; then
		echo "run-tests: kept $FP_TMP" >&2
	else
		rm -rf "$FP_TMP"
	fi
}

on_signal() {
	echo "run-tests: interrupted" >&2
	cleanup
	trap - EXIT
	echo "$passed passed, $((failed + 1)) failed"
	exit 130
}

trap cleanup EXIT
trap on_signal INT TERM

# Give up before running anything: one failure, stated, and the summary line.
setup_failed() {
	echo "run-tests: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

# (Re)start the cluster; a test may have stopped or crashed it.
ensure_pg() {
	local port
	port=$("$PGSH" start "$FP_PGDATA") || return 1
	FP_PGPORT=$port
	export FP_PGPORT
}

"$FP_ROOT/scripts/gencerts.sh" "$FP_CERTS" || setup_failed "could not generate certificates"
ensure_pg || setup_failed "could not start PostgreSQL"
"$PGSH" server-login "$FP_PGDATA" || setup_failed "could not create the role fairpayd logs in as"
if [ $VALGRIND = 1 ]; then
	command -v valgrind >/dev/null 2>&1 || setup_failed "valgrind is not installed (make deps)"
	export FP_VALGRIND=1
	mkdir -p "$FP_TMP/valgrind"
	# Logs kept by an earlier run would read as this run's.
	rm -rf "$FP_BUILD/valgrind-logs"
fi

# run_one NAME COMMAND [ARGS...]: run it, show its output, add its counts.
run_one() {
	local name=$1 log rc p f pidfile
	shift
	log=$FP_TMP/logs/$name.log
	pidfile=$FP_TMP/logs/$name.sid
	if ! ensure_pg; then
		echo "run-tests: PostgreSQL is not running before $name" >&2
	fi
	echo "==================== $name"
	: >"$log"
	# A new session, so that everything the test starts can be found and
	# killed as one process group (the session leader records its id).
	setsid -w sh -c 'echo $$ >"$0"; t=$1; shift; exec timeout -k 10 "$t" "$@"' "$pidfile" \
		"$TEST_TIMEOUT" "$@" >"$log" 2>&1 </dev/null &
	local launcher=$!
	# Show the log as it grows; tail stops on its own once the test exits.
	tail -s 0.2 -n +1 -f --pid="$launcher" "$log" &
	local tailer=$!
	for _ in $(seq 1 50); do
		[ -s "$pidfile" ] && break
		kill -0 "$launcher" 2>/dev/null || break
		sleep 0.02
	done
	current_pgid=$(cat "$pidfile" 2>/dev/null || true)
	wait "$launcher"
	rc=$?
	wait "$tailer" 2>/dev/null
	reap "$current_pgid"
	current_pgid=""

	p=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) test\(s\).*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
	f=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) test\(s\).*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
	if grep -qE '^Ran [0-9]+ tests? in ' "$log"; then
		local ut
		ut=$(awk '/^Ran [0-9]+ tests? in / { ran += $2 }
			/^(OK|FAILED)( \(|$)/ { for (i = 1; i <= NF; i++) {
				if (match($i, /(failures|errors|successes)=[0-9]+/)) bad += substr($i, index($i, "=") + 1) + 0
				if (match($i, /skipped=[0-9]+/)) skip += substr($i, index($i, "=") + 1) + 0 } }
			END { print ran - bad - skip, bad + 0 }' "$log")
		p=$((p + ${ut% *}))
		f=$((f + ${ut#* }))
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	local why=""
	if [ "$rc" = 124 ]; then
		why="timed out after $TEST_TIMEOUT s"
	elif [ "$rc" -gt 128 ]; then
		why="killed by signal $((rc - 128))"
	elif [ "$rc" != 0 ]; then
		why="exit status $rc"
	fi
	if [ "$f" -gt 0 ]; then
		failures+=("$name: $f failed${why:+ ($why)}")
	elif [ -n "$why" ]; then
		failed=$((failed + 1))
		failures+=("$name: $why without a failure report (counted as 1 failed)")
	elif [ "$p" = 0 ]; then
		failed=$((failed + 1))
		failures+=("$name: exited 0 but printed no test summary (counted as 1 failed)")
	fi
	echo "-------------------- $name: $p passed, $f failed${why:+, $why}"
	if [ $VALGRIND = 1 ]; then
		local vg
		for vg in "$FP_TMP"/valgrind-*.log; do
			[ -f "$vg" ] || continue
			mkdir -p "$FP_TMP/valgrind/$name"
			mv "$vg" "$FP_TMP/valgrind/$name/"
		done
	fi
}

# Error reports valgrind writes as they happen (so they are in a log even when
# the process was killed before its summary).
VG_ERROR_RE='^==[0-9]+== (Invalid (read|write|free)|Conditional jump or move depends'
VG_ERROR_RE+='|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap'
VG_ERROR_RE+='|Argument .* of function .* has a fishy'
VG_ERROR_RE+='|[0-9,]+ bytes in [0-9,]+ blocks are definitely lost)'
# The LEAK SUMMARY line; \1 bytes, \2 blocks.
VG_LOST_RE='^==[0-9]+== +definitely lost: ([0-9,]+) bytes in ([0-9,]+) blocks.*'

# valgrind_summary: one line per binary, the problems shown; adds a failure
# for each binary whose logs report an error or a definite leak.
valgrind_summary() {
	local dir name logs killed errors lost blocks bad log e l b first all_logs=0 all_errors=0
	local all_lost=0
	echo "==================== valgrind"
	for dir in "$FP_TMP"/valgrind/*/; do
		[ -d "$dir" ] || continue
		name=$(basename "$dir")
		logs=0 killed=0 errors=0 lost=0 blocks=0 bad=()
		for log in "$dir"/valgrind-*.log; do
			[ -f "$log" ] || continue
			logs=$((logs + 1))
			if grep -q 'ERROR SUMMARY:' "$log"; then
				e=$(sed -nE 's/^==[0-9]+== ERROR SUMMARY: ([0-9,]+) errors.*/\1/p' \
					"$log" | tail -n 1 | tr -d ,)
			else
				killed=$((killed + 1))
				e=$(grep -cE "$VG_ERROR_RE" "$log")
			fi
			l=$(sed -nE "s/$VG_LOST_RE/\\1/p" "$log" | tail -n 1 | tr -d ,)
			b=$(sed -nE "s/$VG_LOST_RE/\\2/p" "$log" | tail -n 1 | tr -d ,)
			e=${e:-0} l=${l:-0} b=${b:-0}
			errors=$((errors + e))
			lost=$((lost + l))
			blocks=$((blocks + b))
			if [ "$e" -gt 0 ] || [ "$l" -gt 0 ]; then
				bad+=("$log")
			fi
		done
		all_logs=$((all_logs + logs))
		all_errors=$((all_errors + errors))
		all_lost=$((all_lost + lost))
		local note=""
		[ "$killed" -gt 0 ] && note=" ($killed killed before their summary)"
		echo "$name: $logs fairpayd logs$note: $errors errors, $lost bytes definitely" \
			"lost in $blocks blocks"
		if [ ${#bad[@]} -gt 0 ]; then
			failed=$((failed + 1))
			local kept="$FP_BUILD/valgrind-logs/$name"
			failures+=("$name: valgrind: $errors errors, $lost bytes definitely lost (logs in $kept)")
			mkdir -p "$kept"
			cp "${bad[@]}" "$kept/"
			first=${bad[0]}
			echo "---- $(basename "$first"), from its first error:"
			awk -v re="$VG_ERROR_RE" \
				'n == 0 && $0 ~ re { n = 1 } n > 0 && n <= 60 { print; n++ }' \
				"$first"
		fi
	done
	echo "valgrind: $all_logs fairpayd logs, $all_errors errors," \
		"$all_lost bytes definitely lost"
	if [ "$all_logs" = 0 ]; then
		failed=$((failed + 1))
		failures+=("valgrind: no fairpayd ran under valgrind")
	fi
}

shopt -s nullglob
for bin in "$FP_BUILD"/tests/test_* "$FP_BUILD"/tests/itest_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	run_one "$(basename "$bin")" "$bin"
done
FP_PYTHON=${FP_PYTHON:-/usr/bin/python3}
for py in "$FP_BUILD"/tests/python/test_*.py; do
	[ -f "$py" ] || continue
	run_one "py_$(basename "$py" .py)" "$FP_PYTHON" -B "$py"
done

[ $VALGRIND = 1 ] && valgrind_summary
echo "===================="
if [ $((passed + failed)) = 0 ]; then
	echo "run-tests: no tests ran (nothing in $FP_BUILD/tests)" >&2
fi
for f in "${failures[@]}"; do
	echo "FAILED $f"
done
cleanup
trap - EXIT
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
