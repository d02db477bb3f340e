#!/bin/bash
# Side-by-side CPU benchmark of strata and llama.cpp on the same GGUF files, interleaved:
# for each file and round, llama-bench then strata bench (one repetition each), so slow
# drifts of the machine (memory bandwidth on a shared VM) hit both alike. Prints one CSV line
# per run: engine,file,round,prefill_tok_s,decode_tok_s.
#
#   scripts/bench_vs_llama.sh LLAMA_BIN_DIR STRATA_BIN ROUNDS THREADS FILE...
#
# LLAMA_BIN_DIR is llama.cpp's build/bin, built from source outside the repository. Prefill is
# -p 128 (llama-bench's pp128, strata's prefill_tokens_per_second), decode -n 64 (tg64,
# decode_tokens_per_second).
set -euo pipefail
llama=$1 strata=$2 rounds=$3 threads=$4
shift 4
echo "engine,file,round,prefill_tok_s,decode_tok_s"
for f in "$@"; do
  for r in $(seq 1 "$rounds"); do
    out=$(LD_LIBRARY_PATH=$llama "$llama/llama-bench" -m "$f" -p 128 -n 64 -t "$threads" -r 1 -o csv 2>/dev/null)
    # llama-bench: one row per test (pp128, tg64); avg_ts is the 2nd-to-last-but-one column.
    pp=$(echo "$out" | python3 -c '
import csv, sys
rows = list(csv.DictReader(sys.stdin))
pp = [r for r in rows if r["n_prompt"] == "128" and r["n_gen"] == "0"][0]["avg_ts"]
tg = [r for r in rows if r["n_prompt"] == "0" and r["n_gen"] == "64"][0]["avg_ts"]
print(pp + "," + tg)')
    echo "llama.cpp,$(basename "$f"),$r,$pp"
    s=$("$strata" bench -m "$f" -p 128 -n 64 -t "$threads" -r 1 -o csv 2>/dev/null | python3 -c '
import csv, sys
r = list(csv.DictReader(sys.stdin))[0]
print(r["prefill_tokens_per_second"] + "," + r["decode_tokens_per_second"])')
    echo "strata,$(basename "$f"),$r,$s"
  done
done
