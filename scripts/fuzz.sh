#!/usr/bin/env bash
# fuzz.sh: run every libFuzzer target of a build for FUZZ_SECONDS each.
#
# Called by `make fuzz` (FP_BUILD=build-fuzz) once the targets are built.
# Each $FP_BUILD/fuzz/fuzz_* starts from a copy of its seed corpus
# (tests/fuzz/corpus/NAME) in a scratch directory: what it learns and any
# crash input stay there, never in the repository. Per target it prints the
# executions, the coverage libFuzzer reached (edges, features, corpus) and,
# for each server source file, the functions and edges reached. It exits 1
# when a target crashed, leaked, tripped a sanitizer or failed an invariant
# (libFuzzer's exit status is not 0); then the end of that target's report
# and the path of the input that did it are printed, and the scratch
# directory is kept (as it is with FUZZ_KEEP=1). The last line counts the
# targets: "fuzz: N passed, N failed".
#
#   scripts/fuzz.sh                 run the targets
#   scripts/fuzz.sh --make-corpus   rewrite tests/fuzz/corpus from
#                                   tests/fuzz/make_corpus.c (after a change
#                                   of the schema or of the validation)
set -uo pipefail

FP_ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$FP_ROOT" || exit 1
FP_BUILD=${FP_BUILD:-build-fuzz}
case "$FP_BUILD" in
/*) ;;
*) FP_BUILD=$FP_ROOT/$FP_BUILD ;;
esac
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
CORPUS=$FP_ROOT/tests/fuzz/corpus

if [ "${1:-}" = --make-corpus ]; then
	set -e
	make --no-print-directory -s "BUILD=$FP_BUILD" "$FP_BUILD/gen/fairpay.pb-c.h"
	cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$FP_BUILD/gen" \
		tests/fuzz/make_corpus.c "$FP_BUILD/gen/fairpay.pb-c.c" -lprotobuf-c \
		-o "$FP_BUILD/make_corpus"
	rm -rf "$CORPUS"
	"$FP_BUILD/make_corpus" "$CORPUS"
	for d in "$CORPUS"/*/; do
		echo "fuzz.sh: $(ls "$d" | wc -l) seeds in ${d#"$FP_ROOT"/}"
	done
	exit 0
fi

case "$FUZZ_SECONDS" in
'' | *[!0-9]*) echo "fuzz.sh: FUZZ_SECONDS must be a number of seconds" >&2; exit 2 ;;
esac

shopt -s nullglob
targets=("$FP_BUILD"/fuzz/fuzz_*)
if [ ${#targets[@]} = 0 ]; then
	echo "fuzz.sh: no fuzz targets in $FP_BUILD/fuzz" \
		"(make BUILD=build-fuzz SAN=fuzz CC=clang fuzzers)" >&2
	exit 1
fi

WORK=$(mktemp -d /tmp/fairpay-fuzz.XXXXXX) || {
	echo "fuzz.sh: cannot make a temp dir" >&2
	exit 1
}
keep=${FUZZ_KEEP:-0}
finish() {
	[ "$keep" = 1 ] || rm -rf "$WORK"
}
trap finish EXIT

# Leaks are reported by libFuzzer after each input that allocated more than
# it freed; UBSan stops at the first report (the build has no recovery). A
# caller's own settings win.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
command -v llvm-symbolizer >/dev/null 2>&1 &&
	export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer)}

# coverage_summary LOG: per server source file the target reached, the
# functions and edges that libFuzzer's -print_coverage saw reached.
coverage_summary() {
	awk -v root="$FP_ROOT/" '
	/^(COVERED|UNCOVERED)_FUNC:/ {
		file = $NF; sub(/:[0-9]+$/, "", file); sub(root, "", file)
		if (file !~ /^server\//) next
		split($5, e, "/")
		funcs[file]++; edges[file] += e[2]; hit[file] += e[1]
		if ($1 == "COVERED_FUNC:") reached[file]++
	}
	END {
		for (f in funcs)
			if (reached[f] > 0)
				printf "  %-24s %3d/%-3d functions  %4d/%-4d edges\n",
				       f, reached[f], funcs[f], hit[f], edges[f]
	}' "$1" | sort
}

failed=0
npassed=0
nfailed=0
for bin in "${targets[@]}"; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	dir=$WORK/$name
	mkdir -p "$dir/corpus" "$dir/artifacts"
	seeds=0
	if [ -d "$CORPUS/$name" ]; then
		cp "$CORPUS/$name"/* "$dir/corpus/" 2>/dev/null
		seeds=$(ls "$dir/corpus" | wc -l)
	fi
	args=(-max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10
		-print_final_stats=1 -print_coverage=1 -artifact_prefix="$dir/artifacts/")
	# A frame may be as large as the default --max-frame and then some.
	[ "$name" = fuzz_frame ] && args+=(-max_len=70000)
	echo "== $name: $FUZZ_SECONDS s from $seeds seeds"
	"$bin" "${args[@]}" "$dir/corpus" >"$dir/log" 2>&1
	rc=$?

	runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$dir/log" | tail -n 1)
	rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$dir/log" | tail -n 1)
	rss=$(sed -nE 's/^stat::peak_rss_mb: *([0-9]+).*/\1/p' "$dir/log" | tail -n 1)
	last=$(grep -E '^#[0-9]+' "$dir/log" | grep -E 'cov: ' | tail -n 1)
	cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
	ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
	corp=$(sed -nE 's/.*corp: ([0-9]+)\/.*/\1/p' <<<"$last")
	echo "$name: ${runs:-?} executions (${rate:-?}/s), cov: ${cov:-?} edges, ft: ${ft:-?}," \
		"corpus: ${corp:-?} inputs, peak RSS ${rss:-?} MB"
	coverage_summary "$dir/log"

	if [ "$rc" != 0 ]; then
		failed=1
		nfailed=$((nfailed + 1))
		keep=1
		echo "$name: FAILED (libFuzzer exit status $rc); the end of its report:"
		# The sanitizer's or the invariant's report, without the coverage dump.
		grep -vE '^(COVERED_FUNC|UNCOVERED_FUNC|  UNCOVERED_PC|COVERAGE:)' "$dir/log" |
			tail -n 60
		for a in "$dir"/artifacts/*; do
			echo "$name: crash input: $a ($(wc -c <"$a") bytes)"
			echo "$name: hex (first 256 bytes): $(head -c 256 "$a" | od -An -v -tx1 | tr -d ' \n')"
			echo "$name: replay: $bin $a"
		done
		echo "$name: full log: $dir/log"
	else
		npassed=$((npassed + 1))
		echo "$name: clean"
	fi
done

[ "$keep" = 1 ] && echo "fuzz.sh: kept $WORK"
# The last line, in the form the test runners print, counts targets.
echo "fuzz: $npassed passed, $nfailed failed"
exit "$failed"
