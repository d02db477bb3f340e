#!/usr/bin/env bash
# Aggregate throughput of `strata serve` as concurrent sessions grow: for each N, a server
# with --parallel N and N streaming clients (tests/server/node/load_test.mjs), on a model
# whose layers stream (the weights stream once per step, for all sessions together).
#   scripts/bench_serve.sh STRATA MODEL "1 2 4 8" [serve placement options...]
# Needs the load test's npm packages: tests/server/node/run.sh install build/release/node-tests
set -euo pipefail
strata=$1 model=$2 counts=$3
shift 3
work=$(cd "$(dirname "$0")/.." && pwd)/build/release/node-tests
run=$(cd "$(dirname "$0")/.." && pwd)/tests/server/node/run.sh
"$run" install "$work" >/dev/null
printf '%-9s %-10s %-12s %-12s %-10s\n' sessions tok/s p50_ms p99_ms ttft_p50
for n in $counts; do
  out=$(LOAD_BAD=0 LOAD_CLIENTS=$n LOAD_REQUESTS=${REQUESTS:-5} LOAD_MAX_TOKENS=${MAX_TOKENS:-32} \
        "$run" "$strata" "$work" load_test.mjs -m "$model" --parallel "$n" "$@")
  echo "$out" | /usr/bin/python3 -c "
import json,sys; j=json.loads(sys.stdin.read().strip().splitlines()[-1])
print(f\"{j['clients']:<9} {j['tokens_per_s']:<10} {j['latency_ms']['p50']:<12} {j['latency_ms']['p99']:<12} {j['ttft_ms']['p50']:<10}\")"
done
