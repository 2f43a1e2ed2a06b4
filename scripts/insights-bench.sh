#!/usr/bin/env bash
# insights-bench.sh: time GetInsights and SimulatePolicy over a vendor with
# many payments (default a million), loaded with SQL generate_series, and the
# rules library's replay on its own. Too slow for `make test` (the load takes
# minutes); run it by hand after `make BUILD=build all tests`:
#
#   scripts/insights-bench.sh [PAYMENTS]     (FP_BUILD: the build dir, default build)
#
# It runs tests/integration/test_insights.c (its test_scale prints the call
# times) through scripts/run-tests.sh on a throwaway cluster, and
# tests/unit/test_replay (which prints the replay rate on one core).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
build=${FP_BUILD:-build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
for f in fairpayd fairpayctl tests/itest_insights tests/test_replay; do
	[ -x "$build/$f" ] || {
		echo "insights-bench.sh: $build/$f is missing (make BUILD=... all tests)" >&2
		exit 2
	}
done
sel=$(mktemp -d /tmp/fairpay-insights-bench.XXXXXX)
trap 'rm -rf "$sel"' EXIT
mkdir -p "$sel/tests"
ln -s "$build/fairpayd" "$build/fairpayctl" "$sel/"
ln -s "$build/tests/itest_insights" "$sel/tests/"
"$build/tests/test_replay" | grep '^replay:'
FP_INSIGHTS_ROWS=$rows FP_BUILD=$sel scripts/run-tests.sh 2>&1 | grep -E '^insights:|passed|FAILED|ERROR|LINE'
