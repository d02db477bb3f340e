#!/usr/bin/env bash
# The load test (tests/server/node/load_test.mjs: 16 streaming clients x 20 chat requests,
# 32 tokens each, valid requests only) against llama-server and strata serve, interleaved,
# same model, same threads, same number of parallel slots.
#   scripts/bench_serve_vs_llama.sh LLAMA_SERVER STRATA MODEL "4 16" ROUNDS
# llama-server is built outside the repository (e.g. /tmp/llama.cpp/build/bin/llama-server).
set -euo pipefail
llama=$1 strata=$2 model=$3 counts=$4 rounds=${5:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/build/release/node-tests
run=$root/tests/server/node/run.sh
"$run" install "$work" >/dev/null
cp "$root/tests/server/node/load_test.mjs" "$work/"
port=18181
for r in $(seq 1 "$rounds"); do
  for np in $counts; do
    "$llama" -m "$model" --port $port -np "$np" -t 2 -c $((2048 * np)) --threads-http 64 >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -sf localhost:$port/health >/dev/null && break; sleep 0.1; done
    echo "round $r llama-server parallel $np $(LOAD_BAD=0 STRATA_URL=http://127.0.0.1:$port node "$work/load_test.mjs" | tail -1)"
    kill $pid; wait $pid 2>/dev/null || true
    echo "round $r strata       parallel $np $(LOAD_BAD=0 "$run" "$strata" "$work" load_test.mjs -m "$model" --parallel "$np" -t 2 | tail -1)"
  done
done
