// The CPU matmul per weight type and kernel path: decode (1 token, weight bytes streamed once:
// reported as weight GB/s against DRAM), decode_l2 (1 token on one thread over 256 rows that
// stay in L2: the kernel's own speed, which decode needs above half the DRAM figure per core
// to be bound by DRAM) and prefill (32 tokens: reported as GFLOP/s).
//
//   build/release/bench/matmul_bench                         # every type, the active path
//   STRATA_CPU=avx2 build/release/bench/matmul_bench --benchmark_filter=Q4_K
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/thread_pool.h"
#include "core/dtype.h"
#include "core/quant/parallel.h"

namespace strata {
namespace {

// 64K rows of 2048 (a 1-token pass streams it once from DRAM, as a decode step does).
constexpr int64_t kRows = 65536, kCols = 2048;  // 64 Mi weights: beyond any L3

struct Fixture {
  std::vector<char> w;
  WeightView view;
  explicit Fixture(DType t, int64_t rows = kRows) {
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> f(rows * kCols);
    for (float& v : f) v = normal(rng);
    const int64_t rb = static_cast<int64_t>(row_bytes(t, kCols));
    w.resize(rb * rows);
    quant::from_float_parallel(t, f.data(), w.data(), rows * kCols);
    view = {w.data(), t, rows, kCols, rb};
  }
};

ThreadPool& pool() {
  static ThreadPool p(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return p;
}

// The weights of type t with `rows` rows, made once per process.
const Fixture& fixture(DType t, int64_t rows) {
  static std::map<std::pair<DType, int64_t>, std::unique_ptr<Fixture>> cache;
  auto& fx = cache[{t, rows}];
  if (!fx) fx = std::make_unique<Fixture>(t, rows);
  return *fx;
}

// n normal activations, the same every run.
std::vector<float> activations(int64_t n) {
  std::vector<float> x(n);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);
  return x;
}

// One token on one thread over weights that stay in L2 (256 rows: 0.1-1 MiB), the activations
// quantized once: the kernel alone.
void bench_l2(benchmark::State& state, DType t) {
  const Fixture& fx = fixture(t, 256);
  static ThreadPool one(1);
  const std::vector<float> x = activations(kCols);
  std::vector<float> y(256);
  MatmulInput in(x.data(), 1, kCols);  // the activations quantized once, as a layer's q, k, v share
  for (auto _ : state) {
    matmul(one, fx.view, in, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["weight_GB/s"] = benchmark::Counter(
      static_cast<double>(fx.w.size()) * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(cpu_path_name(active_cpu_path())));
}

void bench(benchmark::State& state, DType t, int64_t n_tok) {
  const Fixture& fx = fixture(t, kRows);
  const std::vector<float> x = activations(n_tok * kCols);
  std::vector<float> y(n_tok * kRows);
  for (auto _ : state) {
    matmul(pool(), fx.view, x.data(), n_tok, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  const double bytes = static_cast<double>(fx.w.size());
  state.counters["weight_GB/s"] =
      benchmark::Counter(bytes * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * kRows * kCols * n_tok * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(cpu_path_name(active_cpu_path())));
}

const DType kTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,   DType::kQ4_0,
                        DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kIQ4_NL, DType::kQ2_K,
                        DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K,   DType::kIQ4_XS};

[[maybe_unused]] const bool kRegistered = [] {
  for (DType t : kTypes) {
    const std::string name(dtype_name(t));
    benchmark::RegisterBenchmark(("decode/" + name).c_str(), bench, t, 1)->UseRealTime();
    benchmark::RegisterBenchmark(("decode_l2/" + name).c_str(), bench_l2, t)->UseRealTime();
    benchmark::RegisterBenchmark(("prefill32/" + name).c_str(), bench, t, 32)->UseRealTime();
  }
  return true;
}();

}  // namespace
}  // namespace strata
