#!/usr/bin/env bash
# The checks only a machine with an NVIDIA GPU can run, as one prepared script.
#
#   scripts/gpu-check.sh prepare     on the development machine: builds strata with
#                                    -DSTRATA_CUDA=ON (portable AVX2, no -march=native) and
#                                    stages the binaries, the shared libraries they need and
#                                    a link to data/ (share/strata beside bin/, where the
#                                    binary looks) into .gpu/ (git-ignored)
#   scripts/gpu-check.sh run OUTDIR  on the GPU machine (from the repository root, with .gpu/):
#                                    1. the device contract tests on the real GPU (CUDA device)
#                                    2. strata bench --probe: pinned host-to-device bandwidth
#                                    3. scripts/hf_crosscheck.py: logits against transformers
# Each step's output goes to OUTDIR; the exit status is non-zero if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

prepare() {
  set -e
  cmake -S . -B build/cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRATA_CUDA=ON \
    -DSTRATA_NATIVE=OFF -DCMAKE_CXX_FLAGS="-mavx2 -mfma -mf16c" -DSTRATA_BENCHMARKS=OFF
  ninja -C build/cuda strata engine_tests
  rm -rf .gpu
  mkdir -p .gpu/bin .gpu/lib .gpu/share
  ln -s ../../data .gpu/share/strata
  cp build/cuda/strata build/cuda/tests/engine_tests .gpu/bin/
  # The Debian libraries a stock CUDA image may lack.
  for lib in $(ldd build/cuda/strata | awk '/=>/ {print $3}' | grep -E 'libfmt|liburing|libxxhash|libpcre2|libzstd'); do
    cp -L "$lib" .gpu/lib/
  done
  local exclude
  exclude="$(git rev-parse --git-path info/exclude)"
  grep -qx '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >>"$exclude"
  du -sh .gpu
}

run() {
  local out="${1:?usage: gpu-check.sh run OUTDIR}"
  mkdir -p "$out"
  export LD_LIBRARY_PATH="$PWD/.gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local status=0
  nvidia-smi --query-gpu=name,memory.total,driver_version,pcie.link.gen.current,pcie.link.width.current \
    --format=csv | tee "$out/gpu.txt"
  echo "== 1. device contract tests on the GPU"
  .gpu/bin/engine_tests --gtest_filter='DeviceKinds/*:Gpu/*:DeviceCuda.*:CudaStore.*:DeviceSim.*:DeviceCpu.*:Widths/*' >"$out/device_tests.txt" 2>&1 || status=1
  grep -E '^\[  (PASSED|FAILED|SKIPPED) |tests ran' "$out/device_tests.txt" | tail -20
  echo "== 2. probe"
  STRATA_CACHE_DIR="$out" .gpu/bin/strata bench --probe --probe-dir /tmp --probe-bytes 1G \
    2>"$out/probe.err" | tee "$out/probe.txt" || status=1
  echo "== 3. transformers cross-check"
  PYTHONUNBUFFERED=1 python3 scripts/hf_crosscheck.py --strata .gpu/bin/strata \
    --work /tmp/strata-hf --out "$out" 2>&1 | tee "$out/hf_crosscheck.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  echo "gpu-check: $([ $status -eq 0 ] && echo PASS || echo FAIL)"
  return $status
}

case "${1:-}" in
  prepare) prepare ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 prepare | run OUTDIR" >&2; exit 2 ;;
esac
