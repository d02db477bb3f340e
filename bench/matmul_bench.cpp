// The CPU matmul at Llama-3.2-1B's FFN size (8192 x 2048, F16 and BF16): a 32-token prompt
// batch through the batched kernel (each weight row converted once per 4 tokens) against the
// same 32 tokens one at a time (the decode path, and the baseline), on every hardware thread.
//   build/<dir>/bench/matmul_bench --benchmark_repetitions=3
// Reported: weight GB/s (weight bytes read per call / time) and tokens/s.
#include <benchmark/benchmark.h>

#include <random>
#include <thread>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/thread_pool.h"
#include "core/dtype.h"

namespace strata {
namespace {

constexpr int64_t kRows = 8192, kCols = 2048, kTokens = 32;

struct Fixture {
  std::vector<uint16_t> w;
  std::vector<float> x, y;
  WeightView view;
  explicit Fixture(DType dtype) : w(kRows * kCols), x(kTokens * kCols), y(kTokens * kRows) {
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (auto& v : w) v = dtype == DType::kF16 ? f32_to_f16(normal(rng)) : f32_to_bf16(normal(rng));
    for (auto& v : x) v = normal(rng) * 50;
    view = {w.data(), dtype, kRows, kCols, kCols * 2};
  }
};

ThreadPool& pool() {
  static ThreadPool p(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return p;
}

void report(benchmark::State& state, int64_t weight_passes) {
  state.counters["weight_GB/s"] = benchmark::Counter(
      static_cast<double>(weight_passes) * kRows * kCols * 2 * state.iterations() / 1e9,
      benchmark::Counter::kIsRate);
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(kTokens) * state.iterations(), benchmark::Counter::kIsRate);
}

void BM_Prefill32Batched(benchmark::State& state) {
  Fixture f(static_cast<DType>(state.range(0)));
  for (auto _ : state) {
    matmul(pool(), f.view, f.x.data(), kTokens, f.y.data());
    benchmark::DoNotOptimize(f.y.data());
  }
  report(state, 1);
}

void BM_Prefill32TokenByToken(benchmark::State& state) {
  Fixture f(static_cast<DType>(state.range(0)));
  for (auto _ : state) {
    for (int64_t t = 0; t < kTokens; ++t) {
      matmul(pool(), f.view, f.x.data() + t * kCols, 1, f.y.data() + t * kRows);
    }
    benchmark::DoNotOptimize(f.y.data());
  }
  report(state, kTokens);
}

BENCHMARK(BM_Prefill32Batched)
    ->Arg(static_cast<int>(DType::kF16))
    ->Arg(static_cast<int>(DType::kBF16))
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Prefill32TokenByToken)
    ->Arg(static_cast<int>(DType::kF16))
    ->Arg(static_cast<int>(DType::kBF16))
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace strata
