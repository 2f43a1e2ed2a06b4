#!/usr/bin/env bash
# bench.sh: load test of a fresh server and database (`make bench`).
# The load generator is not written yet; this keeps the target working.
set -euo pipefail
echo "bench: not implemented yet"
