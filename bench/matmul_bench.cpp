// The CPU matmul per weight type and kernel path: decode (1 token, weight bytes streamed once:
// reported as weight GB/s against DRAM), decode_l2 (1 token on one thread over 256 rows that
// stay in L2: the kernel's own speed, which decode needs above half the DRAM figure per core
// to be bound by DRAM), prefill32 (32 tokens) and prefill_layer (128 tokens through one 1B
// layer's matmuls), both reported as GFLOP/s.
//
//   build/release/bench/matmul_bench                         # every type, the active path
//   STRATA_CPU=avx2 build/release/bench/matmul_bench --benchmark_filter=Q4_K
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
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
#include "backend/device.h"
#include "core/dtype.h"
#include "core/quant/parallel.h"

namespace strata {
namespace {

// 64K rows of 2048 (a 1-token pass streams it once from DRAM, as a decode step does).
constexpr int64_t kRows = 65536, kCols = 2048;  // 64 Mi weights: beyond any L3

// Weights from the CPU device's allocator, the one the model's resident weights come from
// (2 MiB aligned, in transparent huge pages: with 4 KiB pages the hardware prefetchers stop at
// every page boundary).
// Never destroyed: the fixtures' caches, static too, free into it at exit.
Device& cpu_device() {
  static Device* const d = make_cpu_device().release();
  return *d;
}

struct DeviceBuffer {
  void* p;
  size_t n;
  explicit DeviceBuffer(size_t bytes) : p(nullptr), n(bytes) {
    auto r = cpu_device().alloc(bytes);
    if (!r) {
      std::fprintf(stderr, "matmul_bench: %s\n", r.status().message().c_str());
      std::exit(1);
    }
    p = *r;
  }
  ~DeviceBuffer() { cpu_device().free(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  char* data() const { return static_cast<char*>(p); }
  size_t size() const { return n; }
};

struct Fixture {
  DeviceBuffer w;
  WeightView view;
  explicit Fixture(DType t, int64_t rows = kRows, int64_t cols = kCols)
      : w(static_cast<size_t>(row_bytes(t, cols)) * rows) {
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> f(rows * cols);
    for (float& v : f) v = normal(rng);
    const int64_t rb = static_cast<int64_t>(row_bytes(t, cols));
    quant::from_float_parallel(t, f.data(), w.data(), rows * cols);
    view = {w.data(), t, rows, cols, rb};
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

// Decode through the matmuls of eight Llama-3.2-1B-shaped layers (hidden 2048, 512 for k and
// v, ffn 8192), each its own weights (8 x 61 M: beyond any L3), in the order and grouping a
// decode step runs them: q, k and v as one parallel loop, o, gate and up as one, down. The
// kernel's DRAM rate with the model's hand-outs and waits between matrices (no attention).
struct LayerFixture {
  std::vector<std::unique_ptr<Fixture>> q, k, v, o, gate, up, down;
};
// Those of type t, made on first use; one type kept at a time (F32's are 2 GB).
const LayerFixture& layers(DType t) {
  static DType made = DType::kF32;
  static std::unique_ptr<LayerFixture> lf;
  if (!lf || made != t) {
    lf.reset();
    lf = std::make_unique<LayerFixture>();
    made = t;
    for (int l = 0; l < 8; ++l) {
      lf->q.push_back(std::make_unique<Fixture>(t, 2048));
      lf->k.push_back(std::make_unique<Fixture>(t, 512));
      lf->v.push_back(std::make_unique<Fixture>(t, 512));
      lf->o.push_back(std::make_unique<Fixture>(t, 2048));
      lf->gate.push_back(std::make_unique<Fixture>(t, 8192));
      lf->up.push_back(std::make_unique<Fixture>(t, 8192));
      lf->down.push_back(std::make_unique<Fixture>(t, 2048, 8192));
    }
  }
  return *lf;
}

// Layer l's matmuls of n_tok tokens, grouped as the model runs them: x holds at least n_tok x
// 8192 floats (rows of 2048 for q, k, v, o, gate, up; of 8192 for down), out one buffer per
// matrix, n_tok x its rows.
struct LayerOut {
  std::vector<float> q, k, v, o, g, u, d;
  explicit LayerOut(int64_t n_tok)
      : q(n_tok * 2048),
        k(n_tok * 512),
        v(n_tok * 512),
        o(n_tok * 2048),
        g(n_tok * 8192),
        u(n_tok * 8192),
        d(n_tok * 2048) {}
};
void run_layer(const LayerFixture& lf, int l, const float* x, int64_t n_tok, LayerOut& out) {
  MatmulInput in(x, n_tok, 2048);
  const MatmulPart qkv[] = {{&lf.q[l]->view, out.q.data()},
                            {&lf.k[l]->view, out.k.data()},
                            {&lf.v[l]->view, out.v.data()}};
  matmul(pool(), qkv, in);
  MatmulInput in_o(x, n_tok, 2048);
  matmul(pool(), lf.o[l]->view, in_o, out.o.data());
  MatmulInput in_f(x, n_tok, 2048);
  const MatmulPart gu[] = {{&lf.gate[l]->view, out.g.data()}, {&lf.up[l]->view, out.u.data()}};
  matmul(pool(), gu, in_f);
  MatmulInput in_d(x, n_tok, 8192);
  matmul(pool(), lf.down[l]->view, in_d, out.d.data());
}

void bench_layers(benchmark::State& state, DType t) {
  const LayerFixture& lf = layers(t);
  const std::vector<float> x = activations(8192);
  LayerOut out(1);
  double bytes = 0;
  for (int l = 0; l < 8; ++l) {
    for (const auto* f : {&lf.q, &lf.k, &lf.v, &lf.o, &lf.gate, &lf.up, &lf.down})
      bytes += static_cast<double>((*f)[l]->w.size());
  }
  for (auto _ : state) {
    for (int l = 0; l < 8; ++l) run_layer(lf, l, x.data(), 1, out);
    benchmark::DoNotOptimize(out.d.data());
  }
  state.counters["weight_GB/s"] =
      benchmark::Counter(bytes * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(cpu_path_name(active_cpu_path())));
}

// A 128-token prompt through one Llama-3.2-1B-shaped layer's matmuls (the first of
// layers(t)'s eight), grouped as prefill runs them: the batch GEMM's GFLOP/s.
void bench_prefill_layer(benchmark::State& state, DType t) {
  const LayerFixture& lf = layers(t);
  constexpr int64_t kTok = 128;
  const std::vector<float> x = activations(kTok * 8192);
  LayerOut out(kTok);
  double flops = 0;
  for (const auto* f : {&lf.q, &lf.k, &lf.v, &lf.o, &lf.gate, &lf.up, &lf.down})
    flops += 2.0 * static_cast<double>((*f)[0]->view.rows * (*f)[0]->view.cols) * kTok;
  for (auto _ : state) {
    run_layer(lf, 0, x.data(), kTok, out);
    benchmark::DoNotOptimize(out.d.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(cpu_path_name(active_cpu_path())));
}

const DType kTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,   DType::kQ4_0,
                        DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kIQ4_NL, DType::kQ2_K,
                        DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K,   DType::kIQ4_XS};

[[maybe_unused]] const bool kRegistered = [] {
  for (DType t : kTypes) {
    const std::string name(dtype_name(t));
    benchmark::RegisterBenchmark(("decode/" + name).c_str(), bench, t, 1)->UseRealTime();
    benchmark::RegisterBenchmark(("decode_layers/" + name).c_str(), bench_layers, t)->UseRealTime();
    benchmark::RegisterBenchmark(("decode_l2/" + name).c_str(), bench_l2, t)->UseRealTime();
    benchmark::RegisterBenchmark(("prefill32/" + name).c_str(), bench, t, 32)->UseRealTime();
    benchmark::RegisterBenchmark(("prefill_layer/" + name).c_str(), bench_prefill_layer, t)
        ->UseRealTime();
  }
  return true;
}();

}  // namespace
}  // namespace strata
