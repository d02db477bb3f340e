#!/usr/bin/env bash
# Builds the libFuzzer targets (cmake --preset fuzz: clang, ASan + UBSan) and runs each for
# SECONDS (default 60), one after the other. New corpus inputs go to build/fuzz/work/<target>
# (fuzz/corpus/<target> holds the committed seeds and is only read); crashes, leaks, timeouts
# and OOMs go to build/fuzz/findings/<target>/. Exits non-zero if any fuzzer found something.
#
#   scripts/fuzz.sh          # 60 s each
#   scripts/fuzz.sh 600      # 10 min each
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/.."
cmake --preset fuzz >/dev/null
cmake --build build/fuzz --target fuzzers -j "$(nproc)"

status=0
for target in gguf safetensors tokenizer_json jinja openai_request model; do
  work=build/fuzz/work/$target
  findings=build/fuzz/findings/$target
  mkdir -p "$work" "$findings"
  echo "fuzz: $target for ${seconds} s" >&2
  if ! "build/fuzz/fuzz/${target}_fuzz" -max_total_time="$seconds" -max_len=65536 \
      -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -dict="fuzz/$target.dict" \
      -artifact_prefix="$findings/" "$work" "fuzz/corpus/$target"; then
    echo "fuzz: $target FOUND A PROBLEM: see $findings/" >&2
    status=1
  fi
done
exit $status
