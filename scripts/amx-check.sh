#!/usr/bin/env bash
# The checks only a CPU with AMX (Intel Sapphire Rapids or later, Linux 5.16 or later) can run,
# as one script, from the repository root after `make build`:
#
#   scripts/amx-check.sh [MODEL.gguf]
#
#   1. which path strata chose (`strata inspect`: "amx (...)", or why AMX is unused)
#   2. the kernel tests on the AMX path (the tile instructions against the double-precision
#      reference, the scalar path and token-by-token bits)
#   3. matmul_bench prefill32 on the AMX path against STRATA_CPU=avx512, alternating, three
#      rounds (GFLOP/s)
#   4. with MODEL.gguf: `strata bench` prefill of 128 tokens, AMX against avx512, alternating
# The exit status is non-zero if the AMX path is not chosen or a test fails.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=build/release
model="${1:-}"
status=0

echo "== 1. path"
line=$("$bin/strata" inspect data/models/stories260K.gguf 2>&1 | grep "cpu kernels")
echo "$line"
case "$line" in
  *" amx ("*) ;;
  *) echo "amx-check: the AMX path was not chosen" >&2; status=1 ;;
esac

echo "== 2. kernel tests on the AMX path"
"$bin/tests/engine_tests" --gtest_brief=1 \
  --gtest_filter='AllTypes/Kernels.*_amx:TileKernels.*:Matmul.*' || status=1

echo "== 3. matmul_bench prefill32, amx vs avx512"
filter='prefill32/(Q4_0|Q4_1|Q5_0|Q8_0|IQ4_NL|Q2_K|Q4_K|Q5_K)/'
for round in 1 2 3; do
  for path in amx avx512; do
    STRATA_CPU=$path "$bin/bench/matmul_bench" --benchmark_filter="$filter" \
      --benchmark_min_time=0.3 2>/dev/null |
      awk -v p=$path -v r=$round '/^prefill32/ {for (i = 1; i <= NF; i++) if ($i ~ /GFLOP/) print r, p, $1, $i}'
  done
done

if [[ -n "$model" ]]; then
  echo "== 4. strata bench -p 128 -n 16 on $model, amx vs avx512"
  for round in 1 2 3; do
    for path in amx avx512; do
      echo "round $round $path"
      STRATA_CPU=$path "$bin/strata" bench -m "$model" -p 128 -n 16 -r 1 2>&1 | grep -E "prefill|decode" | head -4
    done
  done
fi
exit $status
