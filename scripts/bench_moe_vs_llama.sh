#!/bin/bash
# A model larger than RAM, side by side under one memory limit: strata streaming from disk
# (--ram-budget LIMIT, the expert cache swept) and llama.cpp reading the same GGUF through
# mmap, each run inside a memory cgroup of LIMIT (v2, else v1's memory controller), so the
# page cache llama.cpp's mmap relies on counts against the limit as strata's RAM does.
# Interleaved by round. Prints one CSV line per run:
#   engine,config,round,prefill_tok_s,decode_tok_s,bytes_per_token,expert_hit_rate,
#   expert_prefetch_hit_rate,peak_rss_gb,cgroup_peak_gb (the cgroup's peak: RSS and page cache)
# (strata's bytes per token and hit rate from its stats; llama.cpp reports neither).
#
#   scripts/bench_moe_vs_llama.sh LLAMA_BIN_DIR STRATA_BIN LIMIT ROUNDS THREADS FILE CACHES
#
# LIMIT: bytes with a K/M/G suffix (e.g. 4G); CACHES: strata --expert-cache values, comma
# separated (e.g. 1G,2G,auto); STRATA_ARGS in the environment: more strata bench options (e.g.
# --expert-prefetch). Needs root (cgroups, drop_caches). A prompt of about 16
# tokens, then 32 generated, sampled at temperature 1 with a fixed seed by both (a random
# model's greedy text repeats one token, and so its experts); decode tok/s is llama.cpp's
# "eval" rate and strata's decode_tokens_per_second.
set -euo pipefail
llama=$1 strata=$2 limit=$3 rounds=$4 threads=$5 file=$6 caches=$7
bytes=$(numfmt --from=iec "$limit")
name=strata-bench-$$
log=$(mktemp)
prompt="The capital of France is Paris. The weather was mild, and the market in the old town"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  cg=/sys/fs/cgroup/$name
  mkdir "$cg"
  echo "$bytes" >"$cg/memory.max"
  echo 0 >"$cg/memory.swap.max" 2>/dev/null || true
else
  cg=/sys/fs/cgroup/memory/$name
  mkdir "$cg"
  echo "$bytes" >"$cg/memory.limit_in_bytes"
fi
trap 'rm -f "$log"; sleep 1; rmdir "$cg" 2>/dev/null || true' EXIT
# The cgroup's peak memory (RSS and page cache) since reset_peak, in GB.
peak_file=$cg/memory.max_usage_in_bytes
[ -f "$cg/memory.peak" ] && peak_file=$cg/memory.peak
reset_peak() { echo 0 >"$peak_file" 2>/dev/null || true; }
peak_gb() { awk '{printf "%.2f", $1 / 1e9}' "$peak_file"; }
# Runs "$@" inside the cgroup, from a cold page cache.
in_cgroup() {
  sync
  echo 3 >/proc/sys/vm/drop_caches || true
  reset_peak
  sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}
echo "engine,config,round,prefill_tok_s,decode_tok_s,bytes_per_token,expert_hit_rate,expert_prefetch_hit_rate,peak_rss_gb,cgroup_peak_gb"
for r in $(seq 1 "$rounds"); do
  # llama-completion, not llama-bench: its --no-repack keeps the weights in the mmap (with
  # repacking, the default, llama.cpp copies Q4_0/Q4_K weights into anonymous memory at load,
  # and a model larger than the limit is killed). Sampled at temperature 1 as strata's.
  LD_LIBRARY_PATH=$llama in_cgroup "$llama/llama-completion" -m "$file" -p "$prompt" -n 32 \
    -t "$threads" -nr --temp 1 --top-k 0 --top-p 1 --min-p 0 --seed 1 --ignore-eos -no-cnv \
    -c 256 >/dev/null 2>"$log" || true
  tps=$(python3 - "$log" <<'PY'
import re, sys
t = open(sys.argv[1], errors="replace").read()
def tps(label):
    m = re.search(label + r" time =\s*[\d.]+ ms /\s*\d+ (?:tokens|runs)\s*\(.*?([\d.]+) tokens per second", t)
    return m.group(1) if m else "failed"
print(tps("prompt eval") + "," + tps(r"(?<!prompt )eval"))
PY
)
  echo "llama.cpp,mmap,$r,$tps,,,,,$(peak_gb)"
  IFS=, read -ra cache_list <<<"$caches"
  for c in "${cache_list[@]}"; do
    s=$(in_cgroup "$strata" bench -m "$file" -p 16 -n 32 -t "$threads" -r 1 --temp 1 \
      --ram-budget "$limit" --expert-cache "$c" ${STRATA_ARGS:-} -o json 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)["results"][0]
print(",".join(str(r[k]) for k in ("prefill_tokens_per_second", "decode_tokens_per_second",
               "bytes_streamed_per_token", "expert_hit_rate", "expert_prefetch_hit_rate",
               "peak_rss_gb")))' ||
      echo "failed,failed,,,,")
    echo "strata,expert-cache=$c,$r,$s,$(peak_gb)"
  done
done
